// IpPacket: a parsed view over an IPv4 (RFC 791) or IPv6 (RFC 8200) packet in a Uint8Array. Fields are read
// and written in place; after `parse` no accessor that returns a number allocates.
import { cidrContainsAt, formatIp, ipEqualsAt, ipv4ToU32, type Cidr, type IpAddrBytes } from './address';
import { fold, intoUdpChecksum, onesComplementSum, updateChecksum, updateChecksumBytes } from './checksum';
import { IpPacketError } from './errors';
import { ECN_VALUES, Ecn, ICMP_HEADER_LEN, IpProtocol } from './constants';
import { icmpv4FromWire, icmpv6FromWire, ICMPV4_ECHO_REPLY, ICMPV4_ECHO_REQUEST, ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, type Icmpv4Type, type Icmpv6Type } from './icmp';
import { parseHeaders } from './parse';

function u16(b: Uint8Array, o: number): number {
  return ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
}
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

/** Parses `bytes` as an IP packet: the view, or a typed error. Never throws. */
export function parseIpPacket(bytes: Uint8Array): IpPacket | IpPacketError {
  return IpPacket.parse(bytes);
}

export class IpPacket {
  /** The packet's bytes exactly (a view of the input, trimmed to the IP length when the buffer was longer). */
  bytes: Uint8Array;
  version: 4 | 6 = 4;
  /** Upper-layer protocol: IPv4 `protocol`, or IPv6 next header after the extension headers. */
  protocol = 0;
  /** Offset of the upper-layer header (after IPv4 options / IPv6 extension headers). */
  transportOffset = 0;
  /** True when this is a fragment (MF set or offset != 0). */
  isFragment = false;
  /** True when the upper-layer header is present and was validated (not a non-first fragment). */
  hasTransport = false;
  /** True for the lenient view of a packet quoted inside an ICMP error (see `icmpErrorQuote`). */
  isQuote = false;

  private constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** Parses `bytes` (no copy): the view, or a typed error. Never throws. */
  static parse(bytes: Uint8Array): IpPacket | IpPacketError {
    const p = new IpPacket(bytes);
    const err = p.reset(bytes);
    return err ?? p;
  }

  /**
   * Parses the (possibly truncated) packet quoted in an ICMP error: length fields may exceed the bytes present,
   * and the transport is readable when its first 8 bytes are (ports, ICMP identifier). Never throws.
   */
  static parseQuoted(bytes: Uint8Array): IpPacket | IpPacketError {
    const p = new IpPacket(bytes);
    const err = p.reset(bytes, true);
    return err ?? p;
  }

  /**
   * Re-points this view at another packet (for reuse on hot paths); returns an error and leaves it unusable on
   * failure. `quoted` selects the lenient rules of `parseQuoted`.
   */
  reset(buf: Uint8Array, quoted = false): IpPacketError | undefined {
    return parseHeaders(this, buf, quoted);
  }

  /** Total length in bytes. */
  get length(): number {
    return this.bytes.length;
  }
  /** 4 or 16. */
  get addressLength(): 4 | 16 {
    return this.version === 4 ? 4 : 16;
  }
  get sourceOffset(): number {
    return this.version === 4 ? 12 : 8;
  }
  get destinationOffset(): number {
    return this.version === 4 ? 16 : 24;
  }

  // --- addresses ---------------------------------------------------------------------------------------------

  /** A view (no copy) of the source address bytes. */
  source(): IpAddrBytes {
    return this.bytes.subarray(this.sourceOffset, this.sourceOffset + this.addressLength);
  }
  destination(): IpAddrBytes {
    return this.bytes.subarray(this.destinationOffset, this.destinationOffset + this.addressLength);
  }
  sourceText(): string {
    return formatIp(this.bytes, this.sourceOffset, this.version);
  }
  destinationText(): string {
    return formatIp(this.bytes, this.destinationOffset, this.version);
  }
  /** IPv4 source as an unsigned 32-bit number (IPv4 packets only; 0 for IPv6). */
  sourceV4(): number {
    return this.version === 4 ? ipv4ToU32(this.bytes, 12) : 0;
  }
  destinationV4(): number {
    return this.version === 4 ? ipv4ToU32(this.bytes, 16) : 0;
  }
  sourceEquals(addr: IpAddrBytes): boolean {
    return addr.length === this.addressLength && ipEqualsAt(addr, this.bytes, this.sourceOffset);
  }
  destinationEquals(addr: IpAddrBytes): boolean {
    return addr.length === this.addressLength && ipEqualsAt(addr, this.bytes, this.destinationOffset);
  }
  sourceIn(cidr: Cidr): boolean {
    return cidrContainsAt(cidr, this.bytes, this.sourceOffset, this.version);
  }
  destinationIn(cidr: Cidr): boolean {
    return cidrContainsAt(cidr, this.bytes, this.destinationOffset, this.version);
  }

