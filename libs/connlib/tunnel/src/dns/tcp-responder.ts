// A minimal in-tunnel TCP server for DNS on port 53 of the sentinels (sans-IO): SYN -> SYN/ACK, in-order
// data is reassembled into length-prefixed DNS messages (RFC 7766), each answer goes back as one or more
// segments, FIN is answered with FIN once every query of the connection has its answer. Out-of-order data
// is not buffered (a duplicate ACK makes the sender retransmit); our own segments are not retransmitted
// (they go straight into the local TUN, which does not lose packets). Never throws on packet bytes.
import { buildTcp, TcpFlags, type IpPacket } from '@postern/ip-packet';
import { DnsTcpDecoder, encodeTcpFrame } from '@postern/dns';
import type { Rng } from '../types';

/** Connections kept at once; a SYN beyond this is answered with RST. */
export const MAX_DNS_TCP_CONNECTIONS = 256;
/** A connection without any segment for this long is forgotten. */
export const DNS_TCP_IDLE_MS = 30_000;
/** Queries waiting for an answer per connection; more are ignored until answers go out. */
export const MAX_QUERIES_PER_CONNECTION = 32;
/** Payload bytes per segment we send (fits the tunnel MTU of 1280 with IPv6 and TCP headers). */
const SEGMENT_PAYLOAD = 1180;

/** A complete query received on connection `conn`, for the sentinel `sentinel` (text form). */
export interface TcpDnsQuery {
  readonly conn: string;
  readonly sentinel: string;
  readonly query: Uint8Array;
}

interface Conn {
  readonly key: string;
  readonly client: Uint8Array;
  readonly server: Uint8Array;
  readonly clientPort: number;
  readonly serverPort: number;
  readonly sentinel: string;
  /** Next sequence number expected from the client. */
  rcvNxt: number;
  /** Our next sequence number. */
  sndNxt: number;
  readonly decoder: DnsTcpDecoder;
  lastSeen: number;
  outstanding: number;
  clientFin: boolean;
  finSent: boolean;
}

const u32 = (v: number): number => v >>> 0;

