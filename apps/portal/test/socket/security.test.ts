// Portal security over real loopback sockets: where tokens are read from, role confusion, brute force on the
// sign-in page (throttled: 429 + Retry-After), no account enumeration, and no secret in the portal's logs.
import { afterEach, describe, expect, it } from 'vitest';
import { parseProblemDetails } from '@postern/model';
import { KEYS, PASSWORD, TOKENS } from '../support';
import { TestPortal, upgrade } from './peer';

const portals: TestPortal[] = [];
afterEach(async () => {
  await Promise.all(portals.splice(0).map((p) => p.stop()));
});

async function portal(): Promise<TestPortal> {
  const p = await new TestPortal().start();
  portals.push(p);
  return p;
}

const CALLBACK = 'http://127.0.0.1:45678/callback';

function signIn(p: TestPortal, email: string, password: string): Promise<Response> {
  return fetch(`${p.url}/sign_in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ email, password, redirect_uri: CALLBACK, state: 's' }).toString(),
  });
}

describe('portal tokens', () => {
  it('reads X-Authorization first and the token query parameter only as a fallback (portal-protocol.md)', async () => {
    const p = await portal();
    const url = (q: Record<string, string> = {}): string => p.ws('/client/v2/websocket', { external_id: 'sec-1', public_key: KEYS.client, ...q });
    expect((await upgrade(url(), TOKENS.client)).status).toBe(101);
    expect((await upgrade(url({ token: TOKENS.client }))).status).toBe(101);
    // Both: the header decides, either way.
    const wrongHeader = await upgrade(url({ token: TOKENS.client }), 'wrong-token-in-header');
    expect(wrongHeader.status).toBe(401);
    expect(parseProblemDetails(wrongHeader.type, wrongHeader.body)?.code).toBe('invalid_token');
    expect((await upgrade(url({ token: 'wrong-token-in-query' }), TOKENS.client)).status).toBe(101);
    // Scheme is case-insensitive; other schemes are not a token.
    expect((await upgrade(url(), undefined, { 'x-authorization': `  bearer   ${TOKENS.client}  ` })).status).toBe(101);
    const basic = await upgrade(url(), undefined, { 'x-authorization': `Basic ${TOKENS.client}` });
    expect(parseProblemDetails(basic.type, basic.body)?.code).toBe('missing_token');
    // An empty query token is a missing token, not an empty string that could match something.
    expect(parseProblemDetails((await upgrade(url({ token: '' }))).type, (await upgrade(url({ token: '' }))).body)?.code).toBe('missing_token');
  });

  it('never accepts one role’s token for another role', async () => {
    const p = await portal();
    const q = { external_id: 'sec-2', public_key: KEYS.gw1 };
    const cases: [string, string][] = [
      ['/client/v2/websocket', TOKENS.gateway],
      ['/client/v2/websocket', TOKENS.relay],
      ['/gateway/v2/websocket', TOKENS.client],
      ['/gateway/v2/websocket', TOKENS.relay],
      ['/relay/websocket?ipv4=198.18.17.1', TOKENS.client],
      ['/relay/websocket?ipv4=198.18.17.1', TOKENS.gateway],
    ];
    for (const [path, token] of cases) {
      const [pathname, query] = path.split('?');
      const extra = Object.fromEntries(new URLSearchParams(query ?? ''));
      const res = await upgrade(p.ws(pathname ?? '', { ...q, ...extra }), token);
      expect(res.status, `${path} with another role's token`).toBe(401);
    }
  });

  it('logs no token, wrong or right, from headers or query strings', async () => {
    const p = await portal();
    const wrong = 'attacker-guess-0123456789';
    await upgrade(p.ws('/client/v2/websocket', { external_id: 'sec-3', public_key: KEYS.client, token: wrong }));
    await upgrade(p.ws('/client/v2/websocket', { external_id: 'sec-3', public_key: KEYS.client }), wrong);
    await upgrade(p.ws('/client/v2/websocket', { external_id: 'sec-3', public_key: KEYS.client, token: TOKENS.client }));
    await upgrade(p.ws('/gateway/v2/websocket', { external_id: 'sec-3', public_key: KEYS.gw1 }), TOKENS.gateway);
    await new Promise((r) => setTimeout(r, 100));
    const logs = p.logs.join('');
    expect(logs).toContain('refused websocket');
    for (const secret of [wrong, TOKENS.client, TOKENS.gateway]) expect(logs).not.toContain(secret);
  });
});

describe('sign-in brute force', () => {
  it('throttles an account after 5 failures: 429 with Retry-After, even for the right password, then lets it in', async () => {
    const p = await portal();
    for (let i = 0; i < 6; i++) expect((await signIn(p, 'alice@example.com', `guess-${i}`)).status).toBe(401);
    const blocked = await signIn(p, 'alice@example.com', PASSWORD);
    expect(blocked.status).toBe(429);
    const retry = Number(blocked.headers.get('retry-after'));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(2);
    expect(await blocked.text()).toContain('Too many failed sign-in attempts');
    expect(blocked.headers.get('cache-control')).toBe('no-store');
    await new Promise((r) => setTimeout(r, retry * 1000 + 100));
    const ok = await signIn(p, 'alice@example.com', PASSWORD);
    expect(ok.status).toBe(303);
    // The success cleared the account: a typo afterwards is a plain 401 again.
    expect((await signIn(p, 'alice@example.com', 'typo')).status).toBe(401);
  });

  it('throttles one address spraying many accounts, and doubles the wait each time', async () => {
    const p = await portal();
    for (let i = 0; i < 11; i++) expect((await signIn(p, `nobody${i}@example.com`, 'x')).status).toBe(401);
    const first = await signIn(p, 'someone@example.com', 'x');
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('1');
    await new Promise((r) => setTimeout(r, 1100));
    expect((await signIn(p, 'someone@example.com', 'x')).status).toBe(401);
    const second = await signIn(p, 'someone@example.com', 'x');
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('2');
  });

  it('answers a wrong email exactly like a wrong password (no account enumeration), and logs neither secret', async () => {
    const p = await portal();
    const a = await signIn(p, 'alice@example.com', 'wrong-password-1');
    const b = await signIn(p, 'mallory@example.com', 'wrong-password-2');
    expect([a.status, b.status]).toEqual([401, 401]);
    expect(await a.text()).toBe(await b.text());
    const ok = await signIn(p, 'alice@example.com', PASSWORD);
    const token = new URL(ok.headers.get('location') ?? '').searchParams.get('token') ?? '';
    expect(token.length).toBeGreaterThan(30);
    await new Promise((r) => setTimeout(r, 100));
    const logs = p.logs.join('');
    for (const secret of [PASSWORD, 'wrong-password-1', 'wrong-password-2', token]) expect(logs).not.toContain(secret);
  });
});
