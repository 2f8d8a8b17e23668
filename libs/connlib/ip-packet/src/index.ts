// @postern/ip-packet: IPv4/IPv6/TCP/UDP/ICMP views over Uint8Array, builders, checksums, ICMP errors,
// Firezone's p2p control packets, and address/CIDR helpers for routing.
export { IpPacketError, type IpPacketErrorCode } from './errors';
export { fold, onesComplementSum, internetChecksum, updateChecksum, updateChecksumBytes, intoUdpChecksum } from './checksum';
export {
  type IpAddrBytes,
  type Cidr,
  ipFamily,
  parseIpv4,
  parseIpv6,
  parseIp,
  formatIp,
  ipv4ToU32,
  u32ToIpv4,
  ipEquals,
  ipEqualsAt,
  compareIp,
  maskAddress,
  parseCidr,
  makeCidr,
  formatCidr,
  cidrContains,
  cidrContainsAt,
  cidrContainsCidr,
  cidrOverlaps,
  comparePrefix,
  commonPrefixLength,
} from './address';
export {
  type Icmpv4Type,
  type Icmpv4Unreachable,
  type Icmpv6Type,
  type Icmpv6Unreachable,
  type IcmpWire,
  icmpv4FromWire,
  icmpv4ToWire,
  icmpv6FromWire,
  icmpv6ToWire,
} from './icmp';
export { IpPacket, parseIpPacket } from './packet';
export {
  IpProtocol,
  Ecn,
  IPV4_HEADER_LEN,
  IPV6_HEADER_LEN,
  UDP_HEADER_LEN,
  TCP_HEADER_MIN_LEN,
  ICMP_HEADER_LEN,
} from './constants';
export {
  type IpHeaderSpec,
  type UdpSpec,
  type TcpSpec,
  type Icmpv4Spec,
  type Icmpv6Spec,
  type EchoSpec,
  TcpFlags,
  buildIpPacket,
  buildUdp,
  buildTcp,
  buildIcmpv4,
  buildIcmpv6,
  buildEchoRequest,
  buildEchoReply,
} from './build';
export { type UnreachableReason, type UnreachableOptions, buildDestinationUnreachable } from './icmp-error';
export {
  type P2pControlEvent,
  type NatStatus,
  P2pEventType,
  P2P_CONTROL_HEADER_LEN,
  isP2pControl,
  p2pControlFrame,
  encodeP2pControlBody,
  encodeP2pControl,
  decodeP2pControl,
  decodeP2pControlBytes,
} from './p2p-control';
