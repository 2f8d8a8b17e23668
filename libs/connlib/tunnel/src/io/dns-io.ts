// The DNS side of the IO shell: sends the client's forwarded queries to real upstreams outside the tunnel
// (SO_MARK = POSTERN_FWMARK, so Postern's policy rule skips its routing table) and feeds the answers back:
// over UDP from one socket, or over TCP (RFC 7766; DnsTcpUpstreams is the sans-IO client, this is its
// socket shell) for queries that came over TCP or whose UDP answer was truncated. Also runs the gateway's
// name resolutions with the system resolver (getaddrinfo via node:dns, so /etc/hosts and resolv.conf apply).
// Timeouts and concurrency limits live in the sans-IO states.
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isIP, Socket } from 'node:net';
import type { Logger } from 'pino';
import { POSTERN_FWMARK, systemResolvers } from '@postern/bin-shared';
import { DnsTcpUpstreams, type ResolveOutcome, type ResolveRequest } from '@postern/dns';
import { bindUdp, type UdpSocket } from '@postern/socket-factory';
import { markedTcpFd } from '@postern/phoenix-channel';
import type { DnsForward, DnsTransport } from '../dns/client-dns';

/** What a ClientState offers the IO shell for DNS. */
export interface DnsForwardingState {
  pollDnsForward(): DnsForward | undefined;
  /** `transport`: how the answer came (states that ignore it accept an answer either way). */
  handleDnsUpstreamResponse(fromIp: string, fromPort: number, data: Uint8Array, now: number, transport?: DnsTransport): void;
  setSystemResolvers(servers: readonly string[]): void;
}

/** A state that wants to hear at once when a forwarded query's TCP exchange failed (`id`: the query's id as sent). */
export interface DnsUpstreamFailureState {
  handleDnsUpstreamFailure(fromIp: string, fromPort: number, id: number, now: number): void;
}

function hearsFailures(s: object): s is DnsUpstreamFailureState {
  return 'handleDnsUpstreamFailure' in s && typeof s.handleDnsUpstreamFailure === 'function';
}

/** What a GatewayState offers the IO shell for DNS. */
export interface DnsResolvingState {
  pollResolveRequest(now: number): ResolveRequest | undefined;
  handleResolveResult(requestId: number, outcome: ResolveOutcome, now: number): void;
}

/** A GatewayState's in-tunnel DNS server (SRV/TXT at the site). */
export interface SiteDnsState {
  pollSiteQuery(): { readonly id: number; readonly query: Uint8Array } | undefined;
  handleSiteAnswer(id: number, response: Uint8Array | undefined, query: Uint8Array, now: number): void;
}

export function isSiteDnsState(s: object): s is SiteDnsState {
  return 'pollSiteQuery' in s && 'handleSiteAnswer' in s;
}

/** How long the site resolver gets for one SRV/TXT query. */
const SITE_QUERY_TIMEOUT_MS = 10_000;

/** Sends one DNS query over UDP to `server`:53 and waits for the answer with the same id (undefined on timeout/error). */
export function udpQuery(server: string, query: Uint8Array, timeoutMs = SITE_QUERY_TIMEOUT_MS): Promise<Uint8Array | undefined> {
  return new Promise((resolve) => {
    const sock = createSocket(server.includes(':') ? 'udp6' : 'udp4');
    const done = (r: Uint8Array | undefined): void => {
      clearTimeout(timer);
      sock.close();
      resolve(r);
    };
    const timer = setTimeout(() => {
      done(undefined);
    }, timeoutMs);
    sock.on('error', () => {
      done(undefined);
    });
    sock.on('message', (msg) => {
      if (msg.length >= 12 && msg[0] === query[0] && msg[1] === query[1]) done(new Uint8Array(msg));
    });
    sock.send(query, 53, server);
  });
}

export function isForwardingState(s: object): s is DnsForwardingState {
  return 'pollDnsForward' in s && 'handleDnsUpstreamResponse' in s && 'setSystemResolvers' in s;
}

export function isResolvingState(s: object): s is DnsResolvingState {
  return 'pollResolveRequest' in s && 'handleResolveResult' in s;
}

/** Resolves a name (A and AAAA) for the gateway: IPs, or an error. No answer is not an error ([]). */
export type NameResolver = (name: string) => Promise<ResolveOutcome>;

