import { afterEach, describe, expect, it } from 'vitest';
import { KEYS, PASSWORD } from '../support';
import { Peer, TestPortal } from './peer';

let portal: TestPortal | undefined;
afterEach(async () => {
  await portal?.stop();
  portal = undefined;
});

const form = (fields: Record<string, string>) => ({
  method: 'POST',
  redirect: 'manual' as const,
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

describe('sign-in page', () => {
  it('shows a form, refuses a wrong password, redirects with a working token and the state', async () => {
    portal = await new TestPortal().start();
    const callback = 'http://127.0.0.1:45678/callback';
    const page = await fetch(`${portal.url}/sign_in?redirect_uri=${encodeURIComponent(callback)}&state=s-123`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('name="password"');
    expect(html).toContain('value="s-123"');

    const wrong = await fetch(`${portal.url}/sign_in`, form({ email: 'alice@example.com', password: 'nope', redirect_uri: callback, state: 's-123' }));
    expect(wrong.status).toBe(401);

    const ok = await fetch(`${portal.url}/sign_in`, form({ email: 'Alice@Example.com', password: PASSWORD, redirect_uri: callback, state: 's-123' }));
    expect(ok.status).toBe(303);
    const location = new URL(ok.headers.get('location') ?? '');
    expect(location.origin + location.pathname).toBe(callback);
    expect(location.searchParams.get('state')).toBe('s-123');
    expect(location.searchParams.get('account_slug')).toBe('demo');
    const token = location.searchParams.get('token') ?? '';
    expect(token.length).toBeGreaterThan(30);

    const c = await Peer.connect(portal.ws('/client/v2/websocket', { external_id: 'gui', public_key: KEYS.client }), token);
    expect((await c.join('client'))?.payload.resources).toHaveLength(2);
    await c.close();
  });

  it('refuses redirects to places that are not loopback or allowed', async () => {
    portal = await new TestPortal().start();
    const res = await fetch(`${portal.url}/sign_in?redirect_uri=${encodeURIComponent('https://evil.example/cb')}&state=x`);
    expect(res.status).toBe(400);
    const post = await fetch(`${portal.url}/sign_in`, form({ email: 'alice@example.com', password: PASSWORD, redirect_uri: 'https://evil.example/cb', state: 'x' }));
    expect(post.status).toBe(400);
  });
});
