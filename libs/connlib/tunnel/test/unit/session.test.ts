// TunnelSession and TunConfigurator (src/io/session.ts), what the three apps share around the Tunnel loop, with
// an idle TUN and socket, a scripted state and recording doubles of the portal, TUN device manager and DNS
// control. (The same code with the real devices and processes: the apps' e2e suites.)
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { DnsController } from '@postern/bin-shared';
import type { DatagramIn, SendQueue, SocketAddr, UdpSocket, UdpStats } from '@postern/socket-factory';
import type { Tun, TunCloseReport, TunStats } from '@postern/tun';
import {
  sessionFailure,
  TunConfigurator,
  TunnelSession,
  type ClientEvent,
  type GatewayEvent,
  type NetAddr,
  type SessionState,
  type TunDevice,
  type TunDeviceConfig,
  type Transmit,
} from '../../src/index';

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A pino logger whose lines (level, msg and fields) land in `lines`. */
function capture(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}
const messages = (lines: Record<string, unknown>[]): unknown[] => lines.map((l) => l['msg']);

/** Has nothing to read until it is closed (then readable() rejects: the loop's pumps end). */
class Idle {
  closed = false;
  private wake: (() => void) | undefined;
  protected async nothing<T>(): Promise<T[]> {
    if (!this.closed) await new Promise<void>((r) => (this.wake = r));
    return [];
  }
  readonly readable = (): Promise<unknown> => (this.closed ? Promise.reject(new Error('closed')) : new Promise<void>((r) => (this.wake = r)));
  protected shut(): void {
    this.closed = true;
    this.wake?.();
  }
}

const TUN_STATS: TunStats = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, readerStalls: 0, txQueued: 0, txErrors: 0 };
const UDP_STATS: UdpStats = { rxDatagrams: 0, rxBytes: 0, rxBatches: 0, txDatagrams: 0, txBytes: 0, txBatches: 0, txErrors: 0, rxStalls: 0 };

class IdleTun extends Idle implements Tun {
  readonly name = 'idle';
  readonly queues = 1;
  readonly recvMany = (): Promise<Uint8Array[]> => this.nothing();
  readonly tryRecvMany = (): Uint8Array[] => [];
  readonly send = (batch: readonly Uint8Array[]): number => batch.length;
  readonly sendReady = (): Promise<void> => Promise.resolve();
  readonly sendAll = (): Promise<void> => Promise.resolve();
  readonly stats = (): TunStats => TUN_STATS;
  readonly close = (): Promise<TunCloseReport> => {
    this.shut();
    return Promise.resolve({ flushed: 0, unflushed: 0, stuckWorkers: 0, durationMs: 0 });
  };
}

const noSends: SendQueue = { reserve: () => new Uint8Array(0), commit: () => undefined, push: () => undefined, flush: () => 0, pending: 0 };

/** `addr` builds the SocketAddr the state gets. */
class IdleSocket extends Idle implements UdpSocket {
  readonly backend = 'dgram' as const;
  readonly local: SocketAddr = { family: 4, address: '0.0.0.0', port: 52625, key: '0.0.0.0:52625' };
  readonly dualStack = false;
  readonly gso = false;
  readonly gro = false;
  readonly sendQueue = noSends;
  readonly recvMany = (): Promise<DatagramIn[]> => this.nothing();
  readonly tryRecvMany = (): DatagramIn[] => [];
  readonly addr = (address: string, port = 0): SocketAddr => ({ family: address.includes(':') ? 6 : 4, address, port, key: `${address}:${String(port)}` });
  readonly stats = (): UdpStats => UDP_STATS;
  readonly close = (): Promise<void> => {
    this.shut();
    return Promise.resolve();
  };
}

type Msg = { readonly event: string; readonly payload?: unknown };
type Ev = ClientEvent | GatewayEvent;

/** Emits the events it is given; records what the session hands it. */
class ScriptedState implements SessionState<Msg, Msg, Ev> {
  readonly events: Ev[] = [];
  readonly calls: string[] = [];
  handleTunPacket(): Transmit | undefined {
    return undefined;
  }
  handleNetworkDatagram(): Uint8Array | undefined {
    return undefined;
  }
  handlePortalMessage(): void {
    // no portal traffic here
  }
  handleTimeout(): void {
    // no deadline
  }
  pollTimeout(): number | undefined {
    return undefined;
  }
  pollTransmit(): Transmit | undefined {
    return undefined;
  }
  pollTunWrite(): Uint8Array | undefined {
    return undefined;
  }
  pollPortalMessage(): Msg | undefined {
    return undefined;
  }
  pollEvent(): Ev | undefined {
    return this.events.shift();
  }
  setLocalAddresses(addrs: readonly NetAddr[]): void {
    this.calls.push(`local ${addrs.map((a) => a.key).join(',')}`);
  }
  reset(): void {
    this.calls.push('reset');
  }
}

