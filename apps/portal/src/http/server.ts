// The IO shell: node:http + ws. Routes upgrades to the PortalCore, serves /healthz, /metrics and the
// sign-in page, and carries out the core's outputs. No protocol logic here.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { PORTAL_PATHS } from '@postern/model';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ConnectQuery } from '../core/auth';
import type { PortalCore } from '../core/portal';
import type { Output, Role } from '../core/state';
import { renderMetrics, type ReloadCounters } from './metrics';
import { handleSignIn } from './signin';
import { DEFAULT_THROTTLE, SignInThrottle, type ThrottleOptions } from '../core/throttle';

const ROLES = new Map<string, Role>([
  [PORTAL_PATHS.client, 'client'],
  [PORTAL_PATHS.gateway, 'gateway'],
  [PORTAL_PATHS.relay, 'relay'],
]);

export interface PortalServerOptions {
  readonly core: PortalCore;
  readonly logger: Logger;
  readonly reloads?: ReloadCounters;
  /** Wall clock in ms (tests pass a fake one). */
  readonly clock?: () => number;
  readonly tickMs?: number;
  /** Sign-in brute-force throttling (defaults: DEFAULT_THROTTLE). */
  readonly throttle?: ThrottleOptions;
}

/** `Bearer <token>` from X-Authorization, else the `token` query parameter. Whitespace is removed. */
export function tokenFrom(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers['x-authorization'];
  const value = Array.isArray(header) ? header[0] : header;
  const m = value === undefined ? null : /^Bearer\s+(.+)$/i.exec(value.trim());
  const token = m?.[1] ?? url.searchParams.get('token') ?? undefined;
  return token?.replace(/\s+/g, '');
}

function refuse(socket: Duplex, status: number, title: string, body: Record<string, unknown>): void {
  const text = JSON.stringify({ type: 'about:blank', title, status, ...body });
  socket.end(
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}

export class PortalServer {
  readonly http: Server;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
  private readonly sockets = new Map<number, WebSocket>();
  private readonly clock: () => number;
  private readonly timer: NodeJS.Timeout;
  private readonly reloads: ReloadCounters;
  private readonly throttle: SignInThrottle;

  constructor(private readonly opts: PortalServerOptions) {
    this.clock = opts.clock ?? Date.now;
    this.reloads = opts.reloads ?? { ok: 0, error: 0 };
    this.throttle = new SignInThrottle(opts.throttle ?? DEFAULT_THROTTLE);
    this.http = createServer((req, res) => {
      this.request(req, res).catch((err: unknown) => {
        opts.logger.error({ err }, 'request failed');
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgrade(req, socket, head);
    });
    this.timer = setInterval(() => {
      opts.core.tick(this.clock());
      this.flush();
    }, opts.tickMs ?? 1000);
    this.timer.unref();
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    const addr = this.http.address();
    if (addr === null || typeof addr === 'string') throw new Error('not listening on TCP');
    return addr;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const ws of this.sockets.values()) ws.close(1001, 'portal shutting down');
    this.wss.close();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => { resolve(); }));
  }

  /** Carries out what the core asked for (closing a socket may produce more output: loop). */
  flush(): void {
    for (let outs = this.opts.core.drain(); outs.length > 0; outs = this.opts.core.drain()) {
      for (const out of outs) this.carryOut(out);
    }
  }

  private carryOut(out: Output): void {
    if (out.kind === 'log') {
      this.opts.logger[out.level](out.fields ?? {}, out.msg);
      return;
    }
    const ws = this.sockets.get(out.connId);
    if (!ws) return;
    if (out.kind === 'send') {
      if (ws.readyState === ws.OPEN) ws.send(out.text);
      return;
    }
    this.sockets.delete(out.connId);
    ws.close(out.code, out.reason);
    this.opts.core.close(out.connId, this.clock());
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err) => { this.opts.logger.debug({ err: err.message }, 'upgrade socket error'); });
    const url = new URL(req.url ?? '/', 'http://portal.invalid');
    const role = ROLES.get(url.pathname);
    if (!role) { refuse(socket, 404, 'Not Found', { detail: 'unknown websocket path' }); return; }
    const q = url.searchParams;
    const query: ConnectQuery = {
      external_id: q.get('external_id') ?? undefined,
      name: q.get('name') ?? undefined,
      public_key: q.get('public_key') ?? undefined,
      ipv4: q.get('ipv4') ?? undefined,
      ipv6: q.get('ipv6') ?? undefined,
      port: q.get('port') ?? undefined,
    };
    const auth = this.opts.core.authenticate(role, tokenFrom(req, url), query, this.clock());
    if (!auth.ok) {
      this.opts.logger.info({ role, code: auth.code, ua: req.headers['user-agent'] }, 'refused websocket');
      refuse(socket, auth.status, auth.status === 401 ? 'Unauthorized' : 'Bad Request', { detail: auth.detail, code: auth.code }); return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      let connId: number;
      try {
        connId = this.opts.core.open(auth.identity, this.clock());
      } catch (err) {
        this.opts.logger.error({ err }, 'cannot register the connection');
        ws.close(1011, 'internal error');
        return;
      }
      this.sockets.set(connId, ws);
      ws.on('message', (data, isBinary) => {
        if (isBinary) return; // Phoenix speaks text frames only
        const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(new Uint8Array(data));
        const text = bytes.toString('utf8');
        try {
          this.opts.core.receive(connId, text, this.clock());
        } catch (err) {
          // The core validates everything; this is a bug, not bad input: drop this socket, keep the portal.
          this.opts.logger.error({ err, conn_id: connId }, 'frame handling failed');
          ws.close(1011, 'internal error');
        }
        this.flush();
      });
      ws.on('close', () => {
        if (this.sockets.get(connId) === ws) this.sockets.delete(connId);
        this.opts.core.close(connId, this.clock());
        this.flush();
      });
      ws.on('error', (err) => { this.opts.logger.debug({ err: err.message, conn_id: connId }, 'websocket error'); });
      this.flush();
    });
  }

  private async request(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://portal.invalid');
    if (url.pathname === '/healthz') {
      const s = this.opts.core.stats();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', clients: s.clients, gateways: s.gateways, relays: s.relays }));
      return;
    }
    if (url.pathname === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(renderMetrics(this.opts.core.stats(), this.reloads));
      return;
    }
    if (url.pathname === '/sign_in') {
      await handleSignIn(this.opts.core, req, res, url, this.clock(), this.throttle);
      return;
    }
    if (ROLES.has(url.pathname)) {
      res.writeHead(426, { 'content-type': 'application/problem+json; charset=utf-8' }).end(JSON.stringify({ title: 'Upgrade Required', status: 426 }));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/problem+json; charset=utf-8' }).end(JSON.stringify({ title: 'Not Found', status: 404 }));
  }
}
