// Public types of dns_control (the implementation is in dns_control.ts).
import type { Logger } from 'pino';

/** `--dns-control` / POSTERN_DNS_CONTROL values. */
export const DNS_CONTROL_METHODS = ['systemd-resolved', 'etc-resolv-conf', 'disabled'] as const;
export type DnsControlMethod = (typeof DNS_CONTROL_METHODS)[number];
export const DEFAULT_DNS_CONTROL_METHOD: DnsControlMethod = 'systemd-resolved';

/** Runs a command (resolvectl) and returns stdout; injectable for tests. */
export type RunCommand = (cmd: string, args: readonly string[]) => Promise<string>;

export interface DnsControlOptions {
  readonly method: DnsControlMethod;
  /** The TUN interface name (systemd-resolved sets per-link DNS on it). */
  readonly tunName: string;
  /** Default /etc/resolv.conf. */
  readonly resolvConfPath?: string;
  readonly logger?: Logger;
  readonly runCommand?: RunCommand;
}

export interface DnsController {
  readonly method: DnsControlMethod;
  /**
   * Points the system at `servers` (our DNS sentinels). `searchDomain` is added as a search domain.
   * systemd-resolved: `resolvectl dns <tun> ...`, `resolvectl domain <tun> ~. [search]`, `resolvectl llmnr <tun> false`.
   * etc-resolv-conf: backs the file up once and rewrites it in place with a marker header.
   */
  setDns(servers: readonly string[], searchDomain?: string): Promise<void>;
  /** Drops cached answers (`resolvectl flush-caches`); a no-op for the other methods. */
  flush(): Promise<void>;
  /** Restores the system's DNS (etc-resolv-conf: the backup goes back; systemd-resolved: `resolvectl revert`). */
  deactivate(): Promise<void>;
}
