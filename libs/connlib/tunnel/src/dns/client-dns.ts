// The client's DNS (sans-IO), built on @postern/dns: the sentinels (one per upstream), queries to them over
// UDP and TCP answered by the StubResolver or forwarded (by the IO shell, outside the tunnel) to the real
// upstream, and the proxy-IP NAT set-up with the gateway (assigned_ips -> domain_status) that gates traffic
// to a DNS resource until the gateway has resolved the name.
//
// Upstreams (Firezone's choice): the portal's Do53 servers if any, else its DoH servers, else the system's.
// A query for a DoH upstream goes out as an RFC 8484 POST (DohUpstreams: id 0 on the wire, checks of the
// answer, a 5 s timeout); a DoH server's host name is looked up with A/AAAA queries to the system's first
// resolver from the same fwmarked UDP socket as Do53 forwards (never through our own sentinels, which the OS
// points at), IP-literal URLs need no lookup. A DoH failure answers SERVFAIL to UDP and TCP askers alike.
import {
  buildDestinationUnreachable,
  buildUdp,
  encodeP2pControl,
  IpPacket,
  parseIp as parseIpBytes,
  type NatStatus,
} from '@postern/ip-packet';
import {
  bootstrapAddresses,
  bootstrapQuery,
  DohError,
  DohUpstreams,
  isSentinelIp,
  isTruncated,
  mapSentinels,
  type DohErrorCode,
  type DohHttpResponse,
  type DohPostRequest,
  type DohServer,
  SITE_DNS_PORT,
  StubResolver,
  truncateResponse,
  udpPayloadLimit,
  type DnsResource,
  type DnsResourceRecord,
  type IpStack,
  type SentinelTable,
  type Upstream,
} from '@postern/dns';
import { inRanges, PROXY_RANGES } from '../ranges';
import type { ClientDnsHook, Rng } from '../types';
import { DnsTcpResponder } from './tcp-responder';

const DNS_PORT = 53;
/** A forwarded query waits this long for its upstream's answer. */
export const DNS_FORWARD_TIMEOUT_MS = 10_000;
const MAX_FORWARDS = 4096;
/** Packets held per domain while the gateway sets up its NAT; older ones are dropped. */
export const MAX_NAT_BUFFERED = 64;
/** assigned_ips is sent again after this long without a domain_status while traffic continues. */
export const ASSIGNED_IPS_RESEND_MS = 2_000;
/** While traffic flows, assigned_ips is repeated this often so that the gateway follows DNS changes of the name. */
export const NAT_REFRESH_MS = 60_000;

/** How a forwarded query travels to its upstream: as the asker sent it (RFC 7766), or TCP after a truncated UDP answer. */
export type DnsTransport = 'udp' | 'tcp';

/**
 * A query for the IO shell to send to `upstream`, outside the tunnel: one datagram from the marked UDP
 * socket, or (`tcp`) one length-prefixed message on a TCP connection to it (RFC 7766).
 */
export interface Do53Forward {
  readonly upstream: { readonly ip: string; readonly port: number };
  readonly query: Uint8Array;
  readonly transport: DnsTransport;
}

/**
 * A DoH request for the IO shell: POST `request` to `server` at `address` over HTTPS from a marked socket,
 * give up after `timeoutMs`; the outcome goes to `handleDohResponse` / `handleDohFailure` with `token`.
 */
export interface DohForward {
  readonly transport: 'https';
  readonly token: number;
  readonly server: DohServer;
  readonly address: string;
  readonly request: DohPostRequest;
  readonly timeoutMs: number;
}

/** A DoH failure the IO shell did not see itself (a host lookup, a bad URL, too many queries): for its log. */
export interface DohNotice {
  readonly transport: 'notice';
  readonly upstream: string;
  readonly error: DohError;
}

export type DnsForward = Do53Forward | DohForward | DohNotice;

export function isDo53Forward(f: DnsForward): f is Do53Forward {
  return f.transport === 'udp' || f.transport === 'tcp';
}

type ReplyTo =
  | {
      readonly kind: 'udp';
      readonly client: Uint8Array;
      readonly clientPort: number;
      readonly sentinel: Uint8Array;
      /** The largest answer the asker takes over UDP (its EDNS size, else 512). */
      readonly udpLimit: number;
    }
  | { readonly kind: 'tcp'; readonly conn: string }
  /** Our own lookup of a DoH server's host name. */
  | { readonly kind: 'bootstrap'; readonly host: string };

