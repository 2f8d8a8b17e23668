// DnsIo's DoH shell against the tests' own HTTP/2 DoH server on loopback (a throw-away CA): POSTs reach the
// server with id 0 over one session, responses of any kind go to the state as they came, and a slow server,
// a closed port and an untrusted certificate end in DohErrors (DOH_TIMEOUT, DOH_CONNECT), never a crash.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as dnsPacket from 'dns-packet';
import { pino } from 'pino';
import { DohError, encodeDohPostRequest, parseDohUrl, type DohHttpResponse } from '@postern/dns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DnsForward, DohForward } from '../../src/dns/client-dns';
import { DnsIo, type DnsForwardingState, type DohForwardingState } from '../../src/io/dns-io';
import { makeTestCerts } from '../support/doh-certs';

class RecordingState implements DnsForwardingState, DohForwardingState {
  readonly responses = new Map<number, DohHttpResponse>();
  readonly failures = new Map<number, DohError>();
  pollDnsForward(): DnsForward | undefined {
    return undefined;
  }
  handleDnsUpstreamResponse(): void {
    /* Do53 only */
  }
  setSystemResolvers(): void {
    /* not used here */
  }
  handleDnsDohResponse(token: number, response: DohHttpResponse): DohError | undefined {
    this.responses.set(token, response);
    return undefined;
  }
  handleDnsDohFailure(token: number, error: DohError): void {
    this.failures.set(token, error);
  }
}

let dir: string;
let server: ChildProcess | undefined;
let port = 0;
const log: { method?: string; type?: string; id?: number; name?: string }[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'postern-doh-io-'));
  const certs = makeTestCerts(dir, ['localhost'], ['127.0.0.1']);
  const child = spawn(process.execPath, [join(import.meta.dirname, '../support/doh-server.mjs'), '--listen', '127.0.0.1', '--port', '0', '--cert', certs.certFile, '--key', certs.keyFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  server = child;
  const lines = createInterface({ input: child.stdout });
  port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => {
      reject(new Error(`the DoH server exited (${String(code)})`));
    });
    lines.on('line', (line) => {
      const m = JSON.parse(line) as { listening?: number; doh?: (typeof log)[number] };
      if (m.listening !== undefined) resolve(m.listening);
      if (m.doh !== undefined) log.push(m.doh);
    });
  });
});

afterAll(() => {
  server?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

let nextToken = 1;
function forward(name: string, id: number, url: string, timeoutMs = 3000): DohForward {
  const server = parseDohUrl(url);
  if (server instanceof DohError) throw server;
  const q = new Uint8Array(dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: 'A', class: 'IN' }] }));
  const request = encodeDohPostRequest(q, server);
  if (request instanceof DohError) throw request;
  return { transport: 'https', token: nextToken++, server, address: server.literal ?? '127.0.0.1', request, timeoutMs };
}

function io(trusted: boolean): DnsIo {
  const guard = (f: () => void): void => {
    f();
  };
  return new DnsIo({ logger: pino({ level: 'silent' }), guard, now: () => performance.now(), ...(trusted ? { dohCa: readFileSync(join(dir, 'ca.pem'), 'utf8') } : {}) });
}

async function settled(state: RecordingState, tokens: readonly number[], ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!tokens.every((t) => state.responses.has(t) || state.failures.has(t))) {
    if (Date.now() > end) throw new Error('timed out waiting for DoH outcomes');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('DnsIo over DoH (HTTP/2, loopback)', () => {
  it('POSTs with id 0 as application/dns-message; answers and error statuses reach the state as they came', async () => {
    const d = io(true);
    const state = new RecordingState();
    const url = `https://127.0.0.1:${String(port)}/dns-query`;
    const fs = [forward('www.pdnh.test', 0x1111, url), forward('nope.pdnh.test', 0x2222, url), forward('status.pdnh.test', 3, url), forward('malformed.pdnh.test', 4, url)];
    for (const f of fs) d.forward(state, f);
    await settled(state, fs.map((f) => f.token));
    const [www, nope, status, malformed] = fs.map((f) => state.responses.get(f.token));
    expect(state.failures.size).toBe(0);
    expect(www).toMatchObject({ status: 200, contentType: 'application/dns-message', complete: true });
    const a = dnsPacket.decode(Buffer.from(www?.body ?? new Uint8Array(0)));
    expect([a.id, a.answers?.map((x) => ('data' in x ? x.data : undefined))]).toEqual([0, ['198.18.20.80']]);
    expect(((nope?.body[3] ?? 0) & 0xf)).toBe(3); // NXDOMAIN
    expect(status?.status).toBe(500);
    expect(malformed).toMatchObject({ status: 200, complete: true });
    expect(log.filter((l) => l.name === 'www.pdnh.test')).toEqual([{ method: 'POST', path: '/dns-query', type: 'application/dns-message', id: 0, name: 'www.pdnh.test' }]);
    expect(d.stats).toMatchObject({ dohRequests: 4, dohAnswers: 4, dohFailures: 0 });
    await d.close();
  });

  it('a server that does not answer: DOH_TIMEOUT after the forward timeout', async () => {
    const d = io(true);
    const state = new RecordingState();
    const f = forward('slow.pdnh.test', 5, `https://127.0.0.1:${String(port)}/dns-query`, 300);
    const start = performance.now();
    d.forward(state, f);
    await settled(state, [f.token]);
    expect(state.failures.get(f.token)?.code).toBe('DOH_TIMEOUT');
    expect(performance.now() - start).toBeLessThan(2000);
    await d.close();
  });

  it('a closed port and an untrusted certificate: DOH_CONNECT', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const addr = probe.address();
    const closedPort = typeof addr === 'object' && addr !== null ? addr.port : 1;
    await new Promise<void>((r) => probe.close(() => { r(); }));
    const state = new RecordingState();
    const d = io(true);
    const closed = forward('www.pdnh.test', 6, `https://127.0.0.1:${String(closedPort)}/dns-query`);
    d.forward(state, closed);
    const untrusting = io(false);
    const untrusted = forward('www.pdnh.test', 7, `https://127.0.0.1:${String(port)}/dns-query`);
    untrusting.forward(state, untrusted);
    await settled(state, [closed.token, untrusted.token]);
    expect(state.failures.get(closed.token)?.code).toBe('DOH_CONNECT');
    const err = state.failures.get(untrusted.token);
    expect(err?.code).toBe('DOH_CONNECT');
    expect(String((err?.cause as { code?: string } | undefined)?.code)).toMatch(/CERT|SIGNED|ISSUER|VERIFY/);
    await d.close();
    await untrusting.close();
  });
});
