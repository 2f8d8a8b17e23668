// Firezone's p2p control vectors (test/fixtures/p2p-control.json, Apache-2.0, from firezone/firezone rust/).
// packet_format and goodbye are "from implementation" notes, not Firezone test assertions: strong hints we follow.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeP2pControl, decodeP2pControlBytes, encodeP2pControl, encodeP2pControlBody, IpPacket, IpPacketError, isP2pControl, type P2pControlEvent } from '../../src/index';

interface Case {
  id: string;
  [k: string]: unknown;
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/p2p-control.json', import.meta.url), 'utf8')) as { cases: Case[] };
const byId = (id: string): Case => {
  const c = fixture.cases.find((x) => x.id === id);
  if (!c) throw new Error(`no case ${id}`);
  return c;
};

function rawPacket(eventType: number, body: string): Uint8Array {
  const json = new TextEncoder().encode(body);
  const b = new Uint8Array(40 + 8 + json.length);
  b[0] = 0x60;
  b[4] = ((8 + json.length) >> 8) & 0xff;
  b[5] = (8 + json.length) & 0xff;
  b[6] = 0xff;
  b[40] = eventType;
  b.set(json, 48);
  return b;
}

describe('p2p control packets', () => {
  it('packet_format: IPv6 :: -> ::, next header 255, hop limit 0, 8-byte header then the body', () => {
    const bytes = encodeP2pControl({ type: 'domain_status', resource: '00000000-0000-0000-0000-000000000065', domain: 'example.com', status: 'Active' });
    const p = IpPacket.parse(bytes);
    if (p instanceof IpPacketError) throw p;
    expect(p.version).toBe(6);
    expect(p.protocol).toBe(255);
    expect(p.ttl).toBe(0);
    expect(bytes.subarray(8, 40).every((x) => x === 0)).toBe(true);
    expect(p.ipPayload()[0]).toBe(1);
    expect(Array.from(p.ipPayload().subarray(1, 8))).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(isP2pControl(p)).toBe(true);
  });

  it('packet_format: a payload shorter than the 8-byte header is TooShort', () => {
    const b = rawPacket(0, '').subarray(0, 44);
    b[5] = 4;
    const r = decodeP2pControlBytes(b);
    expect(r).toBeInstanceOf(IpPacketError);
    expect(r instanceof IpPacketError && r.code).toBe('TOO_SHORT');
  });

  it('is not a control packet unless source and destination are both ::', () => {
    const b = rawPacket(2, '');
    b[23] = 1;
    const r = decodeP2pControlBytes(b);
    expect(r instanceof IpPacketError && r.code).toBe('NOT_P2P_CONTROL');
  });

  it('domain_status_unknown_status: unknown NatStatus reads as Inactive', () => {
    const c = byId('domain_status_unknown_status');
    const r = decodeP2pControlBytes(rawPacket(Number(c['event_type']), String(c['raw'])));
    expect(r).toEqual({ type: 'domain_status', resource: '00000000-0000-0000-0000-000000000065', domain: 'example.com', status: 'Inactive' });
  });

  it('assigned_ips_max_payload: the longest domain serialises to the 402 bytes Firezone asserts', () => {
    const c = byId('assigned_ips_max_payload');
    const json = c['json'] as { resource: string; domain: string; proxy_ips: string[] };
    const ev: P2pControlEvent = { type: 'assigned_ips', resource: json.resource, domain: json.domain, proxyIps: json.proxy_ips };
    const body = encodeP2pControlBody(ev);
    expect(body).toBe(c['raw']);
    expect(body.length).toBe((c['asserts'] as { serialized_len: number }).serialized_len);
    expect(encodeP2pControl(ev).length).toBeLessThanOrEqual(1280);
    expect(decodeP2pControlBytes(rawPacket(0, String(c['raw'])))).toEqual(ev);
  });

  it('roundtrips: decode(encode(x)) == x', () => {
    const inputs = (byId('roundtrips')['inputs'] as { event: string; resource: string; domain: string; proxy_ips?: string[]; status?: string }[]).map(
      (i): P2pControlEvent =>
        i.event === 'assigned_ips'
          ? { type: 'assigned_ips', resource: i.resource, domain: i.domain, proxyIps: i.proxy_ips ?? [] }
          : { type: 'domain_status', resource: i.resource, domain: i.domain, status: i.status === 'Active' ? 'Active' : 'Inactive' },
    );
    for (const ev of [...inputs, { type: 'goodbye' } as const]) {
      const p = IpPacket.parse(encodeP2pControl(ev));
      if (p instanceof IpPacketError) throw p;
      expect(decodeP2pControl(p)).toEqual(ev);
    }
  });

  it('goodbye: header [2,0,0,0,0,0,0,0] and an empty payload', () => {
    const bytes = encodeP2pControl({ type: 'goodbye' });
    expect(Array.from(bytes.subarray(40))).toEqual((byId('goodbye')['format'] as { header: number[] }).header);
  });

  it('returns typed errors for unknown event types and bad JSON', () => {
    const unknown = decodeP2pControlBytes(rawPacket(9, '{}'));
    expect(unknown instanceof IpPacketError && unknown.code).toBe('UNKNOWN_P2P_EVENT');
    const bad = decodeP2pControlBytes(rawPacket(0, '{"resource":'));
    expect(bad instanceof IpPacketError && bad.code).toBe('BAD_P2P_PAYLOAD');
    const badIp = decodeP2pControlBytes(rawPacket(0, '{"resource":"00000000-0000-0000-0000-000000000065","domain":"a","proxy_ips":["nope"]}'));
    expect(badIp instanceof IpPacketError && badIp.code).toBe('BAD_P2P_PAYLOAD');
  });
});
