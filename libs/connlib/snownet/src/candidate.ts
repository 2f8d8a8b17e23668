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
  return { foundation, component: comp, priority: prio, addr, type: candidateType, sdp };
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
