// The ICE agent alone (checks, authentication, nomination, failure) and candidate encoding.
import { decodeMessage, decodeMessageOrThrow, encodeMessage, getAttribute, Method, shortTermKey, verifyIntegrity, type Attribute, type DecodedMessage } from '@postern/stun';
import { describe, expect, it } from 'vitest';
import {
  CHECK_MAX_SENDS,
  IceAgent,
  ROLE_CONFLICT_MAX,
  candidatePriority,
  formatCandidate,
  pairPriority,
  parseCandidate,
  type LocalCandidate,
} from '../../src/index';
import { addr } from '../support/addr';
import { seededRng } from '../support/rng';


const L = { username: 'locl', password: 'local-password-1234567' };
const R = { username: 'remt', password: 'remote-password-123456' };
const HOST = addr('198.18.33.2:40000');
const PEER = addr('198.18.32.30:20000');
const host: LocalCandidate = { kind: 'host', addr: HOST, base: HOST, priority: candidatePriority('host'), relayId: undefined };

function agent(controlling: boolean, tieBreaker = 42n): IceAgent {
  return new IceAgent(controlling, L, R, tieBreaker, seededRng(9));
}

/** A check the peer sends us (it signs with our password, names `local:remote` from our side). */
function peerCheck(attrs: Attribute[], opts: { username?: string; password?: string } = {}) {
  return decodeMessageOrThrow(
    encodeMessage(
      { method: Method.Binding, cls: 'request', transactionId: new Uint8Array(12).fill(7), attributes: [{ name: 'USERNAME', value: opts.username ?? 'locl:remt' }, ...attrs] },
      { integrity: shortTermKey(opts.password ?? L.password), fingerprint: true },
    ),
  );
}

describe('candidates', () => {
  it('priorities and SDP as Firezone signals them (host > srflx > relay)', () => {
    expect(candidatePriority('host')).toBe(2130706431);
    expect(candidatePriority('srflx')).toBe(1694498815);
    expect(candidatePriority('relay')).toBe(16777215);
    const sdp = formatCandidate('relay', addr('198.18.32.10:50000'), addr('198.18.32.20:20000'));
    expect(sdp).toMatch(/^candidate:\d+ 1 udp 16777215 198\.18\.32\.10 50000 typ relay raddr 198\.18\.32\.20 rport 20000$/);
    const parsed = parseCandidate(sdp);
    expect(parsed).toMatchObject({ type: 'relay', priority: 16777215 });
    expect(parsed?.related?.key).toBe('198.18.32.20:20000');
    expect(parseCandidate(formatCandidate('srflx', PEER, HOST))?.related?.key).toBe(HOST.key);
  });

  it('pair priority (RFC 8445 §6.1.2.3): ordered by the lower candidate, ties by the higher, controlling wins', () => {
    const h = candidatePriority('host');
    const s = candidatePriority('srflx');
    const r = candidatePriority('relay');
    expect(pairPriority(h, h) > pairPriority(h, s)).toBe(true);
    expect(pairPriority(h, s) > pairPriority(s, s)).toBe(true);
    expect(pairPriority(s, s) > pairPriority(h, r)).toBe(true);
    expect(pairPriority(h, s)).toBe((BigInt(s) << 32n) + 2n * BigInt(h) + 1n);
    expect(pairPriority(s, h)).toBe((BigInt(s) << 32n) + 2n * BigInt(h));
  });
});

