// STUN/TURN/ICE attributes: the typed union and the value codecs (RFC 8489 §14, RFC 8656 §18, RFC 8445 §16).
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6, type TransportAddress } from './address';
import { AttrType, MAGIC_COOKIE } from './constants';

export type AddressAttributeName = 'MAPPED-ADDRESS' | 'XOR-MAPPED-ADDRESS' | 'XOR-RELAYED-ADDRESS' | 'XOR-PEER-ADDRESS';
export type TextAttributeName = 'USERNAME' | 'REALM' | 'NONCE' | 'SOFTWARE';

type AddressAttribute<N extends AddressAttributeName> = N extends unknown ? { readonly name: N; readonly address: TransportAddress } : never;
type TextAttribute<N extends TextAttributeName> = N extends unknown ? { readonly name: N; readonly value: string } : never;

/** One attribute, decoded. Attributes the codec does not know are kept as `UNKNOWN` with their raw value. */
export type Attribute =
  | AddressAttribute<AddressAttributeName>
  | TextAttribute<TextAttributeName>
  | { readonly name: 'MESSAGE-INTEGRITY'; readonly hmac: Uint8Array }
  | { readonly name: 'MESSAGE-INTEGRITY-SHA256'; readonly hmac: Uint8Array }
  | { readonly name: 'FINGERPRINT'; readonly crc: number }
  | { readonly name: 'ERROR-CODE'; readonly code: number; readonly reason: string }
  | { readonly name: 'UNKNOWN-ATTRIBUTES'; readonly types: readonly number[] }
  | { readonly name: 'LIFETIME'; readonly seconds: number }
  | { readonly name: 'REQUESTED-TRANSPORT'; readonly protocol: number }
  | { readonly name: 'REQUESTED-ADDRESS-FAMILY'; readonly family: 4 | 6 }
  | { readonly name: 'ADDITIONAL-ADDRESS-FAMILY'; readonly family: 4 | 6 }
  | { readonly name: 'CHANNEL-NUMBER'; readonly channel: number }
  | { readonly name: 'DATA'; readonly data: Uint8Array }
  | { readonly name: 'EVEN-PORT'; readonly reserveNext: boolean }
  | { readonly name: 'RESERVATION-TOKEN'; readonly token: Uint8Array }
  | { readonly name: 'DONT-FRAGMENT' }
  | { readonly name: 'PRIORITY'; readonly priority: number }
  | { readonly name: 'USE-CANDIDATE' }
  | { readonly name: 'ICE-CONTROLLING'; readonly tieBreaker: bigint }
  | { readonly name: 'ICE-CONTROLLED'; readonly tieBreaker: bigint }
  | { readonly name: 'UNKNOWN'; readonly type: number; readonly value: Uint8Array };

export type AttributeName = Attribute['name'];
export type AttributeOf<N extends AttributeName> = Extract<Attribute, { name: N }>;

/** Attribute name -> type code (UNKNOWN carries its own). */
export const ATTRIBUTE_TYPES: Readonly<Record<Exclude<AttributeName, 'UNKNOWN'>, number>> = {
  'MAPPED-ADDRESS': AttrType.MappedAddress,
  'XOR-MAPPED-ADDRESS': AttrType.XorMappedAddress,
  'XOR-RELAYED-ADDRESS': AttrType.XorRelayedAddress,
  'XOR-PEER-ADDRESS': AttrType.XorPeerAddress,
  USERNAME: AttrType.Username,
  REALM: AttrType.Realm,
  NONCE: AttrType.Nonce,
  SOFTWARE: AttrType.Software,
  'MESSAGE-INTEGRITY': AttrType.MessageIntegrity,
  'MESSAGE-INTEGRITY-SHA256': AttrType.MessageIntegritySha256,
  FINGERPRINT: AttrType.Fingerprint,
  'ERROR-CODE': AttrType.ErrorCode,
  'UNKNOWN-ATTRIBUTES': AttrType.UnknownAttributes,
  LIFETIME: AttrType.Lifetime,
  'REQUESTED-TRANSPORT': AttrType.RequestedTransport,
  'REQUESTED-ADDRESS-FAMILY': AttrType.RequestedAddressFamily,
  'ADDITIONAL-ADDRESS-FAMILY': AttrType.AdditionalAddressFamily,
  'CHANNEL-NUMBER': AttrType.ChannelNumber,
  DATA: AttrType.Data,
  'EVEN-PORT': AttrType.EvenPort,
  'RESERVATION-TOKEN': AttrType.ReservationToken,
  'DONT-FRAGMENT': AttrType.DontFragment,
  PRIORITY: AttrType.Priority,
  'USE-CANDIDATE': AttrType.UseCandidate,
  'ICE-CONTROLLING': AttrType.IceControlling,
  'ICE-CONTROLLED': AttrType.IceControlled,
};

