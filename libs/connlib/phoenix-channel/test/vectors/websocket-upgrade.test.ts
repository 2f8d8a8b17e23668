// Firezone's upgrade vectors (test/fixtures/portal-websocket-upgrade.json, Apache-2.0, from firezone/firezone rust/).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  baseUrl,
  buildLoginUrl,
  classifyHttpFailure,
  externalId,
  hostAndPort,
  mtlsHost,
  parseProblemDetails,
  parseRetryAfterMs,
  PhoenixChannelError,
  upgradeHeaders,
  type PortalRole,
} from '../../src/index';
import { Harness } from '../sim/harness';

interface Case {
  id: string;
  kind: string;
  status?: number;
  content_type?: string | null;
  body?: string;
  headers?: Record<string, string>;
  input?: unknown;
  token?: string | null;
  expect: 'ok' | 'error';
  asserts: Record<string, unknown> | null;
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/portal-websocket-upgrade.json', import.meta.url), 'utf8')) as { cases: Case[] };
const ofKind = (k: string): (readonly [string, Case])[] => fixture.cases.filter((c) => c.kind === k).map((c) => [c.id, c] as const);

describe('problem details', () => {
  it.each(ofKind('problem_details'))('%s', (_id, c) => {
    const d = parseProblemDetails(c.content_type, c.body ?? '');
    if (c.expect === 'error') {
      expect(d).toBeUndefined();
      return;
    }
    expect(d?.code ?? null).toBe(c.asserts?.['code']);
    if (c.asserts && 'detail' in c.asserts) expect(d?.detail).toBe(c.asserts['detail']);
  });
});

describe('HTTP failures of the websocket upgrade', () => {
  it.each(ofKind('http_upgrade_response'))('%s', (_id, c) => {
    const problem = parseProblemDetails(c.content_type, c.body ?? '');
    const retryAfterMs = parseRetryAfterMs(c.headers?.['Retry-After'], Date.now());
    const r = classifyHttpFailure({ status: c.status ?? 0, problem, retryAfterMs });
    const a = c.asserts ?? {};
    if (c.expect === 'error') {
      expect(r.fatal).toBe(true);
      expect(r.error.code).toBe(a['error'] === 'InvalidToken' ? 'INVALID_TOKEN' : 'AUTHENTICATION_FAILED');
      if ('requires_sign_in' in a) expect(r.error.requiresSignIn).toBe(a['requires_sign_in']);
      if ('display' in a) expect(r.error.message).toBe(a['display']);
      return;
    }
    expect(r.fatal).toBe(false);
    // Drive the core: a hiccup whose backoff is Retry-After when present.
    const h = new Harness().start();
    h.takeEvents();
    h.core.handleHttpFailure(h.core.currentConnection, { status: c.status ?? 0, problem, retryAfterMs }, h.now);
    h.drain();
    const e = h.events[0];
    expect(e?.type).toBe('hiccup');
    if ('backoff_secs' in a && e?.type === 'hiccup') expect(e.backoffMs).toBe(Number(a['backoff_secs']) * 1000);
  });

  it('401 with invalid_token stops the channel without any retry', () => {
    const h = new Harness().start();
    h.core.handleHttpFailure(h.core.currentConnection, { status: 401, problem: { code: 'invalid_token', detail: null, title: null, status: 401 } }, h.now);
    h.drain();
    h.advance(120_000);
    expect(h.opens).toBe(1);
    expect(h.events.at(-1)).toMatchObject({ type: 'fatal', error: { code: 'INVALID_TOKEN' } });
  });
});

describe('Retry-After', () => {
  const wall = Date.UTC(2026, 0, 1, 12, 0, 0);
  it.each(ofKind('retry_after').filter(([, c]) => !String(c.input).startsWith('<')))('%s', (_id, c) => {
    const ms = parseRetryAfterMs(String(c.input), wall);
    if (c.expect === 'error') expect(ms).toBeUndefined();
    else expect(ms).toBe(Number(c.asserts?.['secs']) * 1000);
  });
  it('retry_after_http_date_future: an HTTP-date 60 s ahead', () => {
    expect(parseRetryAfterMs(new Date(wall + 60_000).toUTCString(), wall)).toBe(60_000);
  });
  it('retry_after_http_date_past: past dates clamp to zero', () => {
    expect(parseRetryAfterMs(new Date(wall - 60_000).toUTCString(), wall)).toBe(0);
  });
});

describe('initial_connect_backoff', () => {
  it('retries every 1 s before the first join and gives up after 15 s with MAX_RETRIES_REACHED', () => {
    const h = new Harness();
    h.autoOpen = false;
    h.start();
    const failAll = (): void => {
      if (h.socket !== undefined && h.core.state === 'connecting') h.core.handleSocketError(h.socket, new Error('ECONNREFUSED'), h.now);
      h.drain();
    };
    for (let t = 0; t <= 20_000; t += 100) {
      failAll();
      h.advance(100);
    }
    const hiccups = h.events.filter((e) => e.type === 'hiccup');
    expect(new Set(hiccups.map((e) => (e as { backoffMs: number }).backoffMs))).toEqual(new Set([1000]));
    expect(hiccups).toHaveLength(15);
    expect(h.events.at(-1)).toMatchObject({ type: 'fatal', error: { code: 'MAX_RETRIES_REACHED' } });
  });
});

describe('X-Authorization', () => {
  it.each(ofKind('request_header'))('%s', (_id, c) => {
    const h = upgradeHeaders(c.token ?? undefined, 'Linux/1 test/0 (x86_64; 6)');
    expect(h['X-Authorization'] ?? null).toBe(c.asserts?.['X-Authorization']);
  });
});

describe('login URL', () => {
  it.each(ofKind('login_url').filter(([, c]) => c.input !== null))('%s', (_id, c) => {
    const input = c.input as { role?: PortalRole; url: string; certificate?: boolean; listen_port?: number; fn?: string; override?: string | null };
    const a = c.asserts ?? {};
    if (input.fn === 'mtls_host') {
      const h = mtlsHost(input.url, input.override ?? undefined);
      if (c.expect === 'error') expect(h instanceof PhoenixChannelError && h.code).toBe('CERTIFICATE_NOT_SUPPORTED');
      else expect(h).toBe(a['host']);
      return;
    }
    const url = buildLoginUrl({ role: input.role ?? 'client', apiUrl: input.url, deviceId: 'some-id', name: 'some-name', certificate: input.certificate ?? false, ...(input.listen_port !== undefined ? { port: input.listen_port } : {}) });
    if (c.expect === 'error') {
      const code = a['error'] === 'InsecureUrlWithCertificate' ? 'INSECURE_URL_WITH_CERTIFICATE' : 'CERTIFICATE_NOT_SUPPORTED';
      expect(url instanceof PhoenixChannelError && url.code).toBe(code);
      return;
    }
    if (url instanceof PhoenixChannelError) throw url;
    if ('base_url' in a) expect(baseUrl(url)).toBe(a['base_url']);
    if ('path' in a) expect(url.pathname).toBe(a['path']);
    if ('host' in a) expect(hostAndPort(url)).toEqual({ host: a['host'], port: a['port'] });
  });

  it('login_url_rules: scheme mapping, path prefix, query order, external_id and public_key', () => {
    const id = '1b4e28ba-2fa1-11d2-883f-0016d3cca427';
    const url = buildLoginUrl({
      role: 'gateway',
      apiUrl: 'https://portal.example.com/prefix/?old=1',
      deviceId: id,
      name: 'gw 1',
      deviceSerial: 'serial',
      deviceUuid: 'uuid',
      publicKey: new Uint8Array(32),
    });
    if (url instanceof PhoenixChannelError) throw url;
    expect(url.protocol).toBe('wss:');
    expect(url.pathname).toBe('/prefix/gateway/v2/websocket');
    expect([...url.searchParams.keys()]).toEqual(['external_id', 'name', 'device_serial', 'device_uuid', 'public_key']);
    expect(url.searchParams.get('external_id')).toBe(externalId(id));
    expect(externalId(id)).toMatch(/^[0-9a-f]{64}$/);
    expect(externalId('not-a-uuid')).toBe('not-a-uuid');
    expect(url.searchParams.get('public_key')).toBe(Buffer.alloc(32).toString('base64'));
    const relay = buildLoginUrl({ role: 'relay', apiUrl: 'http://localhost:8081', name: 'r', port: 3478, ipv4: '198.18.16.1' });
    if (relay instanceof PhoenixChannelError) throw relay;
    expect(relay.href).toBe('ws://localhost:8081/relay/websocket?name=r&ipv4=198.18.16.1&port=3478');
    const bad = buildLoginUrl({ role: 'client', apiUrl: 'ftp://x' });
    expect(bad instanceof PhoenixChannelError && bad.code).toBe('INVALID_URL');
  });
});
