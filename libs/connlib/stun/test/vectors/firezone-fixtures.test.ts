// Firezone's STUN/ChannelData samples (test/fixtures/stun-turn-bytes.json, Apache-2.0).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { classifyPacket, decodeChannelData, decodeMessage, decodeMessageOrThrow, getAttribute, Method } from '../../src/index';

interface Case {
  id: string;
  kind: string;
  hex?: string;
  expect: string;
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/stun-turn-bytes.json', import.meta.url), 'utf8')) as { cases: Case[] };
const byId = (id: string): Case => {
  const c = fixture.cases.find((x) => x.id === id);
  if (!c) throw new Error(`no fixture ${id}`);
  return c;
};
const bytes = (c: Case): Uint8Array => new Uint8Array(Buffer.from(c.hex ?? '', 'hex'));

describe('Firezone stun-turn-bytes fixtures', () => {
  it('parses the minimal BINDING request', () => {
    const m = decodeMessageOrThrow(bytes(byId('stun_binding_request_minimal')));
    expect(m.method).toBe(Method.Binding);
    expect(m.cls).toBe('request');
    expect(Buffer.from(m.transactionId).toString('hex')).toBe('0123456789abcdef01234567');
    expect(m.attributes).toEqual([]);
  });

  it('parses ChannelData 0x4001 wrapping a BINDING success with a valid FINGERPRINT', () => {
    const b = bytes(byId('channel_data_wrapping_binding_success'));
    expect(classifyPacket(b)).toBe('channel-data');
    const cd = decodeChannelData(b);
    if (!cd.ok) throw cd.error;
    expect(cd.value.channel).toBe(0x4001);
    expect(cd.value.data.length).toBe(64);
    const m = decodeMessageOrThrow(cd.value.data);
    expect(m.cls).toBe('success');
    expect(getAttribute(m, 'XOR-MAPPED-ADDRESS')?.address).toEqual({ family: 4, address: '172.28.0.105', port: 38871 });
    expect(m.hasFingerprint).toBe(true);
    expect(m.integrityOffset).toBe(32);
  });

  it('parses client ChannelData "foobar" on channel 0x4000', () => {
    const cd = decodeChannelData(bytes(byId('client_channel_data_foobar')));
    if (!cd.ok) throw cd.error;
    expect(cd.value.channel).toBe(0x4000);
    expect(Buffer.from(cd.value.data).toString()).toBe('foobar');
  });

  it('rejects the proptest seeds: first byte 0x56 and 0x80 are neither STUN nor ChannelData', () => {
    for (const id of ['proptest_seed_channel_data_0x565e', 'proptest_seed_channel_0x8000_empty']) {
      const b = bytes(byId(id));
      expect(classifyPacket(b)).toBe('unknown');
      expect(decodeChannelData(b).ok).toBe(false);
      expect(decodeMessage(b).ok).toBe(false);
    }
  });

  it('applies the relay ChannelData parse rules: short, shorter payload, padding', () => {
    expect(decodeChannelData(new Uint8Array([0x40, 0x00, 0x00])).ok).toBe(false);
    expect(decodeChannelData(new Uint8Array([0x40, 0x00, 0x00, 0x05, 1, 2])).ok).toBe(false);
    const padded = decodeChannelData(new Uint8Array([0x40, 0x00, 0x00, 0x02, 1, 2, 0, 0]));
    expect(padded.ok && padded.value.data.length).toBe(2);
    expect(classifyPacket(new Uint8Array())).toBe('empty');
  });
});
