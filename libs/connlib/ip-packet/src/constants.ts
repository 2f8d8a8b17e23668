// Protocol numbers, ECN codepoints and header sizes.

/** IP protocol numbers (IANA) this package understands. */
export const IpProtocol = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58, FZ_P2P_CONTROL: 255 } as const;

/** ECN codepoints (RFC 3168): Not-ECT 0b00, ECT(1) 0b01, ECT(0) 0b10, CE 0b11. */
export const Ecn = { NonEct: 0, Ect1: 1, Ect0: 2, Ce: 3 } as const;
export type Ecn = (typeof Ecn)[keyof typeof Ecn];
export const ECN_VALUES: readonly Ecn[] = [Ecn.NonEct, Ecn.Ect1, Ecn.Ect0, Ecn.Ce];

export const IPV4_HEADER_LEN = 20;
export const IPV6_HEADER_LEN = 40;
export const UDP_HEADER_LEN = 8;
export const TCP_HEADER_MIN_LEN = 20;
export const ICMP_HEADER_LEN = 8;

export const EXT_HOP_BY_HOP = 0;
export const EXT_ROUTING = 43;
export const EXT_FRAGMENT = 44;
export const EXT_DEST_OPTS = 60;
export const MAX_EXT_HEADERS = 8;
