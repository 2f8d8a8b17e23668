// What postern-client, the GUI's tunnel service and postern-gateway do alike around the Tunnel loop (IO shell):
// the state's events logged (and the client's TUN configurations applied), our host candidate handed to the
// state, resets, the outcome (portal or loop ended), and the stop sequence (loop, portal, TUN routes, DNS).
// The apps keep only what differs: how the parts open, what else an event does (GUI sink, malloc trimming),
// signals and network watching.
import type { Logger } from 'pino';
import { parseIpNetwork, type DnsController, type IpNetwork } from '@postern/bin-shared';
import { errWithSources } from '@postern/logging';
import type { UdpSocket } from '@postern/socket-factory';
import type { Tun } from '@postern/tun';
import type { NetAddr } from '@postern/snownet';
import type { ClientEvent, GatewayEvent, TunConfig } from '../types';
import { Tunnel, type DrivenState, type PortalChannel } from './tunnel';

/** The addresses and routes a TUN device gets, and the DNS servers the system is pointed at (client). */
export type TunDeviceConfig = Pick<TunConfig, 'ipv4' | 'ipv6' | 'routes'> & Partial<Pick<TunConfig, 'upstreamDns' | 'searchDomain'>>;

/** What TunConfigurator needs of a TUN device (structurally @postern/bin-shared's TunDeviceManager). */
export interface TunDevice {
  setIps(ipv4: string, ipv6: string | undefined): Promise<{ readonly ipv6: boolean }>;
  setRoutes(ipv4: readonly IpNetwork[], ipv6: readonly IpNetwork[]): Promise<void>;
  close(): Promise<void>;
}

export interface TunConfiguratorOptions {
  readonly device: TunDevice;
  /** Client: DNS control, pointed at the config's upstreamDns (our sentinels) after the routes. */
  readonly dns?: DnsController | undefined;
  readonly logger: Logger;
  /** After each configuration's addresses and routes are in place (before DNS). */
  readonly onConfigured?: () => void;
}

/**
 * Applies TUN configurations one after another (addresses, routes, then DNS), never concurrently. A failure is
 * logged, not thrown: the tunnel stays up without it; a DNS failure does not undo the routes.
 */
export class TunConfigurator {
  private chain = Promise.resolve();
  private lastConfig: TunDeviceConfig | undefined;

  constructor(private readonly o: TunConfiguratorOptions) {}

  /** Applies the last configuration again (after a network change: e.g. the LAN bypass routes). */
  reapply(): void {
    if (this.lastConfig !== undefined) this.apply(this.lastConfig);
  }

  apply(config: TunDeviceConfig): void {
    this.lastConfig = config;
    const { device, dns, logger: log } = this.o;
    this.chain = this.chain
      .then(async () => {
        const r = await device.setIps(config.ipv4, config.ipv6);
        const routes = splitRoutes(config.routes);
        await device.setRoutes(routes.v4, r.ipv6 ? routes.v6 : []);
        log.info({ ipv4: config.ipv4, ...(r.ipv6 ? { ipv6: config.ipv6 } : {}), routes: config.routes.length }, 'TUN configured');
        this.o.onConfigured?.();
        // The DNS stub resolver (sentinels) is the DNS task's; until then the system uses the portal's upstreams.
        if (dns !== undefined && config.upstreamDns !== undefined && config.upstreamDns.length > 0) {
          await dns.setDns(config.upstreamDns, config.searchDomain).catch((err: unknown) => {
            log.warn(`setting DNS (${dns.method}) failed: ${errWithSources(err)}`);
          });
        }
      })
      .catch((err: unknown) => {
        log.error(`configuring the TUN failed: ${errWithSources(err)}`);
      });
  }

  /** Waits for the configurations in progress, restores the system's DNS and removes the routes. */
  async close(): Promise<void> {
    const { device, dns, logger: log } = this.o;
    await this.chain;
    await dns?.deactivate().catch((err: unknown) => {
      log.warn(`restoring DNS failed: ${errWithSources(err)}`);
    });
    await device.close().catch((err: unknown) => {
      log.debug(`removing routes: ${errWithSources(err)}`);
    });
  }
}

export function splitRoutes(routes: readonly string[]): { v4: IpNetwork[]; v6: IpNetwork[] } {
  const v4: IpNetwork[] = [];
  const v6: IpNetwork[] = [];
  for (const r of routes) {
    const n = parseIpNetwork(r);
    (n.address.includes(':') ? v6 : v4).push(n);
  }
  return { v4, v6 };
}

/** What a session needs of a ClientState / GatewayState beyond the loop's DrivenState. */
export interface SessionState<In, Out, Ev> extends DrivenState<In, Out, Ev> {
  setLocalAddresses(addrs: readonly NetAddr[], now: number): void;
  /** Client: fresh connections (same authorisations). */
  reset?(now: number): void;
}

/** What a session needs of the portal connection (structurally a PhoenixChannel). */
export interface SessionPortal<E extends Error> {
  readonly done: Promise<E | undefined>;
  reconnect(): void;
  close(): Promise<void>;
}

/** How a session ended by itself: the portal connection or the loop stopped (with the fatal error, if any). */
export type SessionEnd<E extends Error> = { readonly kind: 'portal'; readonly err: E | undefined } | { readonly kind: 'tunnel'; readonly err: Error | undefined };

