import { describe, expect, it } from 'vitest';
import * as dnsPacket from 'dns-packet';
import { decodeDohResponse, dohHost, encodeDohGetRequest, truncateResponse } from '../../src/index';
import { decode, fixture, query } from '../support/dns';

const cases = fixture('dns-doh.json').cases as any[];
const byId = (id: string) => cases.find((c) => c.id === id);

describe('dns-doh.json (Firezone)', () => {
  it('rfc8484_get_request', () => {
    const c = byId('rfc8484_get_request');
    const req = encodeDohGetRequest(query(c.query.name, c.query.qtype, 0xabcd), c.server);
    expect(req.method).toBe(c.expected.method);
    expect(req.headers.accept).toBe(c.expected.accept);
    expect(req.path).toBe(c.expected.path);
    expect(req.query).toBe(c.expected.query);
  });

  it('rfc8484_response', () => {
    const c = byId('rfc8484_response');
    const body = new Uint8Array(Buffer.from(c.body_hex, 'hex'));
    expect(body.byteLength).toBe(c.content_length);
    const res = decodeDohResponse(c.status, c.content_type, body);
    if (res.kind !== 'ok') throw new Error(res.reason);
    const p = decode(res.message);
    expect(p.answers?.filter((a) => a.type === 'AAAA').map((a) => a.data)).toEqual(c.expected.ips);
    expect(p.answers?.[0]?.ttl).toBe(c.expected.ttl_AAAA_secs);
    expect(decodeDohResponse(500, c.content_type, body)).toEqual({ kind: 'error', reason: 'status' });
    expect(decodeDohResponse(200, 'text/html', body)).toEqual({ kind: 'error', reason: 'content-type' });
  });

  it('known_doh_hosts', () => {
    for (const [url, host] of Object.entries(byId('known_doh_hosts').expected)) expect(dohHost(url)).toBe(host);
    expect(() => dohHost('http://dns.google/dns-query')).toThrow();
  });

  it('truncation', () => {
    const answers = Array.from({ length: 1000 }, () => ({ type: 'A' as const, name: 'example.com', ttl: 1, data: '127.0.0.1' }));
    const big = new Uint8Array(dnsPacket.encode({ id: 7, type: 'response', questions: [{ type: 'A', name: 'example.com' }], answers }));
    const p = decode(truncateResponse(big, 1000));
    expect(p.flag_tc).toBe(true);
    expect(p.answers).toHaveLength(0);
    expect(p.questions?.[0]?.name).toBe(byId('truncation').expected.question);
  });
});