/** The type code of an attribute. */
export function attributeType(a: Attribute): number {
  return a.name === 'UNKNOWN' ? a.type : ATTRIBUTE_TYPES[a.name];
}

/** Comprehension-required attributes have types 0x0000-0x7FFF (RFC 8489 §14). */
export function isComprehensionRequired(type: number): boolean {
  return type < 0x8000;
}

// Length limits (RFC 8489 §14.3, 14.9, 14.10, 14.12): in bytes of UTF-8.
const TEXT_LIMITS: Readonly<Record<TextAttributeName, number>> = { USERNAME: 513, REALM: 763, NONCE: 763, SOFTWARE: 763 };

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** Thrown by value decoders; message.ts turns it into a StunError with the header. */
export class AttributeValueError extends Error {
  override readonly name = 'AttributeValueError';
}

function readAddress(v: Uint8Array, xor: boolean, transactionId: Uint8Array): TransportAddress {
  if (v.length < 4) throw new AttributeValueError('address attribute shorter than 4 bytes');
  const fam = v[1];
  let port = ((v[2] ?? 0) << 8) | (v[3] ?? 0);
  if (xor) port ^= MAGIC_COOKIE >>> 16;
  if (fam === 0x01) {
    if (v.length !== 8) throw new AttributeValueError('IPv4 address attribute must be 8 bytes');
    const ip = new Uint8Array(v.subarray(4, 8)); // a copy even when v is a Node Buffer (whose slice() is a view)
    if (xor) xorAddress(ip, transactionId);
    return { family: 4, address: formatIpv4(ip), port };
  }
  if (fam === 0x02) {
    if (v.length !== 20) throw new AttributeValueError('IPv6 address attribute must be 20 bytes');
    const ip = new Uint8Array(v.subarray(4, 20));
    if (xor) xorAddress(ip, transactionId);
    return { family: 6, address: formatIpv6(ip), port };
  }
  throw new AttributeValueError(`unknown address family 0x${(fam ?? 0).toString(16)}`);
}

/** XORs an address in place with the magic cookie (and for IPv6 the transaction id). */
function xorAddress(ip: Uint8Array, transactionId: Uint8Array): void {
  ip[0] = (ip[0] ?? 0) ^ 0x21;
  ip[1] = (ip[1] ?? 0) ^ 0x12;
  ip[2] = (ip[2] ?? 0) ^ 0xa4;
  ip[3] = (ip[3] ?? 0) ^ 0x42;
  for (let i = 4; i < ip.length; i++) ip[i] = (ip[i] ?? 0) ^ (transactionId[i - 4] ?? 0);
}

function readU32(v: Uint8Array, off = 0): number {
  return (((v[off] ?? 0) << 24) | ((v[off + 1] ?? 0) << 16) | ((v[off + 2] ?? 0) << 8) | (v[off + 3] ?? 0)) >>> 0;
}

function expectLength(v: Uint8Array, n: number, what: string): void {
  if (v.length !== n) throw new AttributeValueError(`${what} must be ${n} bytes, got ${v.length}`);
}