describe('IceAgent', () => {
  it('checks carry USERNAME remote:local, PRIORITY, ICE-CONTROLLING and the peer-password MAC', () => {
    const a = agent(true);
    a.addLocal(host, 0);
    a.addRemote({ kind: 'srflx', addr: PEER, priority: candidatePriority('srflx') }, 0);
    a.handleTimeout(0);
    const t = a.pollTransmit();
    expect(t?.dst.key).toBe(PEER.key);
    const m = decodeMessageOrThrow(t?.payload ?? new Uint8Array(0));
    expect(getAttribute(m, 'USERNAME')?.value).toBe('remt:locl');
    expect(getAttribute(m, 'PRIORITY')?.priority).toBe(candidatePriority('prflx'));
    expect(getAttribute(m, 'ICE-CONTROLLING')?.tieBreaker).toBe(42n);
    expect(getAttribute(m, 'USE-CANDIDATE')).toBeUndefined();
    expect(verifyIntegrity(m, shortTermKey(R.password))).toBe('ok');
    expect(m.hasFingerprint).toBe(true);
  });

  it('answers authenticated checks only; learns a peer-reflexive candidate and checks it back', () => {
    const a = agent(false);
    a.addLocal(host, 0);
    expect(a.handleRequest(peerCheck([], { username: 'locl:other' }), host, PEER, 0)).toBe(false);
    expect(a.handleRequest(peerCheck([], { password: 'wrong-password-0000000' }), host, PEER, 0)).toBe(false);
    expect(a.pollTransmit()).toBeUndefined();
    expect(a.handleRequest(peerCheck([{ name: 'PRIORITY', priority: 1234 }]), host, PEER, 0)).toBe(true);
    const answer = a.pollTransmit();
    const m = decodeMessageOrThrow(answer?.payload ?? new Uint8Array(0));
    expect(m.cls).toBe('success');
    expect(getAttribute(m, 'XOR-MAPPED-ADDRESS')?.address).toMatchObject({ address: PEER.address, port: PEER.port });
    expect(verifyIntegrity(m, shortTermKey(L.password))).toBe('ok');
    expect(a.remotes).toEqual([{ kind: 'prflx', addr: PEER, priority: 1234 }]);
    a.handleTimeout(0);
    const triggered = decodeMessageOrThrow(a.pollTransmit()?.payload ?? new Uint8Array(0));
    expect(getAttribute(triggered, 'ICE-CONTROLLED')).toBeDefined();
  });

  it('controlled: USE-CANDIDATE selects the pair', () => {
    const a = agent(false);
    a.addLocal(host, 0);
    a.handleRequest(peerCheck([{ name: 'USE-CANDIDATE' }]), host, PEER, 0);
    expect(a.takeSelectionChange()).toBe(true);
    expect(a.selected?.remote.addr.key).toBe(PEER.key);
  });

  it('controlling: a success is nominated with USE-CANDIDATE; the answer selects it', () => {
    const a = agent(true);
    a.addLocal(host, 0);
    a.addRemote({ kind: 'host', addr: PEER, priority: candidatePriority('host') }, 0);
    a.handleTimeout(0);
    const check = decodeMessageOrThrow(a.pollTransmit()?.payload ?? new Uint8Array(0));
    const ok = (tid: Uint8Array) =>
      decodeMessageOrThrow(encodeMessage({ method: Method.Binding, cls: 'success', transactionId: tid, attributes: [{ name: 'XOR-MAPPED-ADDRESS', address: HOST }] }, { integrity: shortTermKey(R.password) }));
    expect(a.handleResponse(ok(check.transactionId), PEER, 10)).toBe(true);
    const nominate = decodeMessageOrThrow(a.pollTransmit()?.payload ?? new Uint8Array(0));
    expect(getAttribute(nominate, 'USE-CANDIDATE')).toBeDefined();
    expect(a.selected).toBeUndefined();
    // an answer from another address does not count (symmetric check)
    a.handleResponse(ok(nominate.transactionId), addr('198.18.32.30:20001'), 15);
    expect(a.selected).toBeUndefined();
    const again = a.pollTransmit();
    expect(again).toBeUndefined();
    a.handleTimeout(300);
    const retry = decodeMessageOrThrow(a.pollTransmit()?.payload ?? new Uint8Array(0));
    expect(a.handleResponse(ok(retry.transactionId), PEER, 320)).toBe(true);
    expect(a.takeSelectionChange()).toBe(true);
    expect(a.selected?.state).toBe('succeeded');
  });

  it(`a pair that never answers fails after ${String(CHECK_MAX_SENDS)} checks`, () => {
    const a = agent(true);
    a.addLocal(host, 0);
    a.addRemote({ kind: 'host', addr: PEER, priority: candidatePriority('host') }, 0);
    let sent = 0;
    for (let now = 0; now < 20_000; now += 50) {
      a.handleTimeout(now);
      while (a.pollTransmit() !== undefined) sent++;
    }
    expect(sent).toBe(CHECK_MAX_SENDS);
    expect(a.pairs[0]?.state).toBe('failed');
    expect(a.pollTimeout()).toBeUndefined();
  });

  it('pairs only same-family candidates and drops pairs of removed candidates', () => {
    const a = agent(true);
    a.addLocal(host, 0);
    a.addRemote({ kind: 'host', addr: addr('[fd00::1]:1'), priority: 1 }, 0);
    a.addRemote({ kind: 'host', addr: PEER, priority: 2 }, 0);
    expect(a.pairs.filter((p) => p.state !== 'failed')).toHaveLength(1);
    a.removeRemote(PEER, 0);
    expect(a.pairs.filter((p) => p.state !== 'failed')).toHaveLength(0);
    a.removeLocal(HOST, 'host', 0);
    expect(a.pairs).toHaveLength(0);
  });
});

/** The next transmit, decoded. */
function next(a: IceAgent): DecodedMessage {
  return decodeMessageOrThrow(a.pollTransmit()?.payload ?? new Uint8Array(0));
}

