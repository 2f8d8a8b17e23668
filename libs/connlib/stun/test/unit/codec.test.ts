import { describe, expect, it } from 'vitest';
import {
  channelDataPayloadLength,
  decodeMessage,
  decodeMessageOrThrow,
  encodeChannelData,
  encodeMessage,
  encodeMessageInto,
  formatIpv6,
  getAttribute,
  longTermKey,
  Method,
  parseIpv6,
  parseTransportAddress,
  verifyIntegrity,
  writeChannelDataHeader,
  type Attribute,
  type StunMessage,
} from '../../src/index';

const tid = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

const ALL: Attribute[] = [
  { name: 'XOR-MAPPED-ADDRESS', address: { family: 4, address: '198.18.16.2', port: 3478 } },
  { name: 'XOR-RELAYED-ADDRESS', address: { family: 6, address: '2001:db8::1', port: 49152 } },
  { name: 'XOR-PEER-ADDRESS', address: { family: 4, address: '203.0.113.7', port: 1 } },
  { name: 'MAPPED-ADDRESS', address: { family: 6, address: '2001:db8::ffff:1', port: 65535 } },
  { name: 'USERNAME', value: '1892160000:n23JJ2wKKtt30oXi' },
  { name: 'REALM', value: 'firezone' },
  { name: 'NONCE', value: '00000000-0000-0000-0000-000000000000' },
  { name: 'SOFTWARE', value: 'postern-relay' },
  { name: 'ERROR-CODE', code: 438, reason: 'Stale Nonce' },
  { name: 'UNKNOWN-ATTRIBUTES', types: [0x0031, 0x0032, 0x0033] },
  { name: 'LIFETIME', seconds: 600 },
  { name: 'REQUESTED-TRANSPORT', protocol: 17 },
  { name: 'REQUESTED-ADDRESS-FAMILY', family: 6 },
  { name: 'ADDITIONAL-ADDRESS-FAMILY', family: 6 },
  { name: 'CHANNEL-NUMBER', channel: 0x4fff },
  { name: 'DATA', data: new Uint8Array([1, 2, 3, 4, 5]) },
  { name: 'EVEN-PORT', reserveNext: true },
  { name: 'RESERVATION-TOKEN', token: new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]) },
  { name: 'DONT-FRAGMENT' },
  { name: 'PRIORITY', priority: 0x6e0001ff },
  { name: 'USE-CANDIDATE' },
  { name: 'ICE-CONTROLLING', tieBreaker: 0xffffffffffffffffn },
  { name: 'ICE-CONTROLLED', tieBreaker: 1n },
  { name: 'UNKNOWN', type: 0xc001, value: new Uint8Array([0xaa]) },
];

