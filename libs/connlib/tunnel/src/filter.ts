// Port/protocol filters of a resource (Firezone `FilterEngine`): an empty list permits everything;
// otherwise TCP/UDP are allowed iff the destination port lies in a range of that protocol, any ICMP message
// iff an icmp filter exists, and every other protocol is denied.
import { IpProtocol, type IpPacket } from '@postern/ip-packet';
import type { Filters } from '@postern/model';

export class FilterEngine {
  private constructor(
    private readonly permitAll: boolean,
    /** Flattened inclusive ranges: [start0, end0, start1, end1, ...]. */
    private readonly tcp: Uint16Array,
    private readonly udp: Uint16Array,
    private readonly icmp: boolean,
  ) {}

  static readonly PERMIT_ALL = new FilterEngine(true, new Uint16Array(0), new Uint16Array(0), true);
  static readonly DENY_ALL = new FilterEngine(false, new Uint16Array(0), new Uint16Array(0), false);

  static from(filters: Filters): FilterEngine {
    if (filters.length === 0) return FilterEngine.PERMIT_ALL;
    const tcp: number[] = [];
    const udp: number[] = [];
    let icmp = false;
    for (const f of filters) {
      if (f.protocol === 'icmp') icmp = true;
      else (f.protocol === 'tcp' ? tcp : udp).push(f.port_range_start, f.port_range_end);
    }
    return new FilterEngine(false, Uint16Array.from(tcp), Uint16Array.from(udp), icmp);
  }

  /** A PermitSome engine from explicit rules (ranges as [start, end] pairs); no rules at all denies everything. */
  static fromRules(rules: { readonly tcp: readonly (readonly [number, number])[]; readonly udp: readonly (readonly [number, number])[]; readonly icmp: boolean }): FilterEngine {
    return new FilterEngine(false, Uint16Array.from(rules.tcp.flat()), Uint16Array.from(rules.udp.flat()), rules.icmp);
  }

  get permitsAll(): boolean {
    return this.permitAll;
  }

  /** Whether a packet from a client to the resource passes (destination port is checked). */
  allows(packet: IpPacket): boolean {
    if (this.permitAll) return true;
    switch (packet.protocol) {
      case IpProtocol.TCP:
        return inRanges(this.tcp, packet.destinationPort);
      case IpProtocol.UDP:
        return inRanges(this.udp, packet.destinationPort);
      case IpProtocol.ICMP:
      case IpProtocol.ICMPV6:
        return this.icmp;
      default:
        return false;
    }
  }

  /** The same decision from parts (protocol name and destination port), for models and tests. */
  allowsParts(protocol: 'tcp' | 'udp' | 'icmp' | 'other', port: number): boolean {
    if (this.permitAll) return true;
    if (protocol === 'icmp') return this.icmp;
    if (protocol === 'other') return false;
    return inRanges(protocol === 'tcp' ? this.tcp : this.udp, port);
  }
}

function inRanges(ranges: Uint16Array, port: number | undefined): boolean {
  if (port === undefined) return false; // non-first fragment: no port to check
  for (let i = 0; i + 1 < ranges.length; i += 2) {
    if (port >= (ranges[i] ?? 1) && port <= (ranges[i + 1] ?? 0)) return true;
  }
  return false;
}
