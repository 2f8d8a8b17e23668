// Thin wrappers over dns-packet: decode without throwing, build responses to a query, header bits.
import * as dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Question } from 'dns-packet';

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;
export type Rcode = (typeof RCODE)[keyof typeof RCODE];

const OPCODE_QUERY = 0;
const HEADER_LEN = 12;

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes a DNS message; undefined if dns-packet rejects it. */
export function decodeMessage(bytes: Uint8Array): DecodedPacket | undefined {
  if (bytes.byteLength < HEADER_LEN) return undefined;
  try {
    return dnsPacket.decode(asBuffer(bytes));
  } catch {
    return undefined;
  }
}

export function encodeMessage(packet: dnsPacket.Packet): Uint8Array | undefined {
  try {
    return new Uint8Array(dnsPacket.encode(packet));
  } catch {
    return undefined;
  }
}

export function rcodeOf(p: DecodedPacket): number {
  return (p.flags ?? 0) & 0xf;
}

export function opcodeOf(p: DecodedPacket): number {
  return ((p.flags ?? 0) >> 11) & 0xf;
}

/** The record type of a question as a string; dns-packet names unknown ones `UNKNOWN_<n>` (HTTPS is 65). */
export function questionType(q: Question): string {
  const t: string = q.type;
  return t === 'UNKNOWN_65' ? 'HTTPS' : t;
}

export function isStandardQuery(p: DecodedPacket): boolean {
  return !p.flag_qr && opcodeOf(p) === OPCODE_QUERY;
}

/**
 * A response to `query`: same id and question, RD copied, RA set, the given rcode and answers. Returns
 * undefined only if dns-packet cannot encode it (names we did not validate).
 */
export function buildResponse(query: DecodedPacket, rcode: number, answers: Answer[] = []): Uint8Array | undefined {
  const rd = query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0;
  const cd = query.flag_cd ? dnsPacket.CHECKING_DISABLED : 0;
  return encodeMessage({
    id: query.id ?? 0,
    type: 'response',
    flags: rd | cd | dnsPacket.RECURSION_AVAILABLE | (rcode & 0xf),
    questions: query.questions ?? [],
    answers,
  });
}

/**
 * A header-only error response for bytes that did not decode: FORMERR with the query's id. Undefined when
 * not even a header is there or the bytes already are a response (never answer a response).
 */
export function formErrFor(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.byteLength < HEADER_LEN) return undefined;
  // dns-packet has no partial decode; the header is fixed-format (RFC 1035 section 4.1.1).
  const id = ((bytes[0] ?? 0) << 8) | (bytes[1] ?? 0);
  const flags = ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0);
  if ((flags & 0x8000) !== 0) return undefined;
  return encodeMessage({
    id,
    type: 'response',
    flags: (flags & dnsPacket.RECURSION_DESIRED) | RCODE.FORMERR,
    questions: [],
  });
}

/** The response with TC set and no records, if `response` is longer than `maxSize` bytes; else itself. */
export function truncateResponse(response: Uint8Array, maxSize: number): Uint8Array {
  if (response.byteLength <= maxSize) return response;
  const p = decodeMessage(response);
  if (!p) return response.subarray(0, 0);
  const truncated = encodeMessage({
    id: p.id ?? 0,
    type: 'response',
    flags: (p.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE,
    questions: p.questions ?? [],
  });
  return truncated ?? response.subarray(0, 0);
}

/** The classic UDP limit of a DNS message without EDNS (RFC 1035). */
export const CLASSIC_UDP_LIMIT = 512;

/**
 * The largest DNS message sent over UDP through the tunnel: what one IPv6 packet of the tunnel's MTU (1280)
 * carries after the IP and UDP headers (also DNS flag day 2020's EDNS size). Larger answers go out truncated
 * (TC=1) and the asker asks again over TCP.
 */
export const MAX_UDP_DNS_PAYLOAD = 1232;

/** The largest UDP answer to send the sender of `query`: its EDNS(0) payload size (at least 512; else 512), at most `cap`. */
export function udpPayloadLimit(query: Uint8Array, cap = MAX_UDP_DNS_PAYLOAD): number {
  const p = decodeMessage(query);
  const opt = p?.additionals?.find((r) => r.type === 'OPT');
  const size = opt !== undefined && 'udpPayloadSize' in opt && typeof opt.udpPayloadSize === 'number' ? opt.udpPayloadSize : CLASSIC_UDP_LIMIT;
  return Math.min(cap, Math.max(CLASSIC_UDP_LIMIT, size));
}

/** The TC (truncated) bit of a DNS message's header. */
export function isTruncated(message: Uint8Array): boolean {
  return message.byteLength >= HEADER_LEN && ((message[2] ?? 0) & 0x02) !== 0;
}
