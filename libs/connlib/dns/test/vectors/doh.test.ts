import { describe, expect, it } from 'vitest';
import * as dnsPacket from 'dns-packet';
import { decodeDohResponse, dohHost, encodeDohGetRequest, truncateResponse } from '../../src/index';
import { decode, query } from '../support/dns';
import { byId, loadFixture, need, type DohCase } from '../support/fixtures';

const { cases } = loadFixture<DohCase>('dns-doh.json');

describe('dns-doh.json (Firezone)', () => {
  it('rfc8484_get_request', () => {
    const c = byId(cases, 'rfc8484_get_request');
    const q = need(c.query, 'query');
    const req = encodeDohGetRequest(query(q.name, q.qtype, 0xabcd), need(c.server, 'server'));
    expect(req.method).toBe(c.expected.method);
    expect(req.headers.accept).toBe(c.expected.accept);
    expect(req.path).toBe(c.expected.path);
    expect(req.query).toBe(c.expected.query);
  });

  it('rfc8484_response', () => {
    const c = byId(cases, 'rfc8484_response');
    const body = new Uint8Array(Buffer.from(need(c.body_hex, 'body_hex'), 'hex'));
    expect(body.byteLength).toBe(c.content_length);
    const res = decodeDohResponse(need(c.status, 'status'), c.content_type, body);
    if (res.kind !== 'ok') throw new Error(res.reason);
    const p = decode(res.message);
    expect(p.answers.filter((a) => a.type === 'AAAA').map((a) => a.data)).toEqual(c.expected.ips);
    expect(p.answers[0]?.ttl).toBe(c.expected.ttl_AAAA_secs);
    expect(decodeDohResponse(500, c.content_type, body)).toEqual({ kind: 'error', reason: 'status' });
    expect(decodeDohResponse(200, 'text/html', body)).toEqual({ kind: 'error', reason: 'content-type' });
  });

  it('known_doh_hosts', () => {
    for (const [url, host] of Object.entries(byId(cases, 'known_doh_hosts').expected)) expect(dohHost(url)).toBe(host);
    expect(() => dohHost('http://dns.google/dns-query')).toThrow();
  });

  it('truncation', () => {
    const answers = Array.from({ length: 1000 }, () => ({ type: 'A' as const, name: 'example.com', ttl: 1, data: '127.0.0.1' }));
    const big = new Uint8Array(dnsPacket.encode({ id: 7, type: 'response', questions: [{ type: 'A', name: 'example.com' }], answers }));
    const p = decode(truncateResponse(big, 1000));
    expect(p.flag_tc).toBe(true);
    expect(p.answers).toHaveLength(0);
    expect(p.questions?.[0]?.name).toBe(byId(cases, 'truncation').expected.question);
  });
});