describe('message codec', () => {
  it('round-trips every attribute kind', () => {
    const msg: StunMessage = { method: Method.Allocate, cls: 'request', transactionId: tid, attributes: ALL };
    const m = decodeMessageOrThrow(encodeMessage(msg));
    expect(m.method).toBe(Method.Allocate);
    expect(m.cls).toBe('request');
    expect(m.attributes.map((a) => (a.name === 'DATA' || a.name === 'RESERVATION-TOKEN' || a.name === 'UNKNOWN' ? a.name : a))).toEqual(
      ALL.map((a) => (a.name === 'DATA' || a.name === 'RESERVATION-TOKEN' || a.name === 'UNKNOWN' ? a.name : a)),
    );
    expect(Array.from(getAttribute(m, 'DATA')?.data ?? [])).toEqual([1, 2, 3, 4, 5]);
  });

  it('encodes every method and class into the right type bits', () => {
    for (const method of Object.values(Method)) {
      for (const cls of ['request', 'indication', 'success', 'error'] as const) {
        const m = decodeMessageOrThrow(encodeMessage({ method, cls, transactionId: tid, attributes: [] }));
        expect([m.method, m.cls]).toEqual([method, cls]);
      }
    }
    // Allocate error response is 0x0113, ChannelBind success 0x0109, Data indication 0x0017.
    expect(Buffer.from(encodeMessage({ method: Method.Allocate, cls: 'error', transactionId: tid, attributes: [] }).subarray(0, 2)).toString('hex')).toBe('0113');
    expect(Buffer.from(encodeMessage({ method: Method.ChannelBind, cls: 'success', transactionId: tid, attributes: [] }).subarray(0, 2)).toString('hex')).toBe('0109');
    expect(Buffer.from(encodeMessage({ method: Method.Data, cls: 'indication', transactionId: tid, attributes: [] }).subarray(0, 2)).toString('hex')).toBe('0017');
  });

  it('signs with MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, and detects tampering', () => {
    const key = longTermKey('user', 'firezone', 'pass');
    const bytes = encodeMessage(
      { method: Method.Refresh, cls: 'request', transactionId: tid, attributes: [{ name: 'LIFETIME', seconds: 0 }] },
      { integrity: key, integritySha256: key, fingerprint: true },
    );
    const m = decodeMessageOrThrow(bytes);
    expect(m.integrityOffset).toBeGreaterThan(0);
    expect(m.integritySha256Offset).toBeGreaterThan(m.integrityOffset);
    expect(verifyIntegrity(m, key)).toBe('ok');
    expect(verifyIntegrity(m, longTermKey('user', 'firezone', 'other'))).toBe('mismatch');
    const tampered = bytes.slice();
    tampered[27] = (tampered[27] ?? 0) ^ 1;
    const r = decodeMessage(tampered);
    expect(r.ok ? 'decoded' : r.error.code).toBe('BAD_FINGERPRINT');
  });

  it('ignores attributes after MESSAGE-INTEGRITY other than FINGERPRINT', () => {
    const key = longTermKey('u', 'r', 'p');
    const signed = encodeMessage({ method: Method.Binding, cls: 'request', transactionId: tid, attributes: [] }, { integrity: key });
    // Append a SOFTWARE attribute after the MAC.
    const extra = new Uint8Array(signed.length + 8);
    extra.set(signed);
    extra.set([0x80, 0x22, 0, 4, 0x61, 0x62, 0x63, 0x64], signed.length);
    extra[3] = (extra[3] ?? 0) + 8;
    const m = decodeMessageOrThrow(extra);
    expect(getAttribute(m, 'SOFTWARE')).toBeUndefined();
    expect(verifyIntegrity(m, key)).toBe('ok');
  });

  it('reports the header of a message whose attribute is malformed', () => {
    const b = encodeMessage({ method: Method.Allocate, cls: 'request', transactionId: tid, attributes: [{ name: 'LIFETIME', seconds: 1 }] });
    b[23] = 3; // LIFETIME length 3
    const r = decodeMessage(b);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('BAD_ATTRIBUTE');
      expect(r.error.header?.method).toBe(Method.Allocate);
    }
    const c = encodeMessage({ method: Method.Allocate, cls: 'request', transactionId: tid, attributes: [{ name: 'REQUESTED-ADDRESS-FAMILY', family: 4 }] });
    c[24] = 9;
    const r2 = decodeMessage(c);
    expect(r2.ok ? 'ok' : [r2.error.code, r2.error.attributeType]).toEqual(['BAD_ATTRIBUTE', 0x17]);
  });

  it('lists unknown comprehension-required attributes', () => {
    const m = decodeMessageOrThrow(
      encodeMessage({ method: Method.Binding, cls: 'request', transactionId: tid, attributes: [{ name: 'UNKNOWN', type: 0x0031, value: new Uint8Array() }] }),
    );
    expect(m.unknownRequired).toEqual([0x31]);
  });

  it('rejects non-STUN input with typed errors', () => {
    const codes = (b: number[]): string => {
      const r = decodeMessage(new Uint8Array(b));
      return r.ok ? 'ok' : r.error.code;
    };
    expect(codes([])).toBe('TRUNCATED');
    expect(codes([0x80, 0])).toBe('NOT_STUN');
    expect(codes([0, 1, 0, 0])).toBe('TRUNCATED');
    expect(codes([0, 1, 0, 0, 1, 2, 3, 4, ...tid])).toBe('NOT_STUN');
    expect(codes([0, 1, 0, 2, 0x21, 0x12, 0xa4, 0x42, ...tid])).toBe('BAD_LENGTH');
    expect(codes([0, 1, 0, 4, 0x21, 0x12, 0xa4, 0x42, ...tid])).toBe('TRUNCATED');
  });

  it('refuses to encode into a buffer that is too small', () => {
    expect(() => encodeMessageInto({ method: 1, cls: 'request', transactionId: tid, attributes: [] }, new Uint8Array(10))).toThrow(/too small/);
  });
});