/** Where SRV/TXT queries of a DNS resource go: the gateway serving it (its in-tunnel DNS on port 53535). */
export interface SiteRoute {
  readonly gatewayId: string;
  /** Our tunnel IP and the gateway's, same family. */
  readonly source: Uint8Array;
  readonly destination: Uint8Array;
}

/** A query for a gateway's in-tunnel DNS server, to send through the tunnel. */
export interface SiteOut {
  readonly gatewayId: string;
  readonly packet: Uint8Array;
}

interface PendingForward {
  /** The upstream asked, or the gateway for a site query. */
  readonly upstream: Upstream | { readonly kind: 'site'; readonly gatewayId: string };
  readonly originalId: number;
  readonly replyTo: ReplyTo;
  readonly deadline: number;
  readonly transport: DnsTransport | 'https';
  /** The query as sent (our id), kept for a UDP forward so that a truncated answer can be asked again over TCP. */
  readonly query: Uint8Array | undefined;
  /** The truncated (TC=1) UDP answer, with the asker's id, while the query is asked again over TCP. */
  readonly truncated: Uint8Array | undefined;
}

/** A running lookup of a DoH server's host: answers still to come (A, AAAA) and the addresses so far. */
interface Bootstrap {
  pending: number;
  readonly addresses: string[];
  ttlSecs: number | undefined;
}

interface NatSetup {
  status: 'pending' | NatStatus;
  sentAt: number;
  readonly buffered: Uint8Array[];
}

/** What to do with a packet for a DNS resource once its gateway is known. */
export type GateResult =
  /** Send it; with `control`, send that first (a periodic assigned_ips: the gateway resolves the name again). */
  | { readonly kind: 'send'; readonly control?: Uint8Array }
  | { readonly kind: 'held'; readonly control: Uint8Array | undefined }
  | { readonly kind: 'unreachable' };

export class ClientDns implements ClientDnsHook {
  readonly stub: StubResolver;
  private readonly tcp: DnsTcpResponder;
  private readonly ipStacks = new Map<string, IpStack>();
  private portalDo53: string[] = [];
  private portalDoh: string[] = [];
  private system: string[] = [];
  private readonly doh = new DohUpstreams();
  private readonly bootstraps = new Map<string, Bootstrap>();
  /** Which system resolver looks up DoH hosts: the next one after a lookup that got no addresses. */
  private bootstrapResolver = 0;
  private sentinels: SentinelTable = mapSentinels({});
  private readonly forwards = new Map<number, PendingForward>();
  private readonly forwardOut: DnsForward[] = [];
  private nextId: number;
  private readonly tunOut: Uint8Array[] = [];
  private readonly siteOut: SiteOut[] = [];
  private siteRouter: ((resourceId: string) => SiteRoute | undefined) | undefined;
  /** `${gatewayId}\0${resourceId}\0${domain}` -> NAT set-up state on that gateway. */
  private readonly nat = new Map<string, NatSetup>();
  readonly drops: Record<string, number> = {};
  /** Forwarded queries by transport, and truncated UDP answers asked again over TCP. */
  readonly forwardStats = { udp: 0, tcp: 0, truncatedRetriedOverTcp: 0, https: 0, httpsAnswers: 0, bootstrapLookups: 0 };
  /** DoH failures by DohError code (each one a SERVFAIL to its asker). */
  readonly dohFailures: Record<string, number> = {};

  /** `records`: DNS resource records of an earlier session (their names keep their proxy IPs). */
  constructor(rng: Rng, records?: readonly DnsResourceRecord[]) {
    this.stub = new StubResolver(records === undefined ? {} : { records });
    this.tcp = new DnsTcpResponder(rng);
    this.nextId = rng.nextU32() & 0xffff;
  }

  // ---- configuration -------------------------------------------------------------------------------

  /**
   * Portal-given Do53 upstreams, the system's resolvers and portal-given DoH URLs (undefined: unchanged);
   * returns true if the sentinels changed.
   */
  setUpstreams(portalDo53: readonly string[] | undefined, system: readonly string[] | undefined, portalDoh?: readonly string[]): boolean {
    if (portalDo53 !== undefined) this.portalDo53 = [...portalDo53];
    if (system !== undefined) this.system = [...system];
    if (portalDoh !== undefined) this.portalDoh = [...portalDoh];
    const next = mapSentinels({ upstreamDo53: this.portalDo53, upstreamDoh: this.portalDoh, system: this.system });
    const prev = this.sentinels.entries;
    const same = next.entries.length === prev.length && next.entries.every((e, i) => {
        const p = prev[i];
        return p !== undefined && p.sentinel === e.sentinel && describe(p.upstream) === describe(e.upstream);
      });
    if (same) return false;
    this.sentinels = next;
    this.stub.setSentinels(next);
    return true;
  }