export interface TunnelSessionOptions<In, Out extends { readonly event: string; readonly payload?: unknown }, Ev extends ClientEvent | GatewayEvent, E extends Error> {
  readonly state: SessionState<In, Out, Ev>;
  readonly tun: Tun;
  readonly socket: UdpSocket;
  /** The connection: reconnected on reset, closed on stop, its end ends the session. */
  readonly portal: SessionPortal<E>;
  /** The loop's view of the portal: the channel itself, or an EarlyPortal over it. */
  readonly channel: PortalChannel<In>;
  readonly logger: Logger;
  /** Our address towards the portal: with the socket's port, the host candidate. */
  readonly localAddress: string;
  /** Client: applies tunConfigChanged; gateway: its own (the portal's init). Closed on stop. */
  readonly tunConfig?: TunConfigurator;
  /** What else the app does with an event, after it is logged (and a TUN configuration applied). */
  readonly onEvent?: (event: Ev) => void;
}

/** The log line of each state event (the tests and the bench look for these messages). */
export function logTunnelEvent(log: Logger, ev: ClientEvent | GatewayEvent): void {
  switch (ev.type) {
    case 'tunConfigChanged':
      break;
    case 'resourcesChanged':
      log.debug({ resources: ev.resources.map((r) => `${r.name}:${r.status}`) }, 'resources');
      break;
    case 'gatewayConnected':
      log.info({ gatewayId: ev.gatewayId, path: ev.path, via: ev.via, relayId: ev.relayId, relayMigrations: ev.relayMigrations }, 'connected to gateway');
      break;
    case 'gatewayDisconnected':
      log.info({ gatewayId: ev.gatewayId, reason: ev.reason }, 'gateway disconnected');
      break;
    case 'authorizationFailed':
      log.warn({ resourceId: ev.resourceId, reason: ev.reason }, 'access to a resource was refused');
      break;
    case 'clientConnected':
      log.info({ clientId: ev.clientId, path: ev.path, via: ev.via, relayId: ev.relayId, relayMigrations: ev.relayMigrations }, 'client connected');
      break;
    case 'clientDisconnected':
      log.info({ clientId: ev.clientId, reason: ev.reason }, 'client disconnected');
      break;
    case 'accessExpired':
      log.info({ clientId: ev.clientId, resourceId: ev.resourceId }, 'access expired');
      break;
  }
}

/** The Tunnel loop of one app run, with what the apps share around it (see the top of this file). */
export class TunnelSession<In, Out extends { readonly event: string; readonly payload?: unknown }, Ev extends ClientEvent | GatewayEvent, E extends Error> {
  readonly tunnel: Tunnel<In, Out, Ev>;
  /** Resolves when the portal connection or the loop ends (not after stop()). */
  readonly ended: Promise<SessionEnd<E>>;
  private local: string;
  private stopping: Promise<void> | undefined;

  constructor(private readonly o: TunnelSessionOptions<In, Out, Ev, E>) {
    this.local = o.localAddress;
    this.tunnel = new Tunnel<In, Out, Ev>({
      state: o.state,
      tun: o.tun,
      socket: o.socket,
      portal: o.channel,
      logger: o.logger,
      onEvent: (ev) => {
        logTunnelEvent(o.logger, ev);
        if (ev.type === 'tunConfigChanged') o.tunConfig?.apply(ev.config);
        o.onEvent?.(ev);
      },
    });
    this.ended = Promise.race([
      o.portal.done.then((err): SessionEnd<E> => ({ kind: 'portal', err })),
      this.tunnel.done.then((err): SessionEnd<E> => ({ kind: 'tunnel', err })),
    ]);
  }

  /** Our address towards the portal (the host candidate's). */
  get localAddress(): string {
    return this.local;
  }

  /** Hands the state our host candidate, then starts the loop. */
  start(): void {
    this.setLocalAddress(this.local);
    this.tunnel.start();
  }

  /** A new address towards the portal: a new host candidate. */
  setLocalAddress(address: string): void {
    this.local = address;
    this.tunnel.withState((_, now) => {
      this.giveLocalAddress(now);
    });
  }

  /**
   * Fresh connections (the state's reset: same authorisations) and a new portal connection; with `address`, the
   * host candidate changes first, in the same turn.
   */
  reset(address?: string): void {
    if (address !== undefined) this.local = address;
    this.tunnel.withState((_, now) => {
      if (address !== undefined) this.giveLocalAddress(now);
      this.o.state.reset?.(now);
    });
    this.o.portal.reconnect();
  }

  private giveLocalAddress(now: number): void {
    this.o.state.setLocalAddresses([this.o.socket.addr(this.local, this.o.socket.local.port)], now);
  }

  /** Stops the loop (draining what the state queued), logs its stats, closes the portal, then the TUN's config. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.tunnel.stop();
      this.o.logger.info({ ...this.tunnel.stats }, 'tunnel stats');
      await this.o.portal.close();
      await this.o.tunConfig?.close();
    })();
    return this.stopping;
  }
}

/** The error line of a session that ended by itself with an error (or a part that failed), else undefined. */
export function sessionFailure(end: { readonly kind: 'portal' | 'tunnel'; readonly err: unknown }): string | undefined {
  if (end.err === undefined) return undefined;
  return `${end.kind === 'portal' ? 'portal connection failed' : 'tunnel failed'}: ${errWithSources(end.err)}`;
}
