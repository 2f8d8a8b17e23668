// The real @sentry/node SDK against a local HTTP server on 127.0.0.1 that receives Sentry envelopes.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Telemetry } from '../../src/index';

interface Envelope {
  header: Record<string, unknown>;
  items: { header: Record<string, unknown>; payload: unknown }[];
}

interface SentryEvent {
  environment?: string;
  release?: string;
  tags?: Record<string, string>;
  exception: { values: { value: string }[] };
  extra: Record<string, unknown>;
}
interface SessionUpdate {
  status: string;
  attrs: Record<string, string>;
}

function parseEnvelope(body: Buffer): Envelope {
  const lines = body.toString('utf8').split('\n');
  const header = JSON.parse(lines[0] ?? '{}');
  const items: Envelope['items'] = [];
  for (let i = 1; i + 1 < lines.length + 1; i += 2) {
    const h = lines[i];
    if (h === undefined || h === '') break;
    const p = lines[i + 1] ?? '';
    let payload: unknown = p;
    try {
      payload = JSON.parse(p);
    } catch {
      // non-JSON attachment
    }
    items.push({ header: JSON.parse(h), payload });
  }
  return { header, items };
}

describe('telemetry with the real Sentry SDK', () => {
  let server: Server;
  let port: number;
  const envelopes: Envelope[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => {
        chunks.push(c);
      });
      req.on('end', () => {
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        envelopes.push(parseEnvelope(body));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((r) => {
      server.listen(0, '127.0.0.1', () => {
        r();
      });
    });
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((r) => {
      server.close(() => {
        r();
      });
    });
  });

  const events = (): SentryEvent[] => envelopes.flatMap((e) => e.items.filter((i) => i.header['type'] === 'event').map((i) => i.payload as SentryEvent));
  const sessions = (): SessionUpdate[] => envelopes.flatMap((e) => e.items.filter((i) => i.header['type'] === 'session').map((i) => i.payload as SessionUpdate));

  it('delivers an error with environment, release, git SHA and the whole cause chain, once per 5 minutes', async () => {
    let now = 0;
    const t = new Telemetry(() => now);
    const state = t.start({
      component: 'gateway',
      version: '1.2.3',
      gitSha: 'abc1234',
      apiUrl: 'wss://portal.corp.example',
      dsn: `http://publickey@127.0.0.1:${port}/42`,
      env: {},
    });
    expect(state).toEqual({ enabled: true, environment: 'on-prem', release: 'gateway@1.2.3' });
    t.startSession();
    const failure = () => {
      const root = Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
      return new Error('cannot connect to the portal', { cause: new Error('websocket handshake failed', { cause: root }) });
    };
    t.captureError(failure());
    now += 60_000;
    t.captureError(failure()); // same chain within 5 minutes: dropped
    now += 5 * 60 * 1000;
    t.captureError(failure()); // window over: sent again
    await t.stop(5000);

    const evs = events();
    expect(evs).toHaveLength(2);
    const ev = evs[0];
    if (ev === undefined) throw new Error('no event');
    expect(ev.environment).toBe('on-prem');
    expect(ev.release).toBe('gateway@1.2.3');
    expect(ev.tags).toMatchObject({ git_sha: 'abc1234', component: 'gateway' });
    const messages = ev.exception.values.map((v) => v.value);
    expect(messages).toEqual(expect.arrayContaining(['cannot connect to the portal', 'websocket handshake failed', 'connection refused']));
    expect(ev.extra.error_chain).toBe('cannot connect to the portal: websocket handshake failed: connection refused');
    const s = sessions();
    expect(s.length).toBeGreaterThanOrEqual(1);
    expect(s.at(-1)?.status).toBe('exited');
    expect(s.at(-1)?.attrs).toMatchObject({ release: 'gateway@1.2.3', environment: 'on-prem' });
  });

  it('sends nothing on-prem without a DSN, nor with --no-telemetry or POSTERN_NO_TELEMETRY', async () => {
    const before = envelopes.length;
    const t = new Telemetry();
    expect(t.start({ component: 'gateway', version: '1', gitSha: 'x', apiUrl: 'wss://portal.corp.example', env: {} }).reason).toBe('on-prem-without-dsn');
    t.captureError(new Error('nope'));
    const dsn = `http://publickey@127.0.0.1:${port}/42`;
    expect(t.start({ component: 'gateway', version: '1', gitSha: 'x', apiUrl: 'wss://api.postern.dev', dsn, noTelemetry: true, env: {} }).reason).toBe('no-telemetry');
    t.captureError(new Error('nope'));
    expect(t.start({ component: 'gateway', version: '1', gitSha: 'x', apiUrl: 'wss://api.postern.dev', dsn, env: { POSTERN_NO_TELEMETRY: '1' } }).reason).toBe('no-telemetry');
    t.captureError(new Error('nope'));
    await t.stop();
    await new Promise((r) => setTimeout(r, 200));
    expect(envelopes.length).toBe(before);
  });

  it('works inside an esbuild bundle, silently', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ptel-'));
    try {
      const file = join(dir, 'main.mjs');
      await build({
        entryPoints: [join(import.meta.dirname, 'support/driver.ts')],
        outfile: file,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        logLevel: 'error',
        banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
      });
      const before = events().length;
      // async: the envelope server lives in this process and must keep answering meanwhile
      const r = await promisify(execFile)(process.execPath, [file], {
        encoding: 'utf8',
        timeout: 20_000,
        env: { ...process.env, POSTERN_TELEMETRY_DSN: `http://publickey@127.0.0.1:${port}/7`, POSTERN_NO_TELEMETRY: '' },
      });
      expect(r.stderr).toBe('');
      const ev = events().slice(before)[0];
      expect(ev?.release).toBe('relay@2.0.0');
      expect(ev?.extra['error_chain']).toBe('bundled outer: bundled root');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