  /** Rewrites the source address in place, fixing the IPv4 header and TCP/UDP/ICMPv6 checksums incrementally. */
  setSource(addr: IpAddrBytes): void {
    this.rewriteAddress(this.sourceOffset, addr);
  }
  /** Rewrites the destination address in place with incremental checksum fix-up (the gateway's DNS NAT). */
  setDestination(addr: IpAddrBytes): void {
    this.rewriteAddress(this.destinationOffset, addr);
  }

  private rewriteAddress(offset: number, addr: IpAddrBytes): void {
    const n = this.addressLength;
    if (addr.length !== n) throw new IpPacketError('FAMILY_MISMATCH', `cannot write a ${addr.length}-byte address into an IPv${this.version} packet`);
    const b = this.bytes;
    if (this.version === 4) put16(b, 10, updateChecksumBytes(u16(b, 10), b, offset, addr, 0, n));
    const co = this.pseudoHeaderChecksumOffset();
    if (co !== -1) {
      const old = u16(b, co);
      // A UDP/IPv4 checksum of 0 means "none": keep it so.
      if (!(old === 0 && this.protocol === IpProtocol.UDP && this.version === 4)) {
        const upd = updateChecksumBytes(old, b, offset, addr, 0, n);
        put16(b, co, this.protocol === IpProtocol.UDP ? intoUdpChecksum(upd) : upd);
      }
    }
    b.set(addr, offset);
  }

  /** Offset of a transport checksum that covers the pseudo-header (TCP, UDP, ICMPv6), else -1 (also when a quote cut it off). */
  private pseudoHeaderChecksumOffset(): number {
    if (!this.hasTransport) return -1;
    const t = this.transportOffset;
    let co: number;
    switch (this.protocol) {
      case IpProtocol.TCP:
        co = t + 16;
        break;
      case IpProtocol.UDP:
        co = t + 6;
        break;
      case IpProtocol.ICMPV6:
        co = t + 2;
        break;
      default:
        return -1;
    }
    return co + 2 <= this.bytes.length ? co : -1;
  }

  /** Offset of the transport checksum field (TCP, UDP, ICMP, ICMPv6), else -1. */
  private transportChecksumOffset(): number {
    if (!this.hasTransport) return -1;
    return this.protocol === IpProtocol.ICMP ? this.transportOffset + 2 : this.pseudoHeaderChecksumOffset();
  }

  // --- IP header fields ----------------------------------------------------------------------------------------

  /** TTL (IPv4) or hop limit (IPv6). */
  get ttl(): number {
    return this.bytes[this.version === 4 ? 8 : 7] ?? 0;
  }
  set ttl(value: number) {
    const b = this.bytes;
    if (this.version === 4) {
      const old = u16(b, 8);
      b[8] = value & 0xff;
      put16(b, 10, updateChecksum(u16(b, 10), old, u16(b, 8)));
    } else {
      b[7] = value & 0xff;
    }
  }
  get ecn(): Ecn {
    const b1 = this.bytes[1] ?? 0;
    return ECN_VALUES[this.version === 4 ? b1 & 3 : (b1 >> 4) & 3] ?? Ecn.NonEct;
  }
  /** Sets the ECN bits (fixing the IPv4 header checksum). */
  setEcn(ecn: Ecn): void {
    const b = this.bytes;
    if (this.version === 4) {
      const old = u16(b, 0);
      b[1] = ((b[1] ?? 0) & 0xfc) | ecn;
      put16(b, 10, updateChecksum(u16(b, 10), old, u16(b, 0)));
    } else {
      b[1] = ((b[1] ?? 0) & 0xcf) | (ecn << 4);
    }
  }
  /**
   * RFC 6040 decapsulation: a CE mark on the outer (transport) packet is copied to an ECN-capable inner
   * packet; other outer values never change the inner one (Not-ECT does not clear ECT).
   */
  setEcnFromTransport(outer: Ecn): void {
    if (outer === Ecn.Ce && this.ecn !== Ecn.NonEct) this.setEcn(Ecn.Ce);
  }

