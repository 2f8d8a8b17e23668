// A real `ws` portal on 127.0.0.1 whose behaviour per connection attempt is scripted by the test.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

export type Attempt =
  | { readonly kind: 'http'; readonly status: number; readonly headers?: Record<string, string>; readonly body?: string }
  | { readonly kind: 'hang' } // accept TCP, never answer the upgrade
  | { readonly kind: 'ws'; readonly onFrame: (ws: WebSocket, frame: Frame, raw: string) => void; readonly onOpen?: (ws: WebSocket) => void };

export interface Frame {
  topic: string;
  event: string;
  payload: unknown;
  ref: number | null;
}

export interface Upgrade {
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly at: number;
}

export class MisbehavingPortal {
  readonly upgrades: Upgrade[] = [];
  readonly received: Frame[] = [];
  private readonly http: Server | TlsServer;
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sockets = new Set<Duplex>();
  port = 0;

  /** `tls`: serve wss: with this key and certificate (PEM). */
  constructor(
    private readonly script: (attempt: number) => Attempt,
    private readonly tls?: { readonly key: string; readonly cert: string },
  ) {
    const notFound = (_req: IncomingMessage, res: ServerResponse): void => {
      res.writeHead(404).end();
    };
    this.http = tls === undefined ? createServer(notFound) : createTlsServer({ key: tls.key, cert: tls.cert }, notFound);
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => this.sockets.delete(socket));
      const n = this.upgrades.length;
      this.upgrades.push({ url: req.url ?? '', headers: req.headers, at: performance.now() });
      const a = this.script(n);
      switch (a.kind) {
        case 'hang':
          return;
        case 'http': {
          const body = a.body ?? '';
          const headers = { 'content-length': String(Buffer.byteLength(body)), connection: 'close', ...a.headers };
          socket.end(`HTTP/1.1 ${a.status} X\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${body}`);
          return;
        }
        case 'ws':
          this.wss.handleUpgrade(req, socket, head, (ws) => {
            a.onOpen?.(ws);
            ws.on('message', (data: Buffer) => {
              const raw = data.toString('utf8');
              const frame = JSON.parse(raw) as Frame;
              this.received.push(frame);
              a.onFrame(ws, frame, raw);
            });
          });
      }
    });
  }

  private host = '127.0.0.1';

  async listen(host = '127.0.0.1'): Promise<this> {
    this.host = host;
    await new Promise<void>((resolve) => this.http.listen(0, host, resolve));
    const addr = this.http.address();
    this.port = typeof addr === 'object' && addr ? addr.port : 0;
    return this;
  }

  get url(): string {
    return `${this.tls === undefined ? 'ws' : 'wss'}://${this.host}:${this.port}/client/v2/websocket?external_id=abc&name=test`;
  }

  async close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.http.close(() => { resolve(); }));
  }
}

/** A well-behaved portal: acks the join and heartbeats; echoes `echo` requests as ok replies. */
export function wellBehaved(extra?: (ws: WebSocket, f: Frame) => boolean): Attempt {
  return {
    kind: 'ws',
    onFrame: (ws, f) => {
      if (extra?.(ws, f) === true) return;
      if (f.event === 'phx_join') {
        reply(ws, f, {});
        push(ws, 'client', 'init', { interface: {}, resources: [], relays: [] });
      } else if (f.event === 'heartbeat') reply(ws, f, {});
      else if (f.event === 'echo') reply(ws, f, f.payload);
    },
  };
}

export function reply(ws: WebSocket, f: Frame, response: unknown, status: 'ok' | 'error' = 'ok'): void {
  ws.send(JSON.stringify({ event: 'phx_reply', ref: f.ref, topic: f.topic, payload: { status, response } }));
}
export function push(ws: WebSocket, topic: string, event: string, payload: unknown): void {
  ws.send(JSON.stringify({ topic, event, payload, ref: null }));
}