  /** The upstreams behind the sentinels, in order (for logs). */
  get upstreams(): Upstream[] {
    return this.sentinels.upstreams;
  }

  /** The sentinel addresses the OS should use (one per upstream). */
  get sentinelIps(): string[] {
    return this.sentinels.sentinels;
  }

  /** How to reach the site of a resource (its authorised gateway), if it has one yet. */
  setSiteRouter(router: (resourceId: string) => SiteRoute | undefined): void {
    this.siteRouter = router;
  }

  setSearchDomain(domain: string | undefined): void {
    this.stub.setSearchDomain(domain);
  }

  setResources(resources: readonly DnsResource[]): void {
    this.ipStacks.clear();
    for (const r of resources) this.ipStacks.set(r.id, r.ipStack);
    this.stub.setResources(resources);
  }

  // ---- ClientDnsHook -------------------------------------------------------------------------------

  /** A packet to a sentinel: UDP or TCP port 53 (answers are queued for `pollTunWrite`). */
  handleSentinelPacket(p: IpPacket, now: number): Uint8Array | undefined {
    if (p.destinationPort !== DNS_PORT || p.isFragment) {
      this.drop('sentinelNotDns');
      return undefined;
    }
    if (p.isUdp()) {
      const query = p.transportPayload().slice();
      const replyTo: ReplyTo = { kind: 'udp', client: p.source(), clientPort: p.sourcePort ?? 0, sentinel: p.destination(), udpLimit: udpPayloadLimit(query) };
      this.query(query, p.destinationText(), replyTo, now);
    } else if (p.isTcp()) {
      for (const q of this.tcp.handlePacket(p, now)) this.query(q.query, q.sentinel, { kind: 'tcp', conn: q.conn }, now);
      this.drainTcp();
    } else this.drop('sentinelNotDns');
    return undefined;
  }

  resourceForProxyIp(p: IpPacket): string | undefined {
    // Every routed packet asks: the range check keeps CIDR traffic free of string work.
    if (!inRanges(PROXY_RANGES, p.bytes, p.destinationOffset, p.version)) return undefined;
    return this.stub.lookupProxyIp(p.destinationText())?.resourceId;
  }

  // ---- forwarding (IO shell) -----------------------------------------------------------------------

  pollForward(): DnsForward | undefined {
    return this.forwardOut.shift();
  }

  /**
   * An upstream's answer to a forwarded query (a UDP payload, or a TCP message without its length prefix):
   * it goes back to the asker. `transport` says how it came (undefined: not known, either is accepted); an
   * answer that came another way than the query went is dropped. A truncated (TC=1) UDP answer makes us ask
   * again over TCP, as a stub resolver would; the asker gets the whole answer if it fits its UDP size, else
   * the truncated one (and asks over TCP itself).
   */
  handleUpstreamResponse(fromIp: string, fromPort: number, data: Uint8Array, now: number, transport?: DnsTransport): void {
    if (data.length < 12) {
      this.drop('upstreamMalformed');
      return;
    }
    const id = ((data[0] ?? 0) << 8) | (data[1] ?? 0);
    const f = this.forwards.get(id);
    if (f === undefined || now >= f.deadline || f.upstream.kind !== 'do53' || f.transport === 'https' || f.upstream.port !== fromPort || normalize(fromIp) !== normalize(f.upstream.ip)) {
      this.drop('upstreamUnsolicited');
      return;
    }
    if (transport !== undefined && transport !== f.transport) {
      this.drop('upstreamWrongTransport');
      return;
    }
    this.forwards.delete(id);
    if (f.replyTo.kind === 'bootstrap') {
      this.bootstrapAnswer(f.replyTo.host, data, now);
      return;
    }
    if (f.transport === 'udp' && isTruncated(data) && f.query !== undefined) {
      // the stub's pending entry stays for the whole answer (a truncated one is not cached anyway)
      const retry: PendingForward = { ...f, deadline: now + DNS_FORWARD_TIMEOUT_MS, transport: 'tcp', query: undefined, truncated: withId(data, f.originalId) };
      this.forwards.set(id, retry);
      this.forwardOut.push({ upstream: { ip: f.upstream.ip, port: f.upstream.port }, query: f.query, transport: 'tcp' });
      this.forwardStats.truncatedRetriedOverTcp++;
      this.forwardStats.tcp++;
      return;
    }
    const response = withId(data, f.originalId);
    this.stub.handleUpstreamResponse(f.upstream, response, now);
    this.reply(f.replyTo, response, now);
  }

