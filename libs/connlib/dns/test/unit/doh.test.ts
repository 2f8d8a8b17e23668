// RFC 8484 POST framing and the checks of a DoH answer: every malformed answer is a DohError with its code,
// never a throw; a good one comes back with the query's id.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  checkDohResponse,
  DOH_CONTENT_TYPE,
  DOH_MAX_MESSAGE_BYTES,
  DohBody,
  DohError,
  encodeDohPostRequest,
  parseDohUrl,
  type DohHttpResponse,
  type DohServer,
} from '../../src/index';
import { answer, decode, query } from '../support/dns';

function server(url: string): DohServer {
  const s = parseDohUrl(url);
  if (s instanceof DohError) throw s;
  return s;
}

const Q = query('www.example.com', 'A', 0xbeef);
/** The server's answer to the query as sent (id 0). */
const A0 = answer(encodeBody(Q), [{ type: 'A', name: 'www.example.com', ttl: 60, data: '192.0.2.1' }]);

function encodeBody(q: Uint8Array): Uint8Array {
  const r = encodeDohPostRequest(q, server('https://dns.example/dns-query'));
  if (r instanceof DohError) throw r;
  return r.body;
}

function ok(body: Uint8Array, over: Partial<DohHttpResponse> = {}): DohHttpResponse {
  return { status: 200, contentType: DOH_CONTENT_TYPE, contentLength: body.byteLength, body, complete: true, ...over };
}

function code(r: Uint8Array | DohError): string {
  return r instanceof DohError ? r.code : 'ok';
}

describe('DoH URLs', () => {
  it('parses host, port, path and IP literals; refuses anything but https without credentials', () => {
    expect(server('https://cloudflare-dns.com/dns-query')).toEqual({ url: 'https://cloudflare-dns.com/dns-query', host: 'cloudflare-dns.com', port: 443, path: '/dns-query', literal: undefined });
    expect(server('https://198.18.20.2:8443/q?x=1')).toMatchObject({ host: '198.18.20.2', port: 8443, path: '/q?x=1', literal: '198.18.20.2' });
    expect(server('https://[2001:db8::1]/dns-query')).toMatchObject({ host: '2001:db8::1', literal: '2001:db8::1' });
    for (const bad of ['http://dns.example/dns-query', 'https://u:p@dns.example/', 'not a url', '']) {
      const r = parseDohUrl(bad);
      expect(r instanceof DohError ? r.code : 'parsed').toBe('INVALID_DOH_URL');
    }
  });
});

describe('RFC 8484 POST', () => {
  it('sends the query with id 0 as application/dns-message, with its length', () => {
    const r = encodeDohPostRequest(Q, server('https://[2001:db8::1]:8443/dns-query'));
    if (r instanceof DohError) throw r;
    expect(r.method).toBe('POST');
    expect(r.authority).toBe('[2001:db8::1]:8443');
    expect(r.headers).toEqual({ 'content-type': DOH_CONTENT_TYPE, accept: DOH_CONTENT_TYPE, 'content-length': String(Q.byteLength) });
    expect(decode(r.body).id).toBe(0);
    expect([...r.body.subarray(2)]).toEqual([...Q.subarray(2)]);
    expect(Q[0]).toBe(0xbe); // the caller's bytes are not changed
  });

  it('refuses queries shorter than a header or longer than 65535 bytes', () => {
    for (const q of [new Uint8Array(11), new Uint8Array(DOH_MAX_MESSAGE_BYTES + 1)]) {
      expect(code(encodeDohPostRequest(q, server('https://dns.example/')) as DohError)).toBe('DOH_BAD_QUERY');
    }
  });
});

describe('checking a DoH answer', () => {
  it('a good answer comes back with the query id restored', () => {
    const r = checkDohResponse(Q, ok(A0));
    if (r instanceof DohError) throw r;
    const d = decode(r);
    expect(d.id).toBe(0xbeef);
    expect(d.answers.map((a) => a.data)).toEqual(['192.0.2.1']);
  });

  it('content type parameters and case are accepted; no content-length is fine', () => {
    expect(code(checkDohResponse(Q, ok(A0, { contentType: 'Application/DNS-Message; charset=binary', contentLength: undefined })))).toBe('ok');
  });

  it.each([
    ['wrong status', ok(A0, { status: 502 }), 'DOH_HTTP_STATUS'],
    ['redirect', ok(A0, { status: 301 }), 'DOH_HTTP_STATUS'],
    ['wrong content type', ok(A0, { contentType: 'text/html' }), 'DOH_CONTENT_TYPE'],
    ['no content type', ok(A0, { contentType: undefined }), 'DOH_CONTENT_TYPE'],
    ['oversized body', ok(new Uint8Array(DOH_MAX_MESSAGE_BYTES + 1)), 'DOH_BODY_TOO_LARGE'],
    ['oversized content-length', ok(A0, { contentLength: 70_000 }), 'DOH_BODY_TOO_LARGE'],
    ['body shorter than its content-length', ok(A0.subarray(0, 20), { contentLength: A0.byteLength }), 'DOH_BODY_TRUNCATED'],
    ['stream reset mid-body', ok(A0, { complete: false }), 'DOH_BODY_TRUNCATED'],
    ['garbage', ok(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])), 'DOH_MALFORMED'],
    ['empty body', ok(new Uint8Array(0)), 'DOH_MALFORMED'],
    ['a query, not a response', ok(encodeBody(Q)), 'DOH_MALFORMED'],
    ['id not 0', ok(answer(Q, [])), 'DOH_ID_MISMATCH'],
    ['another question', ok(answer(encodeBody(query('evil.example', 'A', 0)), [])), 'DOH_QUESTION_MISMATCH'],
    ['another type', ok(answer(encodeBody(query('www.example.com', 'AAAA', 0)), [])), 'DOH_QUESTION_MISMATCH'],
  ])('%s -> %s', (_name, response, expected) => {
    expect(code(checkDohResponse(Q, response))).toBe(expected);
  });

  it('the question matches case-insensitively (0x20 randomisation)', () => {
    expect(code(checkDohResponse(Q, ok(answer(encodeBody(query('WWW.Example.COM', 'A', 0)), []))))).toBe('ok');
  });

  it('any bytes, status and headers: a DohError or an answer with the query id, never a throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0, max: 999 }), fc.option(fc.string()), fc.option(fc.nat()), fc.boolean(), (body, status, ct, cl, complete) => {
        const r = checkDohResponse(Q, { status, contentType: ct ?? undefined, contentLength: cl ?? undefined, body, complete });
        if (!(r instanceof DohError)) expect(decode(r).id).toBe(0xbeef);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('DohBody', () => {
  it('collects chunks up to the limit and says when a body is over it', () => {
    const b = new DohBody();
    expect(b.push(new Uint8Array([1, 2]))).toBe(true);
    expect(b.push(new Uint8Array([3]))).toBe(true);
    expect([...b.bytes()]).toEqual([1, 2, 3]);
    expect(b.push(new Uint8Array(DOH_MAX_MESSAGE_BYTES))).toBe(false);
    expect(b.byteLength).toBe(DOH_MAX_MESSAGE_BYTES + 1); // kept just past the limit, not more
    expect(code(checkDohResponse(Q, ok(b.bytes(), { contentLength: undefined })))).toBe('DOH_BODY_TOO_LARGE');
  });
});
