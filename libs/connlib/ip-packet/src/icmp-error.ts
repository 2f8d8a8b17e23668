// ICMP "destination unreachable" answers built from the offending packet (RFC 792, RFC 4443 §3.1).
import { type IpAddrBytes } from './address';
import { buildIcmpv4, buildIcmpv6 } from './build';
import { type Icmpv4Unreachable, type Icmpv6Unreachable } from './icmp';
import { type IpPacket } from './packet';

/** Why a packet is refused: a filter/policy (`prohibited`) or no route / forbidden destination (`network_unreachable`). */
export type UnreachableReason = 'prohibited' | 'network_unreachable';

/** An ICMP error must fit the minimum MTU: 576 bytes for IPv4 (RFC 1812 §4.3.2.3), 1280 for IPv6 (RFC 4443 §2.4). */
const MAX_V4 = 576;
const MAX_V6 = 1280;

export interface UnreachableOptions {
  /** Source of the ICMP message; default the offending packet's destination (we answer "as" the resource). */
  readonly source?: IpAddrBytes;
  readonly hopLimit?: number;
}

/**
 * Builds the ICMP(v6) destination unreachable message answering `offending`: to its source, quoting as much
 * of it as fits the minimum MTU. IPv4: type 3, code 13 (communication administratively prohibited) or 0
 * (network unreachable). IPv6: type 1, code 1 (administratively prohibited) or 0 (no route to destination).
 * Returns undefined when no error may be sent (RFC 1122 §3.2.2: never about an ICMP error or a non-first fragment).
 */
export function buildDestinationUnreachable(offending: IpPacket, reason: UnreachableReason, options: UnreachableOptions = {}): Uint8Array | undefined {
  if (offending.isIcmpError()) return undefined;
  if (offending.isFragment && !offending.hasTransport) return undefined;
  const source = options.source ?? offending.destination();
  const destination = offending.source();
  const hop = options.hopLimit ?? 64;
  if (offending.version === 4) {
    const quote = offending.bytes.subarray(0, Math.min(offending.length, MAX_V4 - 28));
    const unreachable: Icmpv4Unreachable = { reason: reason === 'prohibited' ? 'admin_prohibited' : 'network' };
    return buildIcmpv4({ source, destination, hopLimit: hop, icmp: { kind: 'destination_unreachable', unreachable }, payload: quote });
  }
  const quote = offending.bytes.subarray(0, Math.min(offending.length, MAX_V6 - 48));
  const unreachable: Icmpv6Unreachable = { reason: reason === 'prohibited' ? 'admin_prohibited' : 'no_route' };
  return buildIcmpv6({ source, destination, hopLimit: hop, icmp: { kind: 'destination_unreachable', unreachable }, payload: quote });
}