function readU32(b: Uint8Array, o: number): number {
  return u32(((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0));
}

export class DnsTcpResponder {
  private readonly conns = new Map<string, Conn>();
  private readonly out: Uint8Array[] = [];
  readonly drops: Record<string, number> = {};

  constructor(private readonly rng: Rng) {}

  get size(): number {
    return this.conns.size;
  }

  /** One TCP packet to port 53 of a sentinel. Returns the queries it completed (possibly none). */
  handlePacket(p: IpPacket, now: number): TcpDnsQuery[] {
    if (!p.isTcp() || !p.hasTransport || p.isFragment) return this.drop('notTcp');
    const flags = p.tcpFlags ?? 0;
    const sport = p.sourcePort ?? 0;
    const dport = p.destinationPort ?? 0;
    const t = p.transportOffset;
    const seq = readU32(p.bytes, t + 4);
    const ack = readU32(p.bytes, t + 8);
    const payload = p.transportPayload();
    const key = `${p.sourceText()}|${sport}|${p.destinationText()}|${dport}`;
    let c = this.conns.get(key);

    if ((flags & TcpFlags.RST) !== 0) {
      this.conns.delete(key);
      return [];
    }
    if ((flags & TcpFlags.SYN) !== 0) {
      if ((flags & TcpFlags.ACK) !== 0) return this.reset(p, ack, 0, TcpFlags.RST);
      if (c !== undefined && c.rcvNxt === u32(seq + 1)) {
        // a retransmitted SYN: the same SYN/ACK again
        this.segment(c, u32(c.sndNxt - 1), TcpFlags.SYN | TcpFlags.ACK);
        return [];
      }
      if (c === undefined && this.conns.size >= MAX_DNS_TCP_CONNECTIONS) {
        this.drop('tooManyConnections');
        return this.reset(p, 0, u32(seq + 1 + payload.length), TcpFlags.RST | TcpFlags.ACK);
      }
      const isn = this.rng.nextU32() >>> 0;
      c = {
        key,
        client: p.source(),
        server: p.destination(),
        clientPort: sport,
        serverPort: dport,
        sentinel: p.destinationText(),
        rcvNxt: u32(seq + 1),
        sndNxt: u32(isn + 1),
        decoder: new DnsTcpDecoder(),
        lastSeen: now,
        outstanding: 0,
        clientFin: false,
        finSent: false,
      };
      this.conns.delete(key);
      this.conns.set(key, c);
      this.segment(c, isn, TcpFlags.SYN | TcpFlags.ACK);
      return [];
    }
    if (c === undefined) {
      // not ours (e.g. after a restart): tell the peer
      return (flags & TcpFlags.ACK) !== 0 ? this.reset(p, ack, 0, TcpFlags.RST) : this.reset(p, 0, u32(seq + payload.length), TcpFlags.RST | TcpFlags.ACK);
    }
    c.lastSeen = now;
    const queries: TcpDnsQuery[] = [];
    const fin = (flags & TcpFlags.FIN) !== 0;
    if (payload.length > 0 || fin) {
      if (seq !== c.rcvNxt || c.clientFin) {
        // out of order, a retransmission, or data after FIN: a duplicate ACK
        this.drop('outOfOrder');
        this.segment(c, c.sndNxt, TcpFlags.ACK);
        return [];
      }
      if (payload.length > 0) {
        c.rcvNxt = u32(c.rcvNxt + payload.length);
        for (const query of c.decoder.push(payload)) {
          if (c.outstanding >= MAX_QUERIES_PER_CONNECTION) {
            this.drop('tooManyQueries');
            continue;
          }
          c.outstanding++;
          queries.push({ conn: key, sentinel: c.sentinel, query });
        }
      }
      if (fin) {
        c.rcvNxt = u32(c.rcvNxt + 1);
        c.clientFin = true;
      }
      if (fin && c.outstanding === 0) this.sendFin(c);
      else this.segment(c, c.sndNxt, TcpFlags.ACK);
      return queries;
    }
    // a pure ACK: the end of the handshake, of our data, or of our FIN
    if (c.finSent && c.clientFin && ack === c.sndNxt) this.conns.delete(key);
    return queries;
  }

  /** The answer to one query of connection `conn`; false if the connection is gone or the answer too long. */
  respond(conn: string, response: Uint8Array, now: number): boolean {
    const c = this.conns.get(conn);
    if (c === undefined) return false;
    c.lastSeen = now;
    c.outstanding = Math.max(0, c.outstanding - 1);
    const framed = encodeTcpFrame(response);
    if (framed === undefined) return false;
    for (let off = 0; off < framed.length; off += SEGMENT_PAYLOAD) {
      const chunk = framed.subarray(off, Math.min(framed.length, off + SEGMENT_PAYLOAD));
      this.segment(c, c.sndNxt, TcpFlags.ACK | TcpFlags.PSH, chunk);
      c.sndNxt = u32(c.sndNxt + chunk.length);
    }
    if (c.clientFin && c.outstanding === 0 && !c.finSent) this.sendFin(c);
    return true;
  }

  /** Forgets idle connections. */
  handleTimeout(now: number): void {
    for (const [k, c] of this.conns) if (now - c.lastSeen >= DNS_TCP_IDLE_MS) this.conns.delete(k);
  }

  pollTimeout(): number | undefined {
    let t: number | undefined;
    for (const c of this.conns.values()) {
      const at = c.lastSeen + DNS_TCP_IDLE_MS;
      if (t === undefined || at < t) t = at;
    }
    return t;
  }

  /** Packets for the TUN, in order. */
  pollPacket(): Uint8Array | undefined {
    return this.out.shift();
  }

  private sendFin(c: Conn): void {
    this.segment(c, c.sndNxt, TcpFlags.FIN | TcpFlags.ACK);
    c.sndNxt = u32(c.sndNxt + 1);
    c.finSent = true;
  }

  private segment(c: Conn, seq: number, flags: number, payload?: Uint8Array): void {
    this.out.push(
      buildTcp({
        source: c.server,
        destination: c.client,
        sourcePort: c.serverPort,
        destinationPort: c.clientPort,
        seq,
        ack: c.rcvNxt,
        flags,
        ...(payload === undefined ? {} : { payload }),
      }),
    );
  }

  private reset(p: IpPacket, seq: number, ack: number, flags: number): [] {
    this.out.push(
      buildTcp({
        source: p.destination(),
        destination: p.source(),
        sourcePort: p.destinationPort ?? 0,
        destinationPort: p.sourcePort ?? 0,
        seq,
        ack,
        flags,
        window: 0,
      }),
    );
    return [];
  }

  private drop(reason: string): [] {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
    return [];
  }
}