class RecordingPortal {
  readonly calls: string[] = [];
  private end: ((err: Error | undefined) => void) | undefined;
  readonly done = new Promise<Error | undefined>((r) => (this.end = r));
  onEvent(): () => void {
    return () => undefined;
  }
  send(): void {
    // the scripted state sends nothing
  }
  reconnect(): void {
    this.calls.push('reconnect');
  }
  close(): Promise<void> {
    this.calls.push('portal closed');
    this.end?.(undefined);
    return Promise.resolve();
  }
  fail(err: Error): void {
    this.end?.(err);
  }
}

/** A TUN device manager double: records every call in `order`; IPv6 and failures as told. */
function device(order: string[], opts: { ipv6?: boolean; failIps?: number } = {}): TunDevice {
  let failures = opts.failIps ?? 0;
  return {
    setIps: (ipv4, ipv6) => {
      order.push(`ips ${ipv4} ${ipv6 ?? '-'}`);
      if (failures > 0) {
        failures--;
        return Promise.reject(new Error('EPERM'));
      }
      return Promise.resolve({ ipv6: opts.ipv6 ?? true });
    },
    setRoutes: (v4, v6) => {
      order.push(`routes ${[...v4, ...v6].map((n) => `${n.address}/${String(n.prefix)}`).join(' ')}`);
      return Promise.resolve();
    },
    close: () => {
      order.push('routes removed');
      return Promise.resolve();
    },
  };
}

function dnsControl(order: string[], failSet = false): DnsController {
  return {
    method: 'etc-resolv-conf',
    setDns: (servers, search) => {
      order.push(`dns ${servers.join(',')} ${search ?? '-'}`);
      return failSet ? Promise.reject(new Error('read-only /etc')) : Promise.resolve();
    },
    flush: () => Promise.resolve(),
    deactivate: () => {
      order.push('dns restored');
      return Promise.resolve();
    },
  };
}

const CONFIG: TunDeviceConfig = {
  ipv4: '100.64.0.1',
  ipv6: 'fd00:2021:1111::1',
  routes: ['100.96.0.0/11', 'fd00:2021:1111:8000::/107', '10.0.0.0/8'],
  upstreamDns: ['100.100.111.1'],
  searchDomain: 'corp.example',
};

describe('TunConfigurator', () => {
  it('applies addresses, the routes of both families, then DNS, one configuration after the other', async () => {
    const order: string[] = [];
    const { log, lines } = capture();
    let configured = 0;
    const c = new TunConfigurator({ device: device(order), dns: dnsControl(order), logger: log, onConfigured: () => configured++ });
    c.apply(CONFIG);
    c.apply({ ...CONFIG, ipv4: '100.64.0.2', upstreamDns: [] });
    await c.close();
    expect(order).toEqual([
      'ips 100.64.0.1 fd00:2021:1111::1',
      'routes 100.96.0.0/11 10.0.0.0/8 fd00:2021:1111:8000::/107',
      'dns 100.100.111.1 corp.example',
      'ips 100.64.0.2 fd00:2021:1111::1',
      'routes 100.96.0.0/11 10.0.0.0/8 fd00:2021:1111:8000::/107',
      'dns restored',
      'routes removed',
    ]);
    expect(configured).toBe(2);
    expect(lines.filter((l) => l['msg'] === 'TUN configured').map((l) => [l['ipv4'], l['ipv6'], l['routes']])).toEqual([
      ['100.64.0.1', 'fd00:2021:1111::1', 3],
      ['100.64.0.2', 'fd00:2021:1111::1', 3],
    ]);
  });

  it('without IPv6 on the host: no IPv6 routes, and the log does not claim an IPv6 address', async () => {
    const order: string[] = [];
    const { log, lines } = capture();
    const c = new TunConfigurator({ device: device(order, { ipv6: false }), logger: log });
    c.apply(CONFIG);
    await c.close();
    expect(order).toEqual(['ips 100.64.0.1 fd00:2021:1111::1', 'routes 100.96.0.0/11 10.0.0.0/8', 'routes removed']);
    expect(lines.find((l) => l['msg'] === 'TUN configured')).not.toHaveProperty('ipv6');
  });

  it('logs a failed configuration and goes on with the next; a DNS failure keeps the routes', async () => {
    const order: string[] = [];
    const { log, lines } = capture();
    let configured = 0;
    const c = new TunConfigurator({ device: device(order, { failIps: 1 }), dns: dnsControl(order, true), logger: log, onConfigured: () => configured++ });
    c.apply(CONFIG);
    c.reapply();
    await c.close();
    expect(configured).toBe(1);
    expect(order).toEqual([
      'ips 100.64.0.1 fd00:2021:1111::1',
      'ips 100.64.0.1 fd00:2021:1111::1',
      'routes 100.96.0.0/11 10.0.0.0/8 fd00:2021:1111:8000::/107',
      'dns 100.100.111.1 corp.example',
      'dns restored',
      'routes removed',
    ]);
    expect(lines.map((l) => [l['level'], String(l['msg']).split(':')[0]])).toEqual([
      [50, 'configuring the TUN failed'],
      [30, 'TUN configured'],
      [40, 'setting DNS (etc-resolv-conf) failed'],
    ]);
  });

  it('reapply does nothing before the first configuration', async () => {
    const order: string[] = [];
    const c = new TunConfigurator({ device: device(order), logger: capture().log });
    c.reapply();
    await c.close();
    expect(order).toEqual(['routes removed']);
  });
});