  /**
   * The TCP exchange of forwarded query `id` (our id, as sent) with `fromIp`:`fromPort` failed (refused, reset,
   * timed out, a malformed answer): the asker hears now rather than at the forward's deadline (a TCP asker
   * SERVFAIL, a UDP asker whose answer was truncated that answer).
   */
  handleUpstreamFailure(fromIp: string, fromPort: number, id: number, now: number): void {
    const f = this.forwards.get(id);
    if (f === undefined || f.transport !== 'tcp' || f.upstream.kind !== 'do53' || f.upstream.port !== fromPort || normalize(fromIp) !== normalize(f.upstream.ip)) {
      this.drop('upstreamFailureUnknown');
      return;
    }
    this.forwards.delete(id);
    this.drop('upstreamTcpFailed');
    this.answerUnanswered(f, now);
  }

  /** The HTTP answer to DoH request `token`: its DNS answer goes to the asker; returns the error it was, if one. */
  handleDohResponse(token: number, response: DohHttpResponse, now: number): DohError | undefined {
    const err = this.doh.handleResponse(token, response, now);
    this.drainDoh(now);
    return err;
  }

  /** DoH request `token` failed in the IO shell (connect, TLS, stream reset, its timeout): SERVFAIL to the asker. */
  handleDohFailure(token: number, error: DohError, now: number): void {
    this.doh.handleFailure(token, error, now);
    this.drainDoh(now);
  }

  /** Queries for gateways' in-tunnel DNS servers (SRV/TXT of DNS resources). */
  pollSiteQuery(): SiteOut | undefined {
    return this.siteOut.shift();
  }

  /** An answer from gateway `gatewayId`'s DNS server (UDP payload). */
  handleSiteResponse(gatewayId: string, data: Uint8Array, now: number): void {
    const id = ((data[0] ?? 0) << 8) | (data[1] ?? 0);
    const f = data.length < 12 ? undefined : this.forwards.get(id);
    if (f === undefined || now >= f.deadline || f.upstream.kind !== 'site' || f.upstream.gatewayId !== gatewayId) {
      this.drop('siteUnsolicited');
      return;
    }
    this.forwards.delete(id);
    this.reply(f.replyTo, withId(data, f.originalId), now);
  }

  // ---- NAT set-up with the gateway -----------------------------------------------------------------

  /**
   * A packet for DNS resource `resourceId` (to one of its proxy IPs) that may go to gateway `gatewayId`:
   * send it, or hold it (with the assigned_ips control packet to send when one is due), or refuse it.
   */
  gate(gatewayId: string, resourceId: string, p: IpPacket, now: number): GateResult {
    const owner = this.stub.lookupProxyIp(p.destinationText());
    if (owner === undefined) return { kind: 'unreachable' };
    const key = `${gatewayId}\u0000${resourceId}\u0000${owner.name}`;
    let s = this.nat.get(key);
    if (s?.status === 'Active') {
      if (now - s.sentAt < NAT_REFRESH_MS) return { kind: 'send' };
      s.sentAt = now;
      return { kind: 'send', control: this.assignedIps(resourceId, owner.name) };
    }
    if (s === undefined) {
      s = { status: 'pending', sentAt: Number.NEGATIVE_INFINITY, buffered: [] };
      this.nat.set(key, s);
    }
    if (s.status === 'Inactive' && now - s.sentAt < ASSIGNED_IPS_RESEND_MS) return { kind: 'unreachable' };
    if (s.buffered.length >= MAX_NAT_BUFFERED) {
      s.buffered.shift();
      this.drop('natBufferFull');
    }
    s.buffered.push(p.bytes.slice());
    if (now - s.sentAt < ASSIGNED_IPS_RESEND_MS) return { kind: 'held', control: undefined };
    s.sentAt = now;
    s.status = 'pending';
    return { kind: 'held', control: this.assignedIps(resourceId, owner.name) };
  }

