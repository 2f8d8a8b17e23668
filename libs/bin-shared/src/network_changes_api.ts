// Public types of network_changes.
import type { Logger } from 'pino';
import type { DnsControlMethod, RunCommand } from './dns_control_api';

/**
 * Resolves `true` the first time (right after start) and then once per (debounced) change since the previous
 * call; resolves `false` once closed. Typical loop: `while (await n.notified()) reconnect();`.
 */
export interface ChangeNotifier {
  notified(): Promise<boolean>;
  close(): Promise<void>;
}

export interface NetworkNotifierOptions {
  /** Events about this interface (our TUN) are ignored. */
  readonly tunName: string;
  /** Quiet period that collapses a burst into one event. Default 150 ms. */
  readonly debounceMs?: number;
  readonly logger?: Logger;
  /** Listen inside this network namespace (path such as /run/netns/x); for tests. */
  readonly netnsPath?: string;
}

export interface DnsNotifierOptions {
  readonly method: DnsControlMethod;
  /** Default /etc/resolv.conf (etc-resolv-conf and disabled watch it). */
  readonly resolvConfPath?: string;
  /** systemd-resolved: our TUN's link, whose (our own) servers are not counted. */
  readonly tunName?: string;
  /** systemd-resolved is polled (`resolvectl dns`) this often. Default 5000 ms. */
  readonly pollMs?: number;
  readonly debounceMs?: number;
  readonly logger?: Logger;
  /** Runs resolvectl (tests inject a fake). */
  readonly runCommand?: RunCommand;
}