function session(events: Ev[] = []) {
  const { log, lines } = capture();
  const state = new ScriptedState();
  state.events.push(...events);
  const portal = new RecordingPortal();
  const order: string[] = [];
  const tunConfig = new TunConfigurator({ device: device(order), dns: dnsControl(order), logger: log });
  const seen: string[] = [];
  const s = new TunnelSession({
    state,
    tun: new IdleTun(),
    socket: new IdleSocket(),
    portal,
    channel: portal,
    logger: log,
    localAddress: '198.18.24.2',
    tunConfig,
    onEvent: (ev) => {
      seen.push(`${ev.type} after ${String(lines.length)} lines`);
    },
  });
  return { s, state, portal, order, lines, seen };
}

describe('TunnelSession', () => {
  it('logs each state event with the messages the tests and the bench look for, then hands it to the app', async () => {
    const events: Ev[] = [
      { type: 'gatewayConnected', gatewayId: 'g1', path: 'host', via: 'a -> b', relayId: 'relay-1', relayMigrations: 0 },
      { type: 'gatewayDisconnected', gatewayId: 'g1', reason: 'idle' },
      { type: 'authorizationFailed', resourceId: 'r1', reason: 'offline' },
      { type: 'resourcesChanged', resources: [] },
      { type: 'clientConnected', clientId: 'c1', path: 'relay', via: undefined, relayId: 'relay-2', relayMigrations: 1 },
      { type: 'clientDisconnected', clientId: 'c1', reason: 'goodbye' },
      { type: 'accessExpired', clientId: 'c1', resourceId: 'r1' },
    ];
    const { s, lines, seen } = session(events);
    s.start();
    await tick(10);
    expect(messages(lines)).toEqual([
      'connected to gateway',
      'gateway disconnected',
      'access to a resource was refused',
      'resources',
      'client connected',
      'client disconnected',
      'access expired',
    ]);
    expect(lines[0]).toMatchObject({ gatewayId: 'g1', path: 'host', via: 'a -> b', relayId: 'relay-1', relayMigrations: 0 });
    expect(lines[4]).toMatchObject({ clientId: 'c1', path: 'relay', relayId: 'relay-2', relayMigrations: 1 });
    // Each event reaches the app right after its own log line.
    expect(seen).toEqual(events.map((e, i) => `${e.type} after ${String(i + 1)} lines`));
    await s.stop();
  });

  it('applies a tunConfigChanged through its TunConfigurator, and still hands it to the app', async () => {
    const { s, order, seen } = session([{ type: 'tunConfigChanged', config: { ...CONFIG, upstreamDns: CONFIG.upstreamDns ?? [], searchDomain: undefined } }]);
    s.start();
    await tick(10);
    expect(order.slice(0, 3)).toEqual(['ips 100.64.0.1 fd00:2021:1111::1', 'routes 100.96.0.0/11 10.0.0.0/8 fd00:2021:1111:8000::/107', 'dns 100.100.111.1 -']);
    expect(seen).toEqual(['tunConfigChanged after 0 lines']);
    await s.stop();
  });

  it('gives the state our host candidate on start, a new one on demand, and resets with a reconnect', async () => {
    const { s, state, portal } = session();
    s.start();
    s.setLocalAddress('198.18.24.3');
    s.reset();
    s.reset('198.18.25.4');
    expect(s.localAddress).toBe('198.18.25.4');
    expect(state.calls).toEqual(['local 198.18.24.2:52625', 'local 198.18.24.3:52625', 'reset', 'local 198.18.25.4:52625', 'reset']);
    expect(portal.calls).toEqual(['reconnect', 'reconnect']);
    await s.stop();
  });

  it('stops once: the loop, its stats, the portal, then DNS and routes', async () => {
    const { s, portal, order, lines } = session();
    s.start();
    await Promise.all([s.stop(), s.stop()]);
    await s.stop();
    expect(messages(lines)).toEqual(['tunnel stats']);
    expect(lines[0]).toHaveProperty('turns');
    expect(portal.calls).toEqual(['portal closed']);
    expect(order).toEqual(['dns restored', 'routes removed']);
    // Stopped by the app: the loop's end is not a failure.
    expect(sessionFailure(await s.ended)).toBeUndefined();
  });

  it('ends with the portal fatal error, named by sessionFailure', async () => {
    const { s, portal } = session();
    s.start();
    portal.fail(new Error('401 unauthorized'));
    const end = await s.ended;
    expect(end.kind).toBe('portal');
    expect(sessionFailure(end)).toBe('portal connection failed: 401 unauthorized');
    expect(sessionFailure({ kind: 'tunnel', err: new Error('TUN gone') })).toBe('tunnel failed: TUN gone');
    await s.stop();
  });
});