  /** The assigned_ips control packet for `domain`: its proxy IPs of the resource's address families. */
  private assignedIps(resourceId: string, domain: string): Uint8Array {
    const stack = this.ipStacks.get(resourceId) ?? 'dual';
    const proxyIps = this.stub.proxyIpsFor(domain).filter((ip) => (ip.includes(':') ? stack !== 'ipv4_only' : stack !== 'ipv6_only'));
    return encodeP2pControl({ type: 'assigned_ips', resource: resourceId, domain, proxyIps });
  }

  /**
   * domain_status from gateway `gatewayId`: the held packets to send now (Active), or none (Inactive: they
   * are answered with ICMP unreachable, queued for the TUN).
   */
  handleDomainStatus(gatewayId: string, resourceId: string, domain: string, status: NatStatus, now: number): Uint8Array[] {
    const s = this.nat.get(`${gatewayId}\u0000${resourceId}\u0000${domain}`);
    if (s === undefined) return [];
    // a refresh answered Inactive (the name is gone) stops the traffic like a first set-up would
    s.status = status;
    s.sentAt = status === 'Inactive' ? now : s.sentAt;
    const held = s.buffered.splice(0);
    if (status === 'Active') return held;
    for (const bytes of held) this.unreachable(bytes);
    return [];
  }

  /** The gateway is gone: its NAT state with it. */
  forgetGateway(gatewayId: string): void {
    const prefix = `${gatewayId}\u0000`;
    for (const k of [...this.nat.keys()]) if (k.startsWith(prefix)) this.nat.delete(k);
  }

  /** The resource's authorisation is gone (or it was deleted): set up again on next use. */
  forgetResource(resourceId: string): void {
    const mid = `\u0000${resourceId}\u0000`;
    for (const k of [...this.nat.keys()]) if (k.includes(mid)) this.nat.delete(k);
  }

  /** ICMP network unreachable for a packet we cannot deliver (queued for the TUN). */
  unreachable(bytes: Uint8Array): void {
    const p = IpPacket.parse(bytes);
    if (p instanceof Error) return;
    const answer = buildDestinationUnreachable(p, 'network_unreachable');
    if (answer !== undefined) this.tunOut.push(answer);
  }

  // ---- outputs and time ----------------------------------------------------------------------------

  pollTunWrite(): Uint8Array | undefined {
    return this.tunOut.shift();
  }

  handleTimeout(now: number): void {
    this.stub.handleTimeout(now);
    this.tcp.handleTimeout(now);
    this.doh.handleTimeout(now);
    this.drainDoh(now);
    for (const [id, f] of this.forwards) {
      if (now < f.deadline) break;
      this.forwards.delete(id);
      this.answerUnanswered(f, now);
    }
    this.drainTcp();
  }

  pollTimeout(): number | undefined {
    let t = minDefined(minDefined(this.stub.pollTimeout(), this.tcp.pollTimeout()), this.doh.pollTimeout());
    const oldest = this.forwards.values().next();
    if (oldest.done !== true) t = minDefined(t, oldest.value.deadline);
    return t;
  }

  // ---- internals -----------------------------------------------------------------------------------

  /**
   * A forward that will get no answer: UDP askers retry on their own (after a truncated answer whose TCP retry
   * failed: that answer, so that they ask over TCP themselves); a TCP connection would wait forever: SERVFAIL.
   */
  private answerUnanswered(f: PendingForward, now: number): void {
    if (f.replyTo.kind === 'bootstrap') this.bootstrapAnswer(f.replyTo.host, undefined, now);
    else if (f.replyTo.kind === 'tcp' || f.transport === 'https') this.reply(f.replyTo, servfail(f.originalId), now);
    else if (f.truncated !== undefined) this.reply(f.replyTo, f.truncated, now);
  }

