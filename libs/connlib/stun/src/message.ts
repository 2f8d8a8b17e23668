// STUN messages: header, attribute list, decode and encode (RFC 8489 §5, §6, §14).
import { attributeType, AttributeValueError, decodeAttribute, encodeAttributeValue, type Attribute, type AttributeName, type AttributeOf } from './attributes';
import { AttrType, HEADER_LENGTH, MAGIC_COOKIE, TRANSACTION_ID_LENGTH, type StunClass } from './constants';
import { StunError, type StunHeader } from './errors';
import { fingerprintOf, macEquals, stunHmac } from './integrity';

/** A STUN message. `method` is a Method value; `transactionId` is 12 bytes. */
export interface StunMessage {
  readonly method: number;
  readonly cls: StunClass;
  readonly transactionId: Uint8Array;
  readonly attributes: readonly Attribute[];
}

/** A decoded message plus what integrity checks need: the raw bytes and where the MACs sit. */
export interface DecodedMessage extends StunMessage {
  /** The whole message (a view of the input). */
  readonly raw: Uint8Array;
  /** Offset in `raw` of the MESSAGE-INTEGRITY attribute header, or -1. */
  readonly integrityOffset: number;
  /** Offset in `raw` of the MESSAGE-INTEGRITY-SHA256 attribute header, or -1. */
  readonly integritySha256Offset: number;
  /** A FINGERPRINT was present (and correct: a wrong one is a decode error). */
  readonly hasFingerprint: boolean;
  /** Comprehension-required (type < 0x8000) attribute types this codec does not know, before any MAC. */
  readonly unknownRequired: readonly number[];
}

export type DecodeResult = { readonly ok: true; readonly message: DecodedMessage } | { readonly ok: false; readonly error: StunError };

export interface EncodeOptions {
  /** Long- or short-term key: appends MESSAGE-INTEGRITY (HMAC-SHA1). */
  readonly integrity?: Uint8Array;
  /** Appends MESSAGE-INTEGRITY-SHA256 (full 32 bytes) with this key, after MESSAGE-INTEGRITY if both. */
  readonly integritySha256?: Uint8Array;
  /** Appends FINGERPRINT. */
  readonly fingerprint?: boolean;
}

/** The largest STUN message: 20-byte header plus a 16-bit body length (a multiple of 4). */
export const MAX_MESSAGE_LENGTH = HEADER_LENGTH + 0xfffc;

// Message type (RFC 8489 §5): M11..M7 C1 M6..M4 C0 M3..M0 in the low 14 bits.
export function messageType(method: number, cls: StunClass): number {
  const c = cls === 'request' ? 0 : cls === 'indication' ? 1 : cls === 'success' ? 2 : 3;
  return ((method & 0xf80) << 2) | ((method & 0x070) << 1) | (method & 0x00f) | ((c & 2) << 7) | ((c & 1) << 4);
}

const CLASSES: readonly StunClass[] = ['request', 'indication', 'success', 'error'];

function splitType(t: number): { method: number; cls: StunClass } {
  const method = ((t >> 2) & 0xf80) | ((t >> 1) & 0x070) | (t & 0x00f);
  const c = ((t >> 7) & 2) | ((t >> 4) & 1);
  return { method, cls: CLASSES[c] ?? 'request' };
}

const u16 = (b: Uint8Array, o: number): number => ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);

/** True if `b` starts like a STUN message (first two bits 0, magic cookie at 4..8, at least 20 bytes). */
export function isStunMessage(b: Uint8Array): boolean {
  return (
    b.length >= HEADER_LENGTH &&
    ((b[0] ?? 0xff) & 0xc0) === 0 &&
    b[4] === 0x21 &&
    b[5] === 0x12 &&
    b[6] === 0xa4 &&
    b[7] === 0x42
  );
}

function fail(code: StunError['code'], msg: string, header?: StunHeader, attributeType?: number, cause?: unknown): DecodeResult {
  const opts: { header?: StunHeader; attributeType?: number; cause?: unknown } = {};
  if (header) opts.header = header;
  if (attributeType !== undefined) opts.attributeType = attributeType;
  if (cause !== undefined) opts.cause = cause;
  return { ok: false, error: new StunError(code, msg, opts) };
}

/**
 * Decodes one STUN message occupying all of `b` (a UDP datagram). Never throws: any input yields a message
 * or a typed StunError. Attributes after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and
 * FINGERPRINT are ignored (RFC 8489 §14.5); a wrong FINGERPRINT is an error.
 */