export const systemNameResolver: NameResolver = async (name) => {
  try {
    const all = await lookup(name, { all: true, order: 'verbatim' });
    return { kind: 'ok', ips: all.map((a) => a.address) };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') return { kind: 'ok', ips: [], ttlMs: 5_000 };
    return { kind: 'error', reason: typeof code === 'string' ? code : String(err) };
  }
};

/** The system's resolvers: from systemd-resolved's upstream file if it runs, else resolv.conf (or Postern's backup of it). */
export async function readSystemResolvers(): Promise<string[]> {
  return systemResolvers({ method: existsSync('/run/systemd/resolve/resolv.conf') ? 'systemd-resolved' : 'etc-resolv-conf' });
}

export interface DnsIoOptions {
  readonly logger: Logger;
  /** Runs `f` against the state and then the loop's usual turn. */
  readonly guard: (f: () => void) => void;
  readonly now: () => number;
  readonly resolver?: NameResolver;
  /** SO_MARK of the forwarding socket; default POSTERN_FWMARK (undefined in tests without CAP_NET_ADMIN falls back). */
  readonly mark?: number;
}

export class DnsIo {
  private socket: Promise<UdpSocket | undefined> | undefined;
  private closed = false;
  private siteServers: Promise<string[]> | undefined;
  private inFlight = 0;
  private tcp: TcpForwarder | undefined;
  readonly stats = { forwarded: 0, answers: 0, resolutions: 0, resolveErrors: 0, tcpForwarded: 0, tcpAnswers: 0, tcpFailures: 0 };

  constructor(private readonly o: DnsIoOptions) {}

  forward(state: DnsForwardingState, f: DnsForward): void {
    if (this.closed) return;
    if (f.transport === 'tcp') {
      this.tcp ??= new TcpForwarder(
        this.o,
        this.stats,
        (ip, port, message) => {
          this.o.guard(() => {
            state.handleDnsUpstreamResponse(ip, port, message, this.o.now(), 'tcp');
          });
        },
        (ip, port, id) => {
          if (hearsFailures(state))
            this.o.guard(() => {
              state.handleDnsUpstreamFailure(ip, port, id, this.o.now());
            });
        },
      );
      this.tcp.query(f.upstream.ip, f.upstream.port, f.query);
      return;
    }
    this.socket ??= this.open(state);
    void this.socket.then((s) => {
      if (s === undefined || this.closed) return;
      s.sendQueue.push(s.addr(f.upstream.ip, f.upstream.port), f.query);
      s.sendQueue.flush();
      this.stats.forwarded++;
    });
  }

  resolve(state: DnsResolvingState, req: ResolveRequest): void {
    if (this.closed) return;
    this.inFlight++;
    void (this.o.resolver ?? systemNameResolver)(req.name).then((outcome) => {
      this.inFlight--;
      this.stats.resolutions++;
      if (outcome.kind === 'error') this.stats.resolveErrors++;
      this.o.logger.debug({ name: req.name, outcome }, 'resolved a DNS resource name');
      this.o.guard(() => {
        state.handleResolveResult(req.requestId, outcome, this.o.now());
      });
    });
  }

  /** A site query: to the first system resolver, the answer (or a failure) back to the state. */
  siteQuery(state: SiteDnsState, q: { readonly id: number; readonly query: Uint8Array }): void {
    if (this.closed) return;
    this.siteServers ??= readSystemResolvers().catch(() => []);
    void this.siteServers
      .then(async (servers) => (servers[0] === undefined ? undefined : udpQuery(servers[0], q.query)))
      .then((response) => {
        this.o.guard(() => {
          state.handleSiteAnswer(q.id, response, q.query, this.o.now());
        });
      });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.tcp?.close();
    const s = await this.socket;
    await s?.close();
  }