  private query(query: Uint8Array, sentinel: string, replyTo: ReplyTo, now: number): void {
    const action = this.stub.handleQuery(query, sentinel, now);
    switch (action.kind) {
      case 'respond':
        this.reply(replyTo, action.response, now);
        return;
      case 'drop':
        if (replyTo.kind === 'tcp') this.tcp.respond(replyTo.conn, servfail(queryId(query)), now);
        return;
      case 'forward':
      case 'forward-to-site': {
        // SRV/TXT of a resource: the gateway of its site resolves them; before the resource has a gateway,
        // the upstream behind the sentinel answers.
        const route = action.kind === 'forward-to-site' ? this.siteRouter?.(action.resourceId) : undefined;
        if (route !== undefined) {
          const bytes = this.track({ kind: 'site', gatewayId: route.gatewayId }, query, replyTo, now, 'udp');
          const packet = buildUdp({ source: route.source, destination: route.destination, sourcePort: SITE_DNS_PORT, destinationPort: SITE_DNS_PORT, payload: bytes });
          this.siteOut.push({ gatewayId: route.gatewayId, packet });
          return;
        }
        const upstream = action.kind === 'forward' ? action.upstream : this.sentinels.upstreamFor(sentinel);
        if (upstream === undefined) {
          this.reply(replyTo, servfail(queryId(query)), now);
          return;
        }
        if (upstream.kind === 'doh') {
          this.forwardStats.https++;
          this.doh.query(upstream.url, this.track(upstream, query, replyTo, now, 'https'), now);
          this.drainDoh(now);
          return;
        }
        // RFC 7766: a query that came over TCP goes upstream over TCP (its answer may be larger than UDP carries)
        const transport: DnsTransport = replyTo.kind === 'tcp' ? 'tcp' : 'udp';
        const bytes = this.track(upstream, query, replyTo, now, transport);
        this.forwardOut.push({ upstream: { ip: upstream.ip, port: upstream.port }, query: bytes, transport });
        this.forwardStats[transport]++;
        return;
      }
    }
  }

  /** Records a forwarded query under a fresh id; returns the query bytes carrying that id. */
  private track(upstream: PendingForward['upstream'], query: Uint8Array, replyTo: ReplyTo, now: number, transport: PendingForward['transport']): Uint8Array {
    if (this.forwards.size >= MAX_FORWARDS) {
      const oldest = this.forwards.keys().next();
      if (oldest.done !== true) this.forwards.delete(oldest.value);
      this.drop('forwardsFull');
    }
    let id = this.nextId;
    for (let i = 0; i < 0x10000 && this.forwards.has(id); i++) id = (id + 1) & 0xffff;
    this.nextId = (id + 1) & 0xffff;
    const bytes = withId(query, id);
    const keep = transport === 'udp' && upstream.kind === 'do53' && replyTo.kind !== 'bootstrap' ? bytes : undefined;
    this.forwards.set(id, { upstream, originalId: queryId(query), replyTo, deadline: now + DNS_FORWARD_TIMEOUT_MS, transport, query: keep, truncated: undefined });
    return bytes;
  }

  /** Carries out the DoH client's actions (requests for the IO shell, host lookups) and hands out its events. */
  private drainDoh(now: number): void {
    for (let a = this.doh.pollAction(); a !== undefined; a = this.doh.pollAction()) {
      if (a.kind === 'resolve') this.bootstrap(a.host, now);
      else this.forwardOut.push({ transport: 'https', token: a.token, server: a.server, address: a.address, request: a.request, timeoutMs: a.timeoutMs });
    }
    for (let e = this.doh.pollEvent(); e !== undefined; e = this.doh.pollEvent()) {
      const id = e.kind === 'answer' ? queryId(e.message) : e.id;
      const f = this.forwards.get(id);
      if (f?.upstream.kind !== 'doh' || f.upstream.url !== e.url) {
        this.drop('dohUnknown');
        continue;
      }
      this.forwards.delete(id);
      if (e.kind === 'failed') {
        this.dohFailures[e.error.code] = (this.dohFailures[e.error.code] ?? 0) + 1;
        if (NOTICED.has(e.error.code)) this.forwardOut.push({ transport: 'notice', upstream: e.url, error: e.error });
        this.reply(f.replyTo, servfail(f.originalId), now);
        continue;
      }
      this.forwardStats.httpsAnswers++;
      const response = withId(e.message, f.originalId);
      this.stub.handleUpstreamResponse(f.upstream, response, now);
      this.reply(f.replyTo, response, now);
    }
  }