  // --- transport ------------------------------------------------------------------------------------------------

  isTcp(): boolean {
    return this.hasTransport && this.protocol === IpProtocol.TCP;
  }
  isUdp(): boolean {
    return this.hasTransport && this.protocol === IpProtocol.UDP;
  }
  /** ICMP in IPv4 or ICMPv6 in IPv6. */
  isIcmp(): boolean {
    return this.hasTransport && (this.protocol === IpProtocol.ICMP || this.protocol === IpProtocol.ICMPV6);
  }
  private hasPorts(): boolean {
    return this.hasTransport && (this.protocol === IpProtocol.TCP || this.protocol === IpProtocol.UDP);
  }
  /** TCP/UDP source port, else undefined. */
  get sourcePort(): number | undefined {
    return this.hasPorts() ? u16(this.bytes, this.transportOffset) : undefined;
  }
  get destinationPort(): number | undefined {
    return this.hasPorts() ? u16(this.bytes, this.transportOffset + 2) : undefined;
  }
  /** Rewrites the TCP/UDP source port in place with incremental checksum fix-up. */
  setSourcePort(port: number): void {
    this.rewriteTransportWord(0, port, 'port');
  }
  setDestinationPort(port: number): void {
    this.rewriteTransportWord(2, port, 'port');
  }

  private rewriteTransportWord(rel: number, value: number, what: 'port' | 'icmp_id'): void {
    const ok = what === 'port' ? this.hasPorts() : this.icmpIdentifier !== undefined;
    if (!ok) throw new IpPacketError('NO_TRANSPORT', `packet has no ${what === 'port' ? 'TCP/UDP ports' : 'ICMP echo identifier'}`);
    const b = this.bytes;
    const o = this.transportOffset + rel;
    const old = u16(b, o);
    const v = value & 0xffff;
    const co = this.transportChecksumOffset();
    const oldSum = co === -1 ? 0 : u16(b, co);
    if (co !== -1 && !(oldSum === 0 && this.protocol === IpProtocol.UDP && this.version === 4)) {
      const upd = updateChecksum(oldSum, old, v);
      put16(b, co, this.protocol === IpProtocol.UDP ? intoUdpChecksum(upd) : upd);
    }
    put16(b, o, v);
  }

  /** TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10), else undefined. */
  get tcpFlags(): number | undefined {
    return this.isTcp() ? (this.bytes[this.transportOffset + 13] ?? 0) : undefined;
  }
  get icmpType(): number | undefined {
    return this.isIcmp() ? (this.bytes[this.transportOffset] ?? 0) : undefined;
  }
  get icmpCode(): number | undefined {
    return this.isIcmp() ? (this.bytes[this.transportOffset + 1] ?? 0) : undefined;
  }
  private isEcho(): boolean {
    const t = this.icmpType;
    if (t === undefined || this.icmpCode !== 0) return false;
    return this.version === 4 ? t === ICMPV4_ECHO_REQUEST || t === ICMPV4_ECHO_REPLY : t === ICMPV6_ECHO_REQUEST || t === ICMPV6_ECHO_REPLY;
  }
  /** Identifier of an ICMP/ICMPv6 echo request/reply (NAT uses it like a port), else undefined. */
  get icmpIdentifier(): number | undefined {
    return this.isEcho() ? u16(this.bytes, this.transportOffset + 4) : undefined;
  }
  get icmpSequence(): number | undefined {
    return this.isEcho() ? u16(this.bytes, this.transportOffset + 6) : undefined;
  }
  setIcmpIdentifier(id: number): void {
    this.rewriteTransportWord(4, id, 'icmp_id');
  }
  /** Decoded ICMPv4 type (allocates), or undefined when this is not ICMPv4. */
  icmpv4(): Icmpv4Type | undefined {
    if (!this.isIcmp() || this.version !== 4) return undefined;
    const t = this.transportOffset;
    return icmpv4FromWire(this.bytes[t] ?? 0, this.bytes[t + 1] ?? 0, this.bytes.subarray(t + 4, t + 8));
  }
  icmpv6(): Icmpv6Type | undefined {
    if (!this.isIcmp() || this.version !== 6) return undefined;
    const t = this.transportOffset;
    return icmpv6FromWire(this.bytes[t] ?? 0, this.bytes[t + 1] ?? 0, this.bytes.subarray(t + 4, t + 8));
  }
  /** Whether this is an ICMP error message (about another packet) rather than an informational one. */
  isIcmpError(): boolean {
    const t = this.icmpType;
    if (t === undefined) return false;
    return this.version === 4 ? t === 3 || t === 4 || t === 5 || t === 11 || t === 12 : t < 128;
  }

