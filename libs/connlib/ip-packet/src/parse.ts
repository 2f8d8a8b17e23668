// Header parsing (RFC 791, RFC 8200 §4): validates lengths and walks IPv6 extension headers to the upper layer.
import {
  EXT_DEST_OPTS,
  EXT_FRAGMENT,
  EXT_HOP_BY_HOP,
  EXT_ROUTING,
  ICMP_HEADER_LEN,
  IpProtocol,
  IPV4_HEADER_LEN,
  IPV6_HEADER_LEN,
  MAX_EXT_HEADERS,
  TCP_HEADER_MIN_LEN,
  UDP_HEADER_LEN,
} from './constants';
import { IpPacketError } from './errors';

/** The fields `parseHeaders` fills in (IpPacket's public layout). */
export interface ParsedFields {
  bytes: Uint8Array;
  version: 4 | 6;
  protocol: number;
  transportOffset: number;
  isFragment: boolean;
  hasTransport: boolean;
  isQuote: boolean;
}

function u16(b: Uint8Array, o: number): number {
  return ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
}

/** Fills `p` from `buf`; a typed error (never thrown) when `buf` is not a packet. `quoted`: see IpPacket.parseQuoted. */
export function parseHeaders(p: ParsedFields, buf: Uint8Array, quoted: boolean): IpPacketError | undefined {
    p.bytes = buf;
    p.hasTransport = false;
    p.isFragment = false;
    p.isQuote = quoted;
    if (buf.length === 0) return new IpPacketError('EMPTY', 'empty packet');
    const version = (buf[0] ?? 0) >> 4;
    let end: number;
    if (version === 4) {
      if (buf.length < IPV4_HEADER_LEN) return new IpPacketError('TOO_SHORT', `IPv4 packet of ${buf.length} bytes`);
      const ihl = ((buf[0] ?? 0) & 0x0f) * 4;
      if (ihl < IPV4_HEADER_LEN) return new IpPacketError('BAD_HEADER_LENGTH', `IPv4 header length ${ihl}`);
      const total = u16(buf, 2);
      if (ihl > buf.length) return new IpPacketError('TOO_SHORT', `IPv4 header of ${ihl} bytes in ${buf.length}`);
      if (total < ihl || (total > buf.length && !quoted)) {
        return new IpPacketError('BAD_TOTAL_LENGTH', `IPv4 total length ${total} with header ${ihl} in ${buf.length} bytes`);
      }
      end = Math.min(total, buf.length);
      p.version = 4;
      p.protocol = buf[9] ?? 0;
      p.transportOffset = ihl;
      const frag = u16(buf, 6);
      const offset = frag & 0x1fff;
      p.isFragment = (frag & 0x2000) !== 0 || offset !== 0;
      p.hasTransport = offset === 0;
    } else if (version === 6) {
      if (buf.length < IPV6_HEADER_LEN) return new IpPacketError('TOO_SHORT', `IPv6 packet of ${buf.length} bytes`);
      end = IPV6_HEADER_LEN + u16(buf, 4);
      if (quoted) end = Math.min(end, buf.length);
      if (end > buf.length) return new IpPacketError('BAD_TOTAL_LENGTH', `IPv6 payload length ${end - IPV6_HEADER_LEN} in ${buf.length} bytes`);
      p.version = 6;
      let nh = buf[6] ?? 0;
      let off = IPV6_HEADER_LEN;
      let firstFragment = true;
      for (let i = 0; ; i++) {
        if (nh !== EXT_HOP_BY_HOP && nh !== EXT_ROUTING && nh !== EXT_DEST_OPTS && nh !== EXT_FRAGMENT) break;
        if (i === MAX_EXT_HEADERS || off + 8 > end) return new IpPacketError('BAD_EXTENSION_HEADER', `extension header ${nh} at ${off} overruns ${end}`);
        if (nh === EXT_FRAGMENT) {
          const fo = u16(buf, off + 2);
          p.isFragment = true;
          if (fo >> 3 !== 0) firstFragment = false;
          nh = buf[off] ?? 0;
          off += 8;
        } else {
          const len = ((buf[off + 1] ?? 0) + 1) * 8;
          nh = buf[off] ?? 0;
          off += len;
        }
        if (off > end) return new IpPacketError('BAD_EXTENSION_HEADER', `extension headers end at ${off} past ${end}`);
      }
      p.protocol = nh;
      p.transportOffset = off;
      p.hasTransport = firstFragment;
    } else {
      return new IpPacketError('BAD_VERSION', `IP version ${version}`);
    }
    if (end < buf.length) p.bytes = buf.subarray(0, end);
    if (p.hasTransport && quoted) {
      const proto = p.protocol;
      const known = proto === IpProtocol.TCP || proto === IpProtocol.UDP || (proto === IpProtocol.ICMP && p.version === 4) || (proto === IpProtocol.ICMPV6 && p.version === 6);
      p.hasTransport = known && end - p.transportOffset >= 8;
    } else if (p.hasTransport) {
      const t = p.transportOffset;
      const avail = end - t;
      switch (p.protocol) {
        case IpProtocol.TCP: {
          const dataOffset = avail >= TCP_HEADER_MIN_LEN ? ((buf[t + 12] ?? 0) >> 4) * 4 : 0;
          if (dataOffset < TCP_HEADER_MIN_LEN || dataOffset > avail) {
            return new IpPacketError('TRUNCATED_TRANSPORT', `TCP header (data offset ${dataOffset}) in ${avail} bytes`);
          }
          break;
        }
        case IpProtocol.UDP: {
          if (avail < UDP_HEADER_LEN) return new IpPacketError('TRUNCATED_TRANSPORT', `UDP header in ${avail} bytes`);
          const len = u16(buf, t + 4);
          if (!p.isFragment && (len < UDP_HEADER_LEN || len > avail)) {
            return new IpPacketError('TRUNCATED_TRANSPORT', `UDP length ${len} in ${avail} bytes`);
          }
          break;
        }
        case IpProtocol.ICMP:
        case IpProtocol.ICMPV6:
          if ((p.protocol === IpProtocol.ICMP) !== (p.version === 4)) {
            p.hasTransport = false; // ICMP in IPv6 / ICMPv6 in IPv4: carried opaquely
            break;
          }
          if (avail < ICMP_HEADER_LEN) return new IpPacketError('TRUNCATED_TRANSPORT', `ICMP header in ${avail} bytes`);
          break;
        default:
          p.hasTransport = false;
      }
    }
    return undefined;
}
