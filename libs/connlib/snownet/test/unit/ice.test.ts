// The ICE agent alone (checks, authentication, nomination, failure) and candidate encoding.
import { decodeMessageOrThrow, encodeMessage, getAttribute, Method, shortTermKey, verifyIntegrity, type Attribute } from '@postern/stun';
import { describe, expect, it } from 'vitest';
import {
  CHECK_MAX_SENDS,
  IceAgent,
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

function agent(controlling: boolean): IceAgent {
  return new IceAgent(controlling, L, R, 42n, seededRng(9));
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
