// The sign-in page for people (GUI and headless `sign-in`): email + password from the config, then a
// redirect to the client's callback URL with a fresh device token and the state the client sent.
//   GET  /sign_in?redirect_uri=<callback>&state=<state>   -> form
//   POST /sign_in (form: email, password, redirect_uri, state) -> 303 <callback>?token=..&state=..
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PortalCore } from '../core/portal';
import { hashPassword, verifyPasswordAsync } from '../core/secrets';
import type { SignInThrottle } from '../core/throttle';

const MAX_BODY = 16 * 1024;

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

/** Loopback http(s) callbacks, the `postern:` scheme, and the config's allowed prefixes. */
export function isAllowedRedirect(uri: string, allowedPrefixes: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return false;
  }
  if (url.protocol === 'postern:') return true;
  if ((url.protocol === 'http:' || url.protocol === 'https:') && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) return true;
  return allowedPrefixes.some((p) => uri.startsWith(p));
}

/** Checked when the email is unknown, so that a wrong email costs the same time as a wrong password. */
let dummyHash: string | undefined;

function page(res: ServerResponse, status: number, account: string, redirect: string, state: string, error?: string, headers: Record<string, string> = {}): void {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>Sign in to ${esc(account)}</title></head>
<body><main><h1>Sign in to ${esc(account)}</h1>${error ? `<p role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/sign_in">
<label>Email <input name="email" type="email" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<input type="hidden" name="redirect_uri" value="${esc(redirect)}"><input type="hidden" name="state" value="${esc(state)}">
<button type="submit">Sign in</button></form></main></body></html>`;
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-frame-options': 'DENY', ...headers }).end(html);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += b.length;
    if (size > MAX_BODY) return undefined;
    chunks.push(b);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export async function handleSignIn(
  core: PortalCore,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  nowMs: number,
  throttle?: SignInThrottle,
): Promise<void> {
  const cfg = core.config;
  const bad = (detail: string): void => {
    res.writeHead(400, { 'content-type': 'application/problem+json; charset=utf-8' }).end(JSON.stringify({ title: 'Bad Request', status: 400, detail }));
  };
  if (req.method === 'GET') {
    const redirect = url.searchParams.get('redirect_uri') ?? '';
    const state = url.searchParams.get('state') ?? '';
    if (!isAllowedRedirect(redirect, cfg.allowedRedirects)) { bad('redirect_uri is missing or not allowed'); return; }
    page(res, 200, cfg.account.name, redirect, state); return;
  }
  if (req.method !== 'POST') {
    res.writeHead(405, { allow: 'GET, POST' }).end();
    return;
  }
  const form = await readForm(req);
  if (!form) { bad('form too large'); return; }
  const redirect = form.get('redirect_uri') ?? '';
  const state = form.get('state') ?? '';
  if (!isAllowedRedirect(redirect, cfg.allowedRedirects)) { bad('redirect_uri is missing or not allowed'); return; }
  const email = (form.get('email') ?? '').trim().toLowerCase();
  const ip = req.socket.remoteAddress ?? 'unknown';
  const verdict = throttle?.check(ip, email, nowMs) ?? { ok: true };
  if (!verdict.ok) {
    const secs = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
    page(res, 429, cfg.account.name, redirect, state, `Too many failed sign-in attempts. Try again in ${secs} s.`, { 'retry-after': String(secs) });
    return;
  }
  throttle?.attempt(ip, email, nowMs);
  const user = cfg.users.get(email);
  const password = form.get('password') ?? '';
  dummyHash ??= hashPassword('postern-no-such-user');
  const ok = (await verifyPasswordAsync(password, user?.passwordHash ?? dummyHash)) && user?.passwordHash !== undefined;
  if (!user || !ok) { page(res, 401, cfg.account.name, redirect, state, 'Wrong email or password.'); return; }
  throttle?.success(ip, email);
  const { token } = core.issueClientToken(email, nowMs);
  const target = new URL(redirect);
  target.searchParams.set('token', token);
  target.searchParams.set('fragment', token); // Firezone's name for the same value
  target.searchParams.set('state', state);
  target.searchParams.set('actor_name', user.name);
  target.searchParams.set('account_slug', cfg.account.slug);
  target.searchParams.set('account_name', cfg.account.name);
  res.writeHead(303, { location: target.toString(), 'cache-control': 'no-store' }).end();
}