  /**
   * For an ICMP/ICMPv6 error: a lenient view of the packet it quotes (see `parseQuoted`). The view shares this
   * packet's bytes, so its setters rewrite the quote in place (inner checksums fixed incrementally where present);
   * call `updateChecksums()` on this packet afterwards to fix the outer ICMP checksum. Used to NAT ICMP errors.
   */
  icmpErrorQuote(): IpPacket | IpPacketError {
    if (!this.isIcmpError()) return new IpPacketError('NOT_ICMP_ERROR', 'not an ICMP error message');
    return IpPacket.parseQuoted(this.bytes.subarray(this.transportOffset + ICMP_HEADER_LEN));
  }

  /** View of everything after the IP header(s): the transport header and its payload. */
  ipPayload(): Uint8Array {
    return this.bytes.subarray(this.transportOffset);
  }
  /** Length of the transport header (TCP with options, 8 for UDP and ICMP), 0 without a parsed transport. */
  get transportHeaderLength(): number {
    if (!this.hasTransport) return 0;
    if (this.protocol === IpProtocol.TCP) return ((this.bytes[this.transportOffset + 12] ?? 0) >> 4) * 4;
    return 8;
  }
  /** View of the TCP/UDP/ICMP payload (after the transport header); the whole IP payload for other protocols. */
  transportPayload(): Uint8Array {
    return this.bytes.subarray(this.transportOffset + this.transportHeaderLength);
  }

  // --- checksums ---------------------------------------------------------------------------------------------

  private pseudoHeaderSum(): number {
    const b = this.bytes;
    const len = b.length - this.transportOffset;
    let s = onesComplementSum(b, this.sourceOffset, this.destinationOffset + this.addressLength);
    s += this.protocol + (len & 0xffff) + Math.floor(len / 0x10000);
    return fold(s);
  }

  /** Recomputes the IPv4 header checksum and the transport checksum from scratch (not for fragments). */
  updateChecksums(): void {
    const b = this.bytes;
    if (this.version === 4) {
      put16(b, 10, 0);
      put16(b, 10, ~onesComplementSum(b, 0, this.transportOffset) & 0xffff);
    }
    if (this.isFragment || this.isQuote) return;
    const co = this.transportChecksumOffset();
    if (co === -1) return;
    put16(b, co, 0);
    const initial = this.protocol === IpProtocol.ICMP ? 0 : this.pseudoHeaderSum();
    const c = ~onesComplementSum(b, this.transportOffset, b.length, initial) & 0xffff;
    put16(b, co, this.protocol === IpProtocol.UDP ? intoUdpChecksum(c) : c);
  }

  /** Whether the IPv4 header checksum is valid (always true for IPv6, which has none). */
  ipv4HeaderChecksumValid(): boolean {
    return this.version === 6 || onesComplementSum(this.bytes, 0, this.transportOffset) === 0xffff;
  }
  /**
   * Whether the transport checksum is valid; true when there is none to check (other protocols, fragments,
   * UDP/IPv4 with checksum 0).
   */
  transportChecksumValid(): boolean {
    if (this.isFragment || this.isQuote) return true;
    const co = this.transportChecksumOffset();
    if (co === -1) return true;
    if (this.protocol === IpProtocol.UDP && this.version === 4 && u16(this.bytes, co) === 0) return true;
    const initial = this.protocol === IpProtocol.ICMP ? 0 : this.pseudoHeaderSum();
    return onesComplementSum(this.bytes, this.transportOffset, this.bytes.length, initial) === 0xffff;
  }
  checksumsValid(): boolean {
    return this.ipv4HeaderChecksumValid() && this.transportChecksumValid();
  }

  /** A copy of this packet's bytes in a fresh buffer, parsed. */
  clone(): IpPacket {
    const p = new IpPacket(Uint8Array.from(this.bytes));
    p.version = this.version;
    p.protocol = this.protocol;
    p.transportOffset = this.transportOffset;
    p.isFragment = this.isFragment;
    p.hasTransport = this.hasTransport;
    p.isQuote = this.isQuote;
    return p;
  }
}