  /**
   * Looks up a DoH server's host (A, then AAAA) at a system resolver (the first; the next one after a lookup
   * that got no addresses), from the marked UDP socket.
   */
  private bootstrap(host: string, now: number): void {
    const servers = this.system.filter((s) => !isSentinelIp(s) && parseIpBytes(s) !== undefined);
    const server = servers[this.bootstrapResolver % Math.max(1, servers.length)];
    if (server === undefined) {
      this.doh.handleResolveFailed(host, new DohError('DOH_BOOTSTRAP', `no system resolver to look up ${host}`), now);
      return;
    }
    const upstream: Upstream = { kind: 'do53', ip: server, port: DNS_PORT };
    this.bootstraps.set(host, { pending: 0, addresses: [], ttlSecs: undefined });
    for (const type of ['A', 'AAAA'] as const) {
      const q = bootstrapQuery(host, type, 0);
      const b = this.bootstraps.get(host);
      if (q === undefined || b === undefined) continue;
      b.pending++;
      this.forwardOut.push({ upstream: { ip: server, port: DNS_PORT }, query: this.track(upstream, q, { kind: 'bootstrap', host }, now, 'udp'), transport: 'udp' });
      this.forwardStats.bootstrapLookups++;
    }
    if (this.bootstraps.get(host)?.pending === 0) this.bootstrapAnswer(host, undefined, now);
  }

  /** One answer (or none: undefined) to a host lookup; the last one hands the addresses (IPv4 first) to the DoH client. */
  private bootstrapAnswer(host: string, data: Uint8Array | undefined, now: number): void {
    const b = this.bootstraps.get(host);
    if (b === undefined) return;
    const got = data === undefined ? undefined : bootstrapAddresses(data);
    for (const a of got?.addresses ?? []) if (!b.addresses.includes(a)) b.addresses.push(a);
    if (got?.ttlSecs !== undefined) b.ttlSecs = Math.min(b.ttlSecs ?? Number.POSITIVE_INFINITY, got.ttlSecs);
    b.pending--;
    if (b.pending > 0) return;
    this.bootstraps.delete(host);
    b.addresses.sort((x, y) => Number(x.includes(':')) - Number(y.includes(':')));
    if (b.addresses.length > 0) this.doh.handleResolved(host, b.addresses, b.ttlSecs, now);
    else {
      this.bootstrapResolver++;
      this.doh.handleResolveFailed(host, new DohError('DOH_BOOTSTRAP', `no A/AAAA records for ${host} from the system's resolver`), now);
    }
    this.drainDoh(now);
  }

  private reply(to: ReplyTo, response: Uint8Array, now: number): void {
    if (to.kind === 'bootstrap') return;
    if (to.kind === 'tcp') {
      this.tcp.respond(to.conn, response, now);
      this.drainTcp();
      return;
    }
    // Over UDP at most what the asker takes and one tunnel packet carries: larger answers go truncated
    // (TC=1, the asker asks again over TCP); a packet larger than the TUN takes must never be written.
    const payload = truncateResponse(response, to.udpLimit);
    if (payload.byteLength === 0 || payload.byteLength > to.udpLimit) {
      this.drop('udpAnswerTooLarge');
      return;
    }
    this.tunOut.push(buildUdp({ source: to.sentinel, destination: to.client, sourcePort: DNS_PORT, destinationPort: to.clientPort, payload }));
  }

  private drainTcp(): void {
    for (let p = this.tcp.pollPacket(); p !== undefined; p = this.tcp.pollPacket()) this.tunOut.push(p);
  }

  private drop(reason: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
  }
}

/** DoH failures that arise in the state, not in the shell (which logs its own and the answers' errors). */
const NOTICED: ReadonlySet<DohErrorCode> = new Set<DohErrorCode>(['DOH_BOOTSTRAP', 'INVALID_DOH_URL', 'DOH_BUSY']);

function withId(message: Uint8Array, id: number): Uint8Array {
  const b = message.slice();
  b[0] = id >> 8;
  b[1] = id & 0xff;
  return b;
}

function queryId(q: Uint8Array): number {
  return ((q[0] ?? 0) << 8) | (q[1] ?? 0);
}

/** A bare SERVFAIL header (no question) for `id`. */
function servfail(id: number): Uint8Array {
  const b = new Uint8Array(12);
  b[0] = id >> 8;
  b[1] = id & 0xff;
  b[2] = 0x80; // QR
  b[3] = 0x80 | 2; // RA, SERVFAIL
  return b;
}

function describe(u: Upstream): string {
  return u.kind === 'doh' ? u.url : `${u.ip}:${u.port}`;
}

function normalize(ip: string): string {
  const b = parseIpBytes(ip);
  return b === undefined ? ip : b.join('.');
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
