// The GUI's local web server: 127.0.0.1 only, a per-run secret. The launch URL `/?s=<secret>` sets an
// HttpOnly cookie; every other request needs that cookie, a Host header naming this server (no DNS
// rebinding), and state-changing requests also the secret in `X-Postern-Secret` (no cross-site requests).
// Requests without them get 403.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { z } from 'zod';
import { constantTimeEqual, type GuiController } from './controller';
import { APP_JS, pageHtml } from './page';
import { zipStored, type ZipEntry } from './zip';

export const SECRET_COOKIE = 'postern_gui';
const MAX_BODY = 16 * 1024;

export interface WebOptions {
  readonly controller: GuiController;
  readonly logger: Logger;
  /** 0 = any free port. */
  readonly port?: number;
  /** Log files to export (GUI + service). */
  readonly collectLogs: () => ZipEntry[];
  /** For tests: a fixed secret. */
  readonly secret?: string;
}

export interface WebHandle {
  readonly port: number;
  readonly origin: string;
  /** What to open in the browser (carries the secret once; it becomes a cookie). */
  readonly launchUrl: string;
  readonly secret: string;
  close(): Promise<void>;
}

/** The secret from a Cookie header, if present. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export type Verdict = 'ok' | 'bad-host' | 'no-secret' | 'no-csrf';

/** Decides whether a request may reach the UI (pure: tested on its own). */
export function checkRequest(
  req: { method: string; host: string | undefined; cookie: string | undefined; csrf: string | undefined },
  secret: string,
  port: number,
): Verdict {
  const hosts = [`127.0.0.1:${String(port)}`, `localhost:${String(port)}`];
  if (req.host === undefined || !hosts.includes(req.host.toLowerCase())) return 'bad-host';
  const cookie = cookieValue(req.cookie, SECRET_COOKIE);
  if (cookie === undefined || !constantTimeEqual(cookie, secret)) return 'no-secret';
  if (req.method !== 'GET' && req.method !== 'HEAD' && (req.csrf === undefined || !constantTimeEqual(req.csrf, secret))) return 'no-csrf';
  return 'ok';
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += b.length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(b);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? {} : (JSON.parse(text) as unknown);
}

const InternetBody = z.object({ active: z.boolean() }).strict();
const SettingsBody = z.object({ portalUrl: z.string().min(1).max(2000), logFilter: z.string().min(1).max(1000) }).strict();

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
};

export async function startWeb(opts: WebOptions): Promise<WebHandle> {
  const secret = opts.secret ?? randomBytes(32).toString('base64url');
  const log = opts.logger.child({ module: 'web' });
  const c = opts.controller;
  let port = 0;

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, ...extra }).end(body);
  };
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${String(port)}`);
    const method = req.method ?? 'GET';
    // The launch URL: the secret in the query becomes the cookie.
    if (method === 'GET' && url.pathname === '/' && url.searchParams.has('s')) {
      const s = url.searchParams.get('s') ?? '';
      const hostOk = checkRequest({ method, host: req.headers.host, cookie: `${SECRET_COOKIE}=${s}`, csrf: undefined }, secret, port);
      if (hostOk !== 'ok') {
        send(res, 403, 'text/plain; charset=utf-8', 'Forbidden: wrong secret. Open the URL postern-gui printed.\n');
        return;
      }
      send(res, 303, 'text/plain; charset=utf-8', '', { location: '/', 'set-cookie': `${SECRET_COOKIE}=${secret}; HttpOnly; SameSite=Lax; Path=/` });
      return;
    }
    const verdict = checkRequest(
      { method, host: req.headers.host, cookie: req.headers.cookie, csrf: typeof req.headers['x-postern-secret'] === 'string' ? req.headers['x-postern-secret'] : undefined },
      secret,
      port,
    );
    if (verdict !== 'ok') {
      log.info({ verdict, path: url.pathname }, 'refused a request');
      send(res, 403, 'text/plain; charset=utf-8', 'Forbidden: open the URL postern-gui printed.\n');
      return;
    }
    const route = `${method} ${url.pathname}`;
    switch (route) {
      case 'GET /':
        send(res, 200, 'text/html; charset=utf-8', pageHtml(secret));
        return;
      case 'GET /app.js':
        send(res, 200, 'text/javascript; charset=utf-8', APP_JS);
        return;
      case 'GET /api/state':
        json(res, 200, c.view());
        return;
      case 'POST /api/sign-in':
        json(res, 200, { url: c.signInUrl(`http://127.0.0.1:${String(port)}/auth/callback`) });
        return;
      case 'GET /auth/callback': {
        const r = c.handleCallback(url.searchParams);
        if (r.ok) send(res, 303, 'text/plain; charset=utf-8', '', { location: '/' });
        else send(res, 400, 'text/html; charset=utf-8', `<!doctype html><title>Sign-in failed</title><p role="alert">Sign-in failed: ${escapeHtml(r.error)}</p><a href="/">Back</a>`);
        return;
      }
      case 'POST /api/internet': {
        const b = InternetBody.safeParse(await readJson(req));
        if (!b.success) {
          json(res, 400, { error: 'expected {active: boolean}' });
          return;
        }
        c.setInternetResource(b.data.active);
        json(res, 200, c.view());
        return;
      }
      case 'POST /api/settings': {
        const b = SettingsBody.safeParse(await readJson(req));
        if (!b.success) {
          json(res, 400, { error: 'expected {portalUrl, logFilter}' });
          return;
        }
        const r = c.applySettings(b.data);
        json(res, r.ok ? 200 : 400, r.ok ? c.view() : { error: r.error });
        return;
      }
      case 'POST /api/sign-out':
        c.signOut();
        json(res, 200, c.view());
        return;
      case 'POST /api/clear-logs':
        c.clearLogs();
        json(res, 200, c.view());
        return;
      case 'GET /api/logs.zip': {
        const zip = zipStored(opts.collectLogs());
        const name = `postern-logs-${new Date().toISOString().replace(/[:.]/g, '-')}.zip`;
        send(res, 200, 'application/zip', zip, { 'content-disposition': `attachment; filename="${name}"` });
        return;
      }
      default:
        send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.warn(`request failed: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) json(res, 400, { error: err instanceof Error ? err.message : String(err) });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${String(port)}`;
  return {
    port,
    origin,
    secret,
    launchUrl: `${origin}/?s=${secret}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] ?? ch);
}