function readFamily(v: Uint8Array, what: string): 4 | 6 {
  expectLength(v, 4, what);
  if (v[0] === 0x01) return 4;
  if (v[0] === 0x02) return 6;
  throw new AttributeValueError(`${what}: unknown family 0x${(v[0] ?? 0).toString(16)}`);
}

function readText(v: Uint8Array, name: TextAttributeName): string {
  if (v.length > TEXT_LIMITS[name]) throw new AttributeValueError(`${name} longer than ${TEXT_LIMITS[name]} bytes`);
  try {
    return utf8Decoder.decode(v);
  } catch (err) {
    throw new AttributeValueError(`${name} is not valid UTF-8`, { cause: err });
  }
}

/**
 * Decodes one attribute value (`v` is a view of exactly the value bytes). Values that are kept as bytes
 * (DATA, MESSAGE-INTEGRITY, RESERVATION-TOKEN, UNKNOWN) are views into the input, not copies.
 */
export function decodeAttribute(type: number, v: Uint8Array, transactionId: Uint8Array): Attribute {
  switch (type) {
    case AttrType.MappedAddress:
      return { name: 'MAPPED-ADDRESS', address: readAddress(v, false, transactionId) };
    case AttrType.XorMappedAddress:
      return { name: 'XOR-MAPPED-ADDRESS', address: readAddress(v, true, transactionId) };
    case AttrType.XorRelayedAddress:
      return { name: 'XOR-RELAYED-ADDRESS', address: readAddress(v, true, transactionId) };
    case AttrType.XorPeerAddress:
      return { name: 'XOR-PEER-ADDRESS', address: readAddress(v, true, transactionId) };
    case AttrType.Username:
      return { name: 'USERNAME', value: readText(v, 'USERNAME') };
    case AttrType.Realm:
      return { name: 'REALM', value: readText(v, 'REALM') };
    case AttrType.Nonce:
      return { name: 'NONCE', value: readText(v, 'NONCE') };
    case AttrType.Software:
      return { name: 'SOFTWARE', value: readText(v, 'SOFTWARE') };
    case AttrType.MessageIntegrity:
      expectLength(v, 20, 'MESSAGE-INTEGRITY');
      return { name: 'MESSAGE-INTEGRITY', hmac: v };
    case AttrType.MessageIntegritySha256:
      if (v.length < 16 || v.length > 32 || v.length % 4 !== 0) {
        throw new AttributeValueError('MESSAGE-INTEGRITY-SHA256 must be 16-32 bytes, a multiple of 4');
      }
      return { name: 'MESSAGE-INTEGRITY-SHA256', hmac: v };
    case AttrType.Fingerprint:
      expectLength(v, 4, 'FINGERPRINT');
      return { name: 'FINGERPRINT', crc: readU32(v) };
    case AttrType.ErrorCode: {
      if (v.length < 4) throw new AttributeValueError('ERROR-CODE shorter than 4 bytes');
      const cls = (v[2] ?? 0) & 0x07;
      const num = v[3] ?? 0;
      if (cls < 3 || cls > 6 || num > 99) throw new AttributeValueError(`ERROR-CODE ${cls}${num} out of range`);
      if (v.length - 4 > 763) throw new AttributeValueError('ERROR-CODE reason longer than 763 bytes');
      let reason: string;
      try {
        reason = utf8Decoder.decode(v.subarray(4));
      } catch (err) {
        throw new AttributeValueError('ERROR-CODE reason is not valid UTF-8', { cause: err });
      }
      return { name: 'ERROR-CODE', code: cls * 100 + num, reason };
    }
    case AttrType.UnknownAttributes: {
      if (v.length % 2 !== 0) throw new AttributeValueError('UNKNOWN-ATTRIBUTES length must be even');
      const types: number[] = [];
      for (let i = 0; i < v.length; i += 2) types.push(((v[i] ?? 0) << 8) | (v[i + 1] ?? 0));
      return { name: 'UNKNOWN-ATTRIBUTES', types };
    }
    case AttrType.Lifetime:
      expectLength(v, 4, 'LIFETIME');
      return { name: 'LIFETIME', seconds: readU32(v) };
    case AttrType.RequestedTransport:
      expectLength(v, 4, 'REQUESTED-TRANSPORT');
      return { name: 'REQUESTED-TRANSPORT', protocol: v[0] ?? 0 };
    case AttrType.RequestedAddressFamily:
      return { name: 'REQUESTED-ADDRESS-FAMILY', family: readFamily(v, 'REQUESTED-ADDRESS-FAMILY') };
    case AttrType.AdditionalAddressFamily:
      return { name: 'ADDITIONAL-ADDRESS-FAMILY', family: readFamily(v, 'ADDITIONAL-ADDRESS-FAMILY') };
    case AttrType.ChannelNumber:
      expectLength(v, 4, 'CHANNEL-NUMBER');
      return { name: 'CHANNEL-NUMBER', channel: ((v[0] ?? 0) << 8) | (v[1] ?? 0) };
    case AttrType.Data:
      return { name: 'DATA', data: v };
    case AttrType.EvenPort:
      expectLength(v, 1, 'EVEN-PORT');
      return { name: 'EVEN-PORT', reserveNext: ((v[0] ?? 0) & 0x80) !== 0 };
    case AttrType.ReservationToken:
      expectLength(v, 8, 'RESERVATION-TOKEN');
      return { name: 'RESERVATION-TOKEN', token: v };
    case AttrType.DontFragment:
      expectLength(v, 0, 'DONT-FRAGMENT');
      return { name: 'DONT-FRAGMENT' };
    case AttrType.Priority:
      expectLength(v, 4, 'PRIORITY');
      return { name: 'PRIORITY', priority: readU32(v) };
    case AttrType.UseCandidate:
      expectLength(v, 0, 'USE-CANDIDATE');
      return { name: 'USE-CANDIDATE' };
    case AttrType.IceControlling:
      expectLength(v, 8, 'ICE-CONTROLLING');
      return { name: 'ICE-CONTROLLING', tieBreaker: (BigInt(readU32(v)) << 32n) | BigInt(readU32(v, 4)) };
    case AttrType.IceControlled:
      expectLength(v, 8, 'ICE-CONTROLLED');
      return { name: 'ICE-CONTROLLED', tieBreaker: (BigInt(readU32(v)) << 32n) | BigInt(readU32(v, 4)) };
    default:
      return { name: 'UNKNOWN', type, value: v };
  }
}