  private async open(state: DnsForwardingState): Promise<UdpSocket | undefined> {
    const log = this.o.logger;
    let socket: UdpSocket;
    try {
      socket = await bindUdp({ port: 0, mark: this.o.mark ?? POSTERN_FWMARK, gso: false, gro: false, logger: log });
    } catch (err) {
      log.warn({ err }, 'DNS forwarding socket without SO_MARK (forwarded queries may enter the tunnel)');
      try {
        socket = await bindUdp({ port: 0, backend: 'dgram', logger: log });
      } catch (err2) {
        log.error({ err: err2 }, 'cannot open the DNS forwarding socket');
        return undefined;
      }
    }
    void (async () => {
      for (;;) {
        const batch = await socket.recvMany(32);
        if (batch.length === 0 || this.closed) return;
        this.stats.answers += batch.length;
        this.o.guard(() => {
          const now = this.o.now();
          for (const d of batch) state.handleDnsUpstreamResponse(d.from.address, d.from.port, d.data, now, 'udp');
        });
      }
    })().catch((err: unknown) => {
      if (!this.closed) log.warn({ err }, 'DNS forwarding socket failed');
    });
    return socket;
  }
}

/** The socket shell of DnsTcpUpstreams: one marked TCP connection per upstream, answers to `deliver`. */
class TcpForwarder {
  private readonly sm = new DnsTcpUpstreams();
  private readonly sockets = new Map<number, Socket>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private warnedUnmarked = false;

  constructor(
    private readonly o: DnsIoOptions,
    private readonly stats: DnsIo['stats'],
    private readonly deliver: (ip: string, port: number, message: Uint8Array) => void,
    private readonly failed: (ip: string, port: number, id: number) => void,
  ) {}

  query(ip: string, port: number, message: Uint8Array): void {
    if (this.closed) return;
    this.stats.tcpForwarded++;
    this.sm.query(ip, port, message, this.o.now());
    this.drive();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const s of this.sockets.values()) s.destroy();
    this.sockets.clear();
  }

  /** Carries out the state machine's actions, hands out its events, re-arms its timer. */
  private drive(): void {
    if (this.closed) return;
    for (let a = this.sm.pollAction(); a !== undefined; a = this.sm.pollAction()) {
      if (a.kind === 'connect') this.connect(a.conn, a.ip, a.port);
      else if (a.kind === 'write') this.sockets.get(a.conn)?.write(a.bytes);
      else {
        this.sockets.get(a.conn)?.destroy();
        this.sockets.delete(a.conn);
      }
    }
    for (let e = this.sm.pollEvent(); e !== undefined; e = this.sm.pollEvent()) {
      if (e.kind === 'answer') {
        this.stats.tcpAnswers++;
        this.deliver(e.ip, e.port, e.message);
      } else {
        this.stats.tcpFailures++;
        this.o.logger.debug({ err: e.error, code: e.error.code, id: e.id }, 'DNS over TCP to an upstream failed');
        // an answer nobody waits for is not a failure of the query with that id
        if (e.id !== undefined && e.error.code !== 'TCP_UPSTREAM_UNSOLICITED') this.failed(e.ip, e.port, e.id);
      }
    }
    clearTimeout(this.timer);
    const due = this.sm.pollTimeout();
    if (due === undefined) return;
    this.timer = setTimeout(() => {
      this.sm.handleTimeout(this.o.now());
      this.drive();
    }, Math.max(0, due - this.o.now()));
    this.timer.unref();
  }

  private connect(conn: number, ip: string, port: number): void {
    const s = this.markedSocket(isIP(ip) === 6 ? 6 : 4);
    let failure: Error | undefined;
    this.sockets.set(conn, s);
    s.on('connect', () => {
      this.sm.handleConnected(conn, this.o.now());
      this.drive();
    });
    s.on('data', (chunk: Buffer) => {
      this.sm.handleData(conn, chunk, this.o.now());
      this.drive();
    });
    s.on('error', (err) => {
      failure = err;
    });
    s.on('close', () => {
      if (this.sockets.get(conn) !== s) return; // closed by us
      this.sockets.delete(conn);
      this.sm.handleClosed(conn, this.o.now(), failure);
      this.drive();
    });
    s.connect({ host: ip, port });
  }

  /** A TCP socket with SO_MARK set before its SYN (so it bypasses the tunnel), else a plain one (logged once). */
  private markedSocket(family: 4 | 6): Socket {
    const mark = this.o.mark ?? POSTERN_FWMARK;
    try {
      return new Socket({ fd: markedTcpFd(family, mark), readable: true, writable: true });
    } catch (err) {
      if (!this.warnedUnmarked) {
        this.warnedUnmarked = true;
        this.o.logger.warn({ err }, 'DNS over TCP without SO_MARK (forwarded queries may enter the tunnel)');
      }
      return new Socket();
    }
  }
}