/** An answer from the peer to our check `tid` (signed with the peer's password). */
function answer(tid: Uint8Array, attrs: Attribute[], cls: 'success' | 'error' = 'success', integrity = true): DecodedMessage {
  return decodeMessageOrThrow(
    encodeMessage({ method: Method.Binding, cls, transactionId: tid, attributes: attrs }, integrity ? { integrity: shortTermKey(R.password), fingerprint: true } : { fingerprint: true }),
  );
}

const CONFLICT: Attribute[] = [{ name: 'ERROR-CODE', code: 487, reason: 'Role Conflict' }];

describe('ICE role conflicts (RFC 8445 §7.3.1.1, §7.2.5.1)', () => {
  it('controlling with the larger tie-breaker: a check claiming control is answered 487 and goes no further', () => {
    const a = agent(true, 42n);
    a.addLocal(host, 0);
    expect(a.handleRequest(peerCheck([{ name: 'ICE-CONTROLLING', tieBreaker: 41n }, { name: 'USE-CANDIDATE' }]), host, PEER, 0)).toBe(true);
    const m = next(a);
    expect(m.cls).toBe('error');
    expect(getAttribute(m, 'ERROR-CODE')?.code).toBe(487);
    expect(verifyIntegrity(m, shortTermKey(L.password))).toBe('ok');
    expect(m.hasFingerprint).toBe(true);
    expect(a.controlling).toBe(true);
    expect(a.remotes).toEqual([]); // nothing learnt from it
    expect(a.selected).toBeUndefined();
  });

  it('controlling with the smaller tie-breaker: becomes controlled, answers and follows USE-CANDIDATE', () => {
    const a = agent(true, 42n);
    a.addLocal(host, 0);
    a.addRemote({ kind: 'host', addr: PEER, priority: candidatePriority('host') - 1 }, 0);
    const before = a.pairs[0]?.priority;
    expect(a.handleRequest(peerCheck([{ name: 'ICE-CONTROLLING', tieBreaker: 43n }, { name: 'USE-CANDIDATE' }]), host, PEER, 0)).toBe(true);
    expect(a.controlling).toBe(false);
    expect(a.roleSwitches).toBe(1);
    expect(next(a).cls).toBe('success');
    expect(a.selected?.remote.addr.key).toBe(PEER.key);
    // the pair's priority is now computed from the controlled side (RFC 8445 §6.1.2.3)
    expect(a.pairs[0]?.priority).not.toBe(before);
    expect(a.pairs[0]?.priority).toBe(pairPriority(candidatePriority('host') - 1, candidatePriority('host')));
    a.handleTimeout(0);
    expect(getAttribute(next(a), 'ICE-CONTROLLED')?.tieBreaker).toBe(42n);
  });

  it('controlled with the larger tie-breaker: a check claiming to be controlled makes us controlling; we nominate', () => {
    const a = agent(false, 42n);
    a.addLocal(host, 0);
    expect(a.handleRequest(peerCheck([{ name: 'ICE-CONTROLLED', tieBreaker: 7n }]), host, PEER, 0)).toBe(true);
    expect(a.controlling).toBe(true);
    expect(next(a).cls).toBe('success');
    a.handleTimeout(0);
    const check = next(a);
    expect(getAttribute(check, 'ICE-CONTROLLING')?.tieBreaker).toBe(42n);
    a.handleResponse(answer(check.transactionId, [{ name: 'XOR-MAPPED-ADDRESS', address: HOST }]), PEER, 5);
    expect(getAttribute(next(a), 'USE-CANDIDATE')).toBeDefined();
  });

  it('controlled with the smaller tie-breaker: a check claiming to be controlled is answered 487', () => {
    const a = agent(false, 42n);
    a.addLocal(host, 0);
    expect(a.handleRequest(peerCheck([{ name: 'ICE-CONTROLLED', tieBreaker: 1n << 63n }]), host, PEER, 0)).toBe(true);
    expect(getAttribute(next(a), 'ERROR-CODE')?.code).toBe(487);
    expect(a.controlling).toBe(false);
  });

  it('a 487 answer to our check: we take the other role and check the pair again (not failed)', () => {
    const a = agent(true, 42n);
    a.addLocal(host, 0);
    a.addRemote({ kind: 'host', addr: PEER, priority: candidatePriority('host') }, 0);
    a.handleTimeout(0);
    const check = next(a);
    expect(getAttribute(check, 'ICE-CONTROLLING')).toBeDefined();
    expect(a.handleResponse(answer(check.transactionId, CONFLICT, 'error'), PEER, 5)).toBe(true);
    expect(a.controlling).toBe(false);
    expect(a.pairs[0]?.state).toBe('waiting');
    a.handleTimeout(5);
    const retry = next(a);
    expect(getAttribute(retry, 'ICE-CONTROLLED')?.tieBreaker).toBe(42n);
    expect(getAttribute(retry, 'ICE-CONTROLLING')).toBeUndefined();
    // the answer to the retried check works as usual
    expect(a.handleResponse(answer(retry.transactionId, [{ name: 'XOR-MAPPED-ADDRESS', address: HOST }]), PEER, 10)).toBe(true);
    expect(a.pairs[0]?.state).toBe('succeeded');
  });

  it(`a peer that answers 487 to everything: the pair fails after ${String(ROLE_CONFLICT_MAX)} role switches`, () => {
    const a = agent(true, 42n);
    a.addLocal(host, 0);
    a.addRemote({ kind: 'host', addr: PEER, priority: candidatePriority('host') }, 0);
    for (let now = 0; now < 100; now += 10) {
      a.handleTimeout(now);
      for (let t = a.pollTransmit(); t !== undefined; t = a.pollTransmit()) a.handleResponse(answer(decodeMessageOrThrow(t.payload).transactionId, CONFLICT, 'error'), PEER, now);
    }
    expect(a.roleSwitches).toBe(ROLE_CONFLICT_MAX);
    expect(a.pairs[0]?.state).toBe('failed');
  });

  it('malformed or unauthenticated role input changes nothing', () => {
    const a = agent(true, 42n);
    a.addLocal(host, 0);
    a.addRemote({ kind: 'host', addr: PEER, priority: candidatePriority('host') }, 0);
    // both role attributes in one check: not processed, not answered
    expect(a.handleRequest(peerCheck([{ name: 'ICE-CONTROLLING', tieBreaker: 1n }, { name: 'ICE-CONTROLLED', tieBreaker: 1n }]), host, PEER, 0)).toBe(false);
    // a check claiming control with a larger tie-breaker but the wrong password: ignored
    expect(a.handleRequest(peerCheck([{ name: 'ICE-CONTROLLING', tieBreaker: 1n << 62n }], { password: 'wrong-password-0000000' }), host, PEER, 0)).toBe(false);
    expect(a.controlling).toBe(true);
    a.handleTimeout(0);
    const check = next(a);
    expect(a.pollTransmit()).toBeUndefined(); // no answer went out for the two bad checks
    // a 487 without MESSAGE-INTEGRITY: consumed, no role switch, the pair keeps waiting for a real answer
    expect(a.handleResponse(answer(check.transactionId, CONFLICT, 'error', false), PEER, 5)).toBe(true);
    expect(a.controlling).toBe(true);
    expect(a.pairs[0]?.state).toBe('inProgress');
    // an ICE-CONTROLLING of 4 bytes (not 8) does not even decode: the Node drops such a datagram (node.test.ts)
    const bytes = encodeMessage({ method: Method.Binding, cls: 'request', transactionId: new Uint8Array(12), attributes: [{ name: 'ICE-CONTROLLING', tieBreaker: 5n }] });
    const at = bytes.findIndex((_, i) => bytes[i] === 0x80 && bytes[i + 1] === 0x2a);
    bytes[at + 3] = 4;
    expect(decodeMessage(bytes).ok).toBe(false);
  });

  it('two agents that both start controlling settle on one controller and select the same pair', () => {
    const PEER_CREDS = { l: R, r: L };
    const a = new IceAgent(true, L, R, 42n, seededRng(1));
    const b = new IceAgent(true, PEER_CREDS.l, PEER_CREDS.r, 7n, seededRng(2));
    const peerHost: LocalCandidate = { kind: 'host', addr: PEER, base: PEER, priority: candidatePriority('host'), relayId: undefined };
    a.addLocal(host, 0);
    b.addLocal(peerHost, 0);
    a.addRemote({ kind: 'host', addr: PEER, priority: candidatePriority('host') }, 0);
    b.addRemote({ kind: 'host', addr: HOST, priority: candidatePriority('host') }, 0);
    for (let now = 0; now < 2_000; now += 5) {
      for (const [from, to, src, local] of [[a, b, HOST, peerHost], [b, a, PEER, host]] as const) {
        from.handleTimeout(now);
        for (let t = from.pollTransmit(); t !== undefined; t = from.pollTransmit()) {
          const d = decodeMessage(t.payload);
          if (!d.ok) throw new Error('bad STUN');
          if (d.message.cls === 'request') to.handleRequest(d.message, local, src, now);
          else to.handleResponse(d.message, src, now);
        }
      }
    }
    expect([a.controlling, b.controlling]).toEqual([true, false]);
    expect(a.selected?.remote.addr.key).toBe(PEER.key);
    expect(b.selected?.remote.addr.key).toBe(HOST.key);
  });
});