function writeU32(out: Uint8Array, off: number, n: number): void {
  out[off] = (n >>> 24) & 0xff;
  out[off + 1] = (n >>> 16) & 0xff;
  out[off + 2] = (n >>> 8) & 0xff;
  out[off + 3] = n & 0xff;
}

function writeAddress(out: Uint8Array, off: number, a: TransportAddress, xor: boolean, transactionId: Uint8Array): number {
  const len = a.family === 4 ? 8 : 20;
  if (out.length < off + len) throw new AttributeValueError('output buffer too small');
  out[off] = 0;
  out[off + 1] = a.family === 4 ? 0x01 : 0x02;
  const port = xor ? a.port ^ (MAGIC_COOKIE >>> 16) : a.port;
  out[off + 2] = (port >> 8) & 0xff;
  out[off + 3] = port & 0xff;
  const ip = a.family === 4 ? parseIpv4(a.address) : parseIpv6(a.address);
  if (!ip) throw new AttributeValueError(`not an IPv${a.family} address: ${a.address}`);
  if (xor) xorAddress(ip, transactionId);
  out.set(ip, off + 4);
  return len;
}

function writeBytes(out: Uint8Array, off: number, b: Uint8Array): number {
  if (out.length < off + b.length) throw new AttributeValueError('output buffer too small');
  out.set(b, off);
  return b.length;
}

function writeText(out: Uint8Array, off: number, s: string, name: TextAttributeName): number {
  const b = utf8Encoder.encode(s);
  if (b.length > TEXT_LIMITS[name]) throw new AttributeValueError(`${name} longer than ${TEXT_LIMITS[name]} bytes`);
  return writeBytes(out, off, b);
}