export function decodeMessage(b: Uint8Array): DecodeResult {
  if (b.length === 0) return fail('TRUNCATED', 'empty input');
  if (((b[0] ?? 0) & 0xc0) !== 0) return fail('NOT_STUN', 'first two bits are not zero');
  if (b.length < HEADER_LENGTH) return fail('TRUNCATED', `${b.length} bytes is shorter than a STUN header`);
  if (u16(b, 4) !== MAGIC_COOKIE >>> 16 || u16(b, 6) !== (MAGIC_COOKIE & 0xffff)) return fail('NOT_STUN', 'wrong magic cookie');
  const len = u16(b, 2);
  if (len % 4 !== 0) return fail('BAD_LENGTH', `message length ${len} is not a multiple of 4`);
  if (HEADER_LENGTH + len > b.length) return fail('TRUNCATED', `message length ${len} exceeds the ${b.length - HEADER_LENGTH} bytes present`);
  if (HEADER_LENGTH + len < b.length) return fail('BAD_LENGTH', `${b.length - HEADER_LENGTH - len} bytes after the message`);
  const { method, cls } = splitType(u16(b, 0));
  const transactionId = b.subarray(8, 8 + TRANSACTION_ID_LENGTH);
  const header: StunHeader = { method, cls, transactionId };
  const attributes: Attribute[] = [];
  const unknownRequired: number[] = [];
  let integrityOffset = -1;
  let integritySha256Offset = -1;
  let hasFingerprint = false;
  let off = HEADER_LENGTH;
  while (off < b.length) {
    if (hasFingerprint) return fail('BAD_FINGERPRINT', 'attribute after FINGERPRINT', header);
    if (off + 4 > b.length) return fail('BAD_ATTRIBUTE_LENGTH', 'truncated attribute header', header);
    const type = u16(b, off);
    const vlen = u16(b, off + 2);
    const padded = (vlen + 3) & ~3;
    if (off + 4 + padded > b.length) return fail('BAD_ATTRIBUTE_LENGTH', `attribute 0x${type.toString(16)} runs past the message`, header, type);
    const value = b.subarray(off + 4, off + 4 + vlen);
    const afterIntegrity = integrityOffset >= 0 || integritySha256Offset >= 0;
    if (type === AttrType.Fingerprint) {
      if (vlen !== 4) return fail('BAD_FINGERPRINT', 'FINGERPRINT must be 4 bytes', header, type);
      const expected = fingerprintOf(b.subarray(0, off));
      if (u16(value, 0) * 0x10000 + u16(value, 2) !== expected) return fail('BAD_FINGERPRINT', 'FINGERPRINT mismatch', header, type);
      hasFingerprint = true;
      attributes.push({ name: 'FINGERPRINT', crc: expected });
    } else if (!afterIntegrity || (type === AttrType.MessageIntegritySha256 && integritySha256Offset < 0)) {
      let attr: Attribute;
      try {
        attr = decodeAttribute(type, value, transactionId);
      } catch (err) {
        if (err instanceof AttributeValueError) return fail('BAD_ATTRIBUTE', err.message, header, type, err);
        throw err;
      }
      if (attr.name === 'MESSAGE-INTEGRITY') integrityOffset = off;
      else if (attr.name === 'MESSAGE-INTEGRITY-SHA256') integritySha256Offset = off;
      else if (attr.name === 'UNKNOWN' && type < 0x8000) unknownRequired.push(type);
      attributes.push(attr);
    }
    off += 4 + padded;
  }
  return {
    ok: true,
    message: { method, cls, transactionId, attributes, raw: b, integrityOffset, integritySha256Offset, hasFingerprint, unknownRequired },
  };
}

/** Decodes or throws the StunError (for callers that prefer exceptions, such as tests). */
export function decodeMessageOrThrow(b: Uint8Array): DecodedMessage {
  const r = decodeMessage(b);
  if (!r.ok) throw r.error;
  return r.message;
}

/** The first attribute with this name (RFC 8489: later duplicates are ignored). */
export function getAttribute<N extends AttributeName>(msg: StunMessage, name: N): AttributeOf<N> | undefined {
  for (const a of msg.attributes) if (a.name === name) return a as AttributeOf<N>;
  return undefined;
}

export type IntegrityCheck = 'ok' | 'missing' | 'mismatch';

/**
 * Verifies the message's MAC with `key`: MESSAGE-INTEGRITY-SHA256 if present, else MESSAGE-INTEGRITY.
 * Returns `missing` when the message carries neither.
 */
export function verifyIntegrity(msg: DecodedMessage, key: Uint8Array): IntegrityCheck {
  const useSha256 = msg.integritySha256Offset >= 0;
  const at = useSha256 ? msg.integritySha256Offset : msg.integrityOffset;
  if (at < 0) return 'missing';
  const raw = msg.raw;
  const macLen = u16(raw, at + 2);
  const header = new Uint8Array(raw.subarray(0, HEADER_LENGTH)); // a copy even when raw is a Node Buffer
  // The length field covers everything up to and including this MAC attribute (RFC 8489 §14.5).
  const len = at + 4 + macLen - HEADER_LENGTH;
  header[2] = (len >> 8) & 0xff;
  header[3] = len & 0xff;
  const mac = stunHmac(useSha256 ? 'sha256' : 'sha1', key, header, raw.subarray(HEADER_LENGTH, at));
  return macEquals(mac, raw.subarray(at + 4, at + 4 + macLen)) ? 'ok' : 'mismatch';
}

