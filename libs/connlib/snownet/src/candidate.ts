// ICE candidates as SDP attribute strings (RFC 8839 §5.1): what the portal relays between peers.
// `candidate:<foundation> <component> <transport> <priority> <ip> <port> typ <type> [raddr <ip> rport <port>]`
import { netAddr, type NetAddr } from './addr';

export type CandidateType = 'host' | 'srflx' | 'prflx' | 'relay';

export interface Candidate {
  readonly foundation: string;
  readonly component: number;
  readonly priority: number;
  readonly addr: NetAddr;
  readonly type: CandidateType;
  /** The SDP string it was parsed from (or formatted to). */
  readonly sdp: string;
  /** `raddr`/`rport` when present (srflx/relay base). */
  readonly related?: NetAddr;
}

const TYPES: readonly string[] = ['host', 'srflx', 'prflx', 'relay'];

/** Parses a UDP candidate; undefined for anything else (TCP candidates, garbage). */
export function parseCandidate(sdp: string): Candidate | undefined {
  const text = sdp.startsWith('a=') ? sdp.slice(2) : sdp;
  if (!text.startsWith('candidate:')) return undefined;
  const f = text.slice('candidate:'.length).trim().split(/\s+/);
  const [foundation, component, transport, priority, ip, port, typ, type] = f;
  if (foundation === undefined || component === undefined || transport === undefined || priority === undefined) return undefined;
  if (ip === undefined || port === undefined || typ !== 'typ' || type === undefined) return undefined;
  if (transport.toLowerCase() !== 'udp' || !TYPES.includes(type)) return undefined;
  const prio = Number(priority);
  const comp = Number(component);
  if (!Number.isInteger(prio) || prio < 0 || !Number.isInteger(comp)) return undefined;
  const addr = netAddr(ip, Number(port));
  if (addr === undefined) return undefined;
  const candidateType: CandidateType = type === 'host' ? 'host' : type === 'srflx' ? 'srflx' : type === 'prflx' ? 'prflx' : 'relay';
  const related = parseRelated(f.slice(8));
  return { foundation, component: comp, priority: prio, addr, type: candidateType, sdp, ...(related === undefined ? {} : { related }) };
}

function parseRelated(rest: readonly string[]): NetAddr | undefined {
  const i = rest.indexOf('raddr');
  const j = rest.indexOf('rport');
  const ip = rest[i + 1];
  const port = rest[j + 1];
  if (i === -1 || j === -1 || ip === undefined || port === undefined) return undefined;
  return netAddr(ip, Number(port));
}

/** RFC 8445 §5.1.2.2 recommended type preferences. */
export const TYPE_PREFERENCE: Readonly<Record<CandidateType, number>> = { host: 126, prflx: 110, srflx: 100, relay: 0 };

/** RFC 8445 §5.1.2.1: (2^24)*type preference + (2^8)*local preference + (256 - component). */
export function candidatePriority(type: CandidateType, component = 1, localPreference = 65535): number {
  return TYPE_PREFERENCE[type] * 0x100_0000 + (localPreference << 8) + (256 - component);
}

/** Any UDP candidate as an SDP string; srflx/relay carry `raddr`/`rport` of their base. */
export function formatCandidate(type: CandidateType, addr: NetAddr, related?: NetAddr, component = 1): string {
  if (type === 'host' && related === undefined) return formatHostCandidate(addr, component);
  const foundation = String(fnv1a(`${type}:${related?.address ?? addr.address}`));
  const tail = related === undefined ? '' : ` raddr ${related.address} rport ${String(related.port)}`;
  return `candidate:${foundation} ${String(component)} udp ${String(candidatePriority(type, component))} ${addr.address} ${String(addr.port)} typ ${type}${tail}`;
}

/** RFC 8445 §5.1.2.1 priority with the recommended type preferences (host 126) and local preference 65535. */
export function hostCandidatePriority(component = 1, localPreference = 65535): number {
  return (126 << 24) + (localPreference << 8) + (256 - component);
}

/** A host candidate SDP string for a local socket address. */
export function formatHostCandidate(addr: NetAddr, component = 1): string {
  const foundation = String(fnv1a(`host:${addr.address}`));
  return `candidate:${foundation} ${String(component)} udp ${String(hostCandidatePriority(component))} ${addr.address} ${String(addr.port)} typ host`;
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
