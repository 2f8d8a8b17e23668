/* eslint-disable @typescript-eslint/no-explicit-any -- frames are arbitrary JSON that tests poke into */
// Loopback test peers: a ws client that queues frames, and a portal app in a temp folder.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import WebSocket from 'ws';
import { PortalApp } from '../../src/app';
import { EXAMPLE } from '../support';

export interface Frame {
  topic: string;
  event: string;
  payload: any;
  ref: any;
}

export class Peer {
  readonly frames: Frame[] = [];
  private waiters: (() => void)[] = [];
  closed: { code: number; reason: string } | undefined;
  private ref = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : ''));
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static async connect(url: string, token?: string): Promise<Peer> {
    const ws = new WebSocket(url, token ? { headers: { 'X-Authorization': `Bearer ${token}` } } : {});
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => { resolve(); });
      ws.once('error', reject);
    });
    return new Peer(ws);
  }

  send(frame: object | string): number {
    const ref = this.ref++;
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify({ ref, ...frame }));
    return ref;
  }

  /** Waits for (and removes) the first frame matching. */
  async next(match: (f: Frame) => boolean = () => true, timeoutMs = 3000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(match);
      if (i >= 0) return this.frames.splice(i, 1)[0] as Frame;
      if (this.closed) throw new Error(`closed ${JSON.stringify(this.closed)} while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout; have ${JSON.stringify(this.frames.map((f) => f.event))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  event(name: string, timeoutMs?: number): Promise<Frame> {
    return this.next((f) => f.event === name, timeoutMs);
  }

  async join(topic: string, payload: unknown = null): Promise<Frame | undefined> {
    this.ws.send(JSON.stringify({ topic, event: 'phx_join', payload, ref: 0 }));
    const reply = await this.next((f) => f.event === 'phx_reply' && f.ref === 0);
    if (reply.payload.status !== 'ok') throw new Error(JSON.stringify(reply));
    return topic === 'relay' ? undefined : this.event('init');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const done = new Promise<void>((resolve) => this.ws.once('close', () => { resolve(); }));
    this.ws.close();
    await done;
  }
}

export class TestPortal {
  readonly dir = mkdtempSync(join(tmpdir(), 'postern-portal-test-'));
  readonly configPath = join(this.dir, 'portal.yaml');
  readonly logs: string[] = [];
  app: PortalApp;
  url = '';

  constructor(config: string = EXAMPLE, readonly statePath = ':memory:') {
    writeFileSync(this.configPath, config.replace('127.0.0.1:8080', '127.0.0.1:0'));
    this.app = this.makeApp();
  }

  private makeApp(): PortalApp {
    const sink = new Writable({
      write: (chunk, _enc, cb) => {
        this.logs.push(String(chunk));
        cb();
      },
    });
    return new PortalApp({ configPath: this.configPath, logger: pino({ level: 'debug' }, sink), statePath: this.statePath });
  }

  async start(): Promise<this> {
    const { url } = await this.app.start();
    this.url = url;
    return this;
  }

  async restart(): Promise<void> {
    await this.app.stop();
    this.app = this.makeApp();
    await this.start();
  }

  ws(path: string, query: Record<string, string> = {}): string {
    const u = new URL(path, this.url.replace('http', 'ws'));
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    return u.toString();
  }

  write(config: string): void {
    writeFileSync(this.configPath, config.replace('127.0.0.1:8080', '127.0.0.1:0'));
  }

  async stop(): Promise<void> {
    await this.app.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A raw upgrade request: status, content type and body of the refusal (status 101 when the portal accepts).
 * `token` goes into `X-Authorization: Bearer`; `headers` adds or overrides headers.
 */
export function upgrade(url: string, token?: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const all: Record<string, string> = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };
    if (token) all['x-authorization'] = `Bearer ${token}`;
    const req = request(url.replace(/^ws/, 'http'), { headers: { ...all, ...headers } });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => (body += String(d)));
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }); });
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve({ status: 101, type: undefined, body: '' });
    });
    req.on('error', reject);
    req.end();
  });
}