describe('addresses', () => {
  it('formats IPv6 per RFC 5952', () => {
    const f = (s: string): string => formatIpv6(parseIpv6(s) ?? new Uint8Array(16));
    expect(f('2001:0db8:0000:0000:0000:0000:0000:0001')).toBe('2001:db8::1');
    expect(f('::')).toBe('::');
    expect(f('1:0:0:2:0:0:0:3')).toBe('1:0:0:2::3');
    expect(f('1:0:1:1:1:1:1:1')).toBe('1:0:1:1:1:1:1:1');
    expect(f('::ffff:1.2.3.4')).toBe('::ffff:102:304');
  });
  it('parses transport addresses', () => {
    expect(parseTransportAddress('[2001:DB8::1]:3478')).toEqual({ family: 6, address: '2001:db8::1', port: 3478 });
    expect(parseTransportAddress('198.18.16.1:1')).toEqual({ family: 4, address: '198.18.16.1', port: 1 });
    expect(parseTransportAddress('198.18.16.1')).toBeUndefined();
    expect(parseTransportAddress('1.2.3.256:1')).toBeUndefined();
  });
});

describe('ChannelData', () => {
  it('frames a payload in place behind a 4-byte header', () => {
    const buf = new Uint8Array(4 + 6);
    buf.set(Buffer.from('foobar'), 4);
    writeChannelDataHeader(buf, 0, 0x4000, 6);
    expect(Buffer.from(buf).toString('hex')).toBe('40000006666f6f626172');
    expect(channelDataPayloadLength(buf)).toBe(6);
    expect(encodeChannelData(0x4000, Buffer.from('foobar'))).toEqual(buf);
  });
  it('rejects channels outside 0x4000-0x4FFF on encode', () => {
    expect(() => encodeChannelData(0x5000, new Uint8Array())).toThrow(/outside/);
    expect(channelDataPayloadLength(new Uint8Array([0x50, 0, 0, 0]))).toBe(-1);
  });

  it('decodes a Node Buffer without touching its bytes: XOR addresses and MESSAGE-INTEGRITY still check', () => {
    // Buffer#slice is a view, not a copy: un-XORing an address in such a "copy" rewrote the datagram, and the
    // integrity check that followed failed (found against coturn, whose answers came in as dgram Buffers).
    const key = longTermKey('user', 'firezone', 'secret-password');
    const bytes = encodeMessage(
      { method: Method.Allocate, cls: 'success', transactionId: tid, attributes: [ALL[0] as Attribute, ALL[1] as Attribute] },
      { integrity: key },
    );
    const buf = Buffer.from(bytes);
    const m = decodeMessageOrThrow(buf);
    expect(getAttribute(m, 'XOR-MAPPED-ADDRESS')?.address).toEqual({ family: 4, address: '198.18.16.2', port: 3478 });
    expect(getAttribute(m, 'XOR-RELAYED-ADDRESS')?.address).toEqual({ family: 6, address: '2001:db8::1', port: 49152 });
    expect(verifyIntegrity(m, key)).toBe('ok');
    expect(Buffer.compare(buf, Buffer.from(bytes))).toBe(0);
  });
});