function writeFixed(out: Uint8Array, off: number, len: number, fill: (o: number) => void): number {
  if (out.length < off + len) throw new AttributeValueError('output buffer too small');
  out.fill(0, off, off + len);
  fill(off);
  return len;
}

/** Writes an attribute's value at `off` (no header, no padding); returns the value length. */
export function encodeAttributeValue(a: Attribute, out: Uint8Array, off: number, transactionId: Uint8Array): number {
  switch (a.name) {
    case 'MAPPED-ADDRESS':
      return writeAddress(out, off, a.address, false, transactionId);
    case 'XOR-MAPPED-ADDRESS':
    case 'XOR-RELAYED-ADDRESS':
    case 'XOR-PEER-ADDRESS':
      return writeAddress(out, off, a.address, true, transactionId);
    case 'USERNAME':
    case 'REALM':
    case 'NONCE':
    case 'SOFTWARE':
      return writeText(out, off, a.value, a.name);
    case 'MESSAGE-INTEGRITY':
    case 'MESSAGE-INTEGRITY-SHA256':
      return writeBytes(out, off, a.hmac);
    case 'FINGERPRINT':
      return writeFixed(out, off, 4, (o) => {
        writeU32(out, o, a.crc);
      });
    case 'ERROR-CODE': {
      if (!Number.isInteger(a.code) || a.code < 300 || a.code > 699) throw new AttributeValueError(`ERROR-CODE ${a.code} out of range`);
      const reason = utf8Encoder.encode(a.reason);
      if (reason.length > 763) throw new AttributeValueError('ERROR-CODE reason longer than 763 bytes');
      writeFixed(out, off, 4, (o) => {
        out[o + 2] = Math.floor(a.code / 100);
        out[o + 3] = a.code % 100;
      });
      return 4 + writeBytes(out, off + 4, reason);
    }
    case 'UNKNOWN-ATTRIBUTES':
      return writeFixed(out, off, a.types.length * 2, (o) => {
        a.types.forEach((t, i) => {
          out[o + 2 * i] = (t >> 8) & 0xff;
          out[o + 2 * i + 1] = t & 0xff;
        });
      });
    case 'LIFETIME':
      return writeFixed(out, off, 4, (o) => {
        writeU32(out, o, a.seconds);
      });
    case 'REQUESTED-TRANSPORT':
      return writeFixed(out, off, 4, (o) => {
        out[o] = a.protocol & 0xff;
      });
    case 'REQUESTED-ADDRESS-FAMILY':
    case 'ADDITIONAL-ADDRESS-FAMILY':
      return writeFixed(out, off, 4, (o) => {
        out[o] = a.family === 4 ? 0x01 : 0x02;
      });
    case 'CHANNEL-NUMBER':
      return writeFixed(out, off, 4, (o) => {
        out[o] = (a.channel >> 8) & 0xff;
        out[o + 1] = a.channel & 0xff;
      });
    case 'DATA':
      return writeBytes(out, off, a.data);
    case 'EVEN-PORT':
      return writeFixed(out, off, 1, (o) => {
        out[o] = a.reserveNext ? 0x80 : 0;
      });
    case 'RESERVATION-TOKEN':
      if (a.token.length !== 8) throw new AttributeValueError('RESERVATION-TOKEN must be 8 bytes');
      return writeBytes(out, off, a.token);
    case 'DONT-FRAGMENT':
    case 'USE-CANDIDATE':
      return 0;
    case 'PRIORITY':
      return writeFixed(out, off, 4, (o) => {
        writeU32(out, o, a.priority);
      });
    case 'ICE-CONTROLLING':
    case 'ICE-CONTROLLED':
      return writeFixed(out, off, 8, (o) => {
        writeU32(out, o, Number((a.tieBreaker >> 32n) & 0xffffffffn));
        writeU32(out, o + 4, Number(a.tieBreaker & 0xffffffffn));
      });
    case 'UNKNOWN':
      return writeBytes(out, off, a.value);
  }
}