const scratch = new Uint8Array(MAX_MESSAGE_LENGTH + 64);

/**
 * Encodes `msg` into `out` at `offset`; returns the number of bytes written. Throws StunError('ENCODE') if a
 * value is not representable or `out` is too small. MESSAGE-INTEGRITY(-SHA256)/FINGERPRINT requested in
 * `opts` are appended; such attributes already in `msg.attributes` are written as given.
 */
export function encodeMessageInto(msg: StunMessage, out: Uint8Array, offset = 0, opts: EncodeOptions = {}): number {
  if (msg.transactionId.length !== TRANSACTION_ID_LENGTH) throw new StunError('ENCODE', 'transaction id must be 12 bytes');
  const b = out.subarray(offset);
  const need = (n: number): void => {
    if (n > b.length) throw new StunError('ENCODE', 'output buffer too small');
    if (n > MAX_MESSAGE_LENGTH) throw new StunError('ENCODE', 'message longer than 65555 bytes');
  };
  need(HEADER_LENGTH);
  const t = messageType(msg.method, msg.cls);
  b[0] = t >> 8;
  b[1] = t & 0xff;
  b[4] = 0x21;
  b[5] = 0x12;
  b[6] = 0xa4;
  b[7] = 0x42;
  b.set(msg.transactionId, 8);
  let off = HEADER_LENGTH;
  const setLength = (len: number): void => {
    b[2] = (len >> 8) & 0xff;
    b[3] = len & 0xff;
  };
  const writeAttr = (type: number, write: (at: number) => number): void => {
    need(off + 4);
    let vlen: number;
    try {
      vlen = write(off + 4);
    } catch (err) {
      if (err instanceof AttributeValueError) throw new StunError('ENCODE', err.message, { cause: err, attributeType: type });
      throw err;
    }
    if (vlen > 0xffff) throw new StunError('ENCODE', `attribute 0x${type.toString(16)} longer than 65535 bytes`);
    b[off] = type >> 8;
    b[off + 1] = type & 0xff;
    b[off + 2] = vlen >> 8;
    b[off + 3] = vlen & 0xff;
    const padded = (vlen + 3) & ~3;
    need(off + 4 + padded);
    b.fill(0, off + 4 + vlen, off + 4 + padded);
    off += 4 + padded;
  };
  for (const a of msg.attributes) writeAttr(attributeType(a), (at) => encodeAttributeValue(a, b, at, msg.transactionId));
  const mac = (alg: 'sha1' | 'sha256', key: Uint8Array, type: number, macLen: number): void => {
    need(off + 4 + macLen);
    setLength(off + 4 + macLen - HEADER_LENGTH);
    const h = stunHmac(alg, key, b.subarray(0, HEADER_LENGTH), b.subarray(HEADER_LENGTH, off));
    writeAttr(type, (at) => {
      b.set(h, at);
      return macLen;
    });
  };
  if (opts.integrity) mac('sha1', opts.integrity, AttrType.MessageIntegrity, 20);
  if (opts.integritySha256) mac('sha256', opts.integritySha256, AttrType.MessageIntegritySha256, 32);
  if (opts.fingerprint) {
    need(off + 8);
    setLength(off + 8 - HEADER_LENGTH);
    const crc = fingerprintOf(b.subarray(0, off));
    writeAttr(AttrType.Fingerprint, (at) => {
      b[at] = crc >>> 24;
      b[at + 1] = (crc >>> 16) & 0xff;
      b[at + 2] = (crc >>> 8) & 0xff;
      b[at + 3] = crc & 0xff;
      return 4;
    });
  }
  setLength(off - HEADER_LENGTH);
  return off;
}

/** Encodes `msg` into a new Uint8Array of exactly its length. */
export function encodeMessage(msg: StunMessage, opts: EncodeOptions = {}): Uint8Array {
  const n = encodeMessageInto(msg, scratch, 0, opts);
  return scratch.slice(0, n);
}

/** A new 12-byte transaction id from `rng` (RFC 8489 §6: uniformly random). */
export function newTransactionId(rng: { fill(bytes: Uint8Array): void }): Uint8Array {
  const id = new Uint8Array(TRANSACTION_ID_LENGTH);
  rng.fill(id);
  return id;
}

/** Hex of a transaction id: a Map key. */
export function transactionIdKey(id: Uint8Array): string {
  let s = '';
  for (const x of id) s += x.toString(16).padStart(2, '0');
  return s;
}
