// Firezone's credential vectors (test/fixtures/relay-auth.json, Apache-2.0) through the real server.
import { readFileSync } from 'node:fs';
import { encodeMessage, getAttribute, longTermKey, Method } from '@postern/stun';
import { describe, expect, it } from 'vitest';
import { CredentialStore, endpoint, firezonePassword, NonceStore, restPassword, splitFirezoneUsername, TurnServer } from '../../src/index';
import { errorCode, exchange, seqRng, SimClient } from '../sim/harness';

interface AuthCase {
  id: string;
  kind: string;
  relay_secret?: string;
  expiry?: number;
  salt?: string;
  expected_password?: string;
  creation_secret?: string;
  creation_expiry?: number;
  creation_salt?: string;
  verify_secret?: string;
  verify_username?: string;
  now_unix?: number;
  result?: string;
  num_requests?: number;
}
const cases = (JSON.parse(readFileSync(new URL('../fixtures/relay-auth.json', import.meta.url), 'utf8')) as { cases: AuthCase[] }).cases;

describe('Firezone relay credentials (relay-auth.json)', () => {
  it('derives the password of the Rust test vector', () => {
    const c = cases.find((x) => x.kind === 'password');
    expect(firezonePassword(c?.relay_secret ?? '', c?.expiry ?? 0, c?.salt ?? '')).toBe(c?.expected_password);
  });

  for (const c of cases.filter((x) => x.kind === 'message_integrity_verify')) {
    it(`verifies MESSAGE-INTEGRITY: ${c.id} -> ${c.result}`, () => {
      const password = firezonePassword(c.creation_secret ?? '', c.creation_expiry ?? 0, c.creation_salt ?? '');
      const username = `${c.creation_expiry}:${c.creation_salt}`;
      const key = longTermKey(username, 'firezone', password);
      const msg = encodeMessage({ method: Method.Binding, cls: 'request', transactionId: new Uint8Array(12), attributes: [] }, { integrity: key });
      const store = new CredentialStore({ realm: 'firezone', stampSecret: c.verify_secret });
      const cred = store.lookup(c.verify_username ?? '', c.now_unix ?? 0);
      const expected = c.result;
      if (expected === 'Expired') expect(cred).toBe('expired');
      else if (expected === 'InvalidUsername') expect(cred).toBe('unknown-user');
      else {
        if (typeof cred === 'string') throw new Error(cred);
        const ok = cred.keys.some((k) => Buffer.from(k).equals(Buffer.from(key)));
        expect(ok).toBe(expected === 'Ok');
        expect(msg.length).toBe(44);
      }
    });
  }

  it('splits usernames with exactly one colon and a numeric expiry', () => {
    expect(splitFirezoneUsername('1685200000:n23JJ2wKKtt30oXi')).toEqual({ expiry: 1685200000, salt: 'n23JJ2wKKtt30oXi' });
    expect(splitFirezoneUsername('foobar')).toBeUndefined();
    expect(splitFirezoneUsername('1:2:3')).toBeUndefined();
  });

  it('serves a nonce for 10000 requests, then it is stale (nonce_budget)', () => {
    const budget = cases.find((x) => x.kind === 'nonce')?.num_requests ?? 0;
    const n = new NonceStore(seqRng(3), budget);
    const nonce = n.issue('a');
    expect(n.issue('a')).toBe(nonce);
    expect(n.issue('b')).not.toBe(nonce);
    expect(n.use('b', nonce)).toBe('stale');
    expect(n.use('c', nonce)).toBe('unknown');
    for (let i = 0; i < budget; i++) expect(n.use('a', nonce)).toBe('ok');
    expect(n.use('a', nonce)).toBe('stale');
    expect(n.issue('a')).not.toBe(nonce);
  });
});

describe('Firezone credentials end to end', () => {
  const secret = '4c98bf59c99b3e467ecd7cf9d6b3e5279645fca59be67bc5bb4af3cf653761ab';
  const nowUnix = 1_700_000_000;
  const server = (): TurnServer => new TurnServer({ publicIp4: '198.18.16.1', stampSecret: secret, epochMs: nowUnix * 1000 }, seqRng(5));

  it('allocates with a portal-minted username, and refuses an expired one', () => {
    const s = server();
    const user = `${nowUnix + 3600}:salty`;
    const ok = new SimClient(s, endpoint('198.51.100.1', 1000), user, firezonePassword(secret, nowUnix + 3600, 'salty'));
    expect(ok.allocate(0).cls).toBe('success');
    const old = `${nowUnix - 1}:salty`;
    const expired = new SimClient(s, endpoint('198.51.100.1', 1001), old, firezonePassword(secret, nowUnix - 1, 'salty'));
    expect(errorCode(expired.allocate(0))).toBe(401);
  });

  it('keeps one allocation per username: a new 5-tuple replaces the old (roaming)', () => {
    const s = server();
    const user = `${nowUnix + 3600}:device`;
    const pw = firezonePassword(secret, nowUnix + 3600, 'device');
    new SimClient(s, endpoint('198.51.100.1', 1000), user, pw).allocate(0);
    new SimClient(s, endpoint('198.51.100.2', 2000), user, pw).allocate(10);
    const events = [];
    for (let e = s.pollEvent(); e; e = s.pollEvent()) events.push(e);
    expect(events.filter((e) => e.type === 'allocation-freed')).toEqual([expect.objectContaining({ reason: 'replaced' })]);
    expect(s.metrics(10).allocations).toBe(1);
  });

  it('answers 438 with a fresh nonce when the nonce is stale', () => {
    const s = new TurnServer({ publicIp4: '198.18.16.1', stampSecret: secret, epochMs: nowUnix * 1000, nonceUses: 1 }, seqRng(6));
    const user = `${nowUnix + 3600}:n`;
    const c = new SimClient(s, endpoint('198.51.100.1', 1000), user, firezonePassword(secret, nowUnix + 3600, 'n'));
    expect(c.allocate(0).cls).toBe('success'); // 401, then the nonce's one use
    const stale = c.nonce;
    const key = c.key;
    const req = encodeMessage(
      {
        method: Method.Refresh,
        cls: 'request',
        transactionId: new Uint8Array(12).fill(9),
        attributes: [
          { name: 'USERNAME', value: user },
          { name: 'REALM', value: 'firezone' },
          { name: 'NONCE', value: stale ?? '' },
        ],
      },
      { integrity: key },
    );
    const res = exchange(s, endpoint('198.51.100.1', 1000), req, 1);
    expect(errorCode(res)).toBe(438);
    expect(getAttribute(res, 'REALM')?.value).toBe('firezone');
    expect(getAttribute(res, 'NONCE')?.value).not.toBe(stale);
  });

  it('answers 401 before the portal handed over a stamp secret', () => {
    const s = new TurnServer({ publicIp4: '198.18.16.1' }, seqRng(7));
    const user = `${nowUnix + 3600}:x`;
    expect(errorCode(new SimClient(s, endpoint('198.51.100.1', 1), user, 'pw').allocate(0))).toBe(401);
    s.setStampSecret(secret);
    expect(s.realm).toBe('firezone');
  });

  it('accepts coturn REST credentials when a shared secret is configured', () => {
    const s = new TurnServer({ publicIp4: '198.18.16.1', restSecret: 'rest', epochMs: nowUnix * 1000 }, seqRng(8));
    const user = `${nowUnix + 60}:bob`;
    expect(new SimClient(s, endpoint('198.51.100.1', 1), user, restPassword('rest', user)).allocate(0).cls).toBe('success');
  });
});
