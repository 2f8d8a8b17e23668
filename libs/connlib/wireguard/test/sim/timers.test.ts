// Rekeying and every timer of whitepaper §6, with a fake clock and two Tunns wired in memory.
import { describe, expect, it } from 'vitest';
import {
  KEEPALIVE_TIMEOUT,
  KEY_ZEROING_TIME,
  REJECT_AFTER_TIME,
  REKEY_AFTER_TIME,
  REKEY_ATTEMPT_TIME,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
  type Tunn,
  type TunnResult,
} from '../../src/index';
import { bytesOf, deliver, ipv4Packet, makePair } from '../support/pair';

const out = new Uint8Array(2048);

function connect(): { a: Tunn; b: Tunn } {
  const { a, b } = makePair();
  const r = deliver(a, b, bytesOf(a.formatHandshakeInitiation(out, 0, false)), 0);
  expect(r.errors).toEqual([]);
  return { a, b };
}

function kindOf(r: TunnResult): string {
  if (r.kind === 'writeToNetwork') return r.length === 148 ? 'initiation' : r.length === 32 ? 'keepalive' : `network:${r.length}`;
  return r.kind === 'error' ? `error:${r.reason}` : r.kind;
}

describe('timers', () => {
  it('the initiator rekeys when sending after REKEY_AFTER_TIME', () => {
    const { a, b } = connect();
    const t = REKEY_AFTER_TIME + 1;
    const data = bytesOf(a.encapsulate(ipv4Packet(10), out, t));
    expect(deliver(a, b, data, t).errors).toEqual([]);
    const init = a.updateTimers(out, t);
    expect(kindOf(init)).toBe('initiation');
    expect(deliver(a, b, bytesOf(init), t).errors).toEqual([]);
    expect(a.stats.handshakesCompleted).toBe(2);
  });

  it('drops data of a session older than REJECT_AFTER_TIME and handshakes anew before sending', () => {
    const { a, b } = connect();
    const late = bytesOf(a.encapsulate(ipv4Packet(10), out, REJECT_AFTER_TIME - 1));
    const r = b.decapsulate(late, out, REJECT_AFTER_TIME);
    expect(kindOf(r)).toBe('error:sessionExpired');
    expect(kindOf(a.encapsulate(ipv4Packet(10), out, REJECT_AFTER_TIME))).toBe('initiation');
  });

  it('retransmits an unanswered initiation every REKEY_TIMEOUT (+ jitter) and gives up after REKEY_ATTEMPT_TIME', () => {
    const { a } = makePair();
    expect(kindOf(a.encapsulate(ipv4Packet(10), out, 0))).toBe('initiation');
    const sentAt: number[] = [0];
    let expired = 0;
    for (let t = 0; t <= REKEY_ATTEMPT_TIME + 10_000; t += 50) {
      const k = kindOf(a.updateTimers(out, t));
      if (k === 'initiation') sentAt.push(t);
      if (k === 'error:connectionExpired') expired++;
    }
    const gaps = sentAt.slice(1).map((t, i) => t - (sentAt[i] ?? 0));
    for (const g of gaps) {
      expect(g).toBeGreaterThanOrEqual(REKEY_TIMEOUT);
      expect(g).toBeLessThanOrEqual(REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX + 50);
    }
    expect(sentAt.length).toBeGreaterThanOrEqual(16);
    expect(sentAt.every((t) => t < REKEY_ATTEMPT_TIME)).toBe(true);
    expect(expired).toBe(1);
    // the queued packet was dropped with the attempt: a fresh handshake carries nothing old
    expect(a.flushQueued(out, REKEY_ATTEMPT_TIME + 10_000).kind).toBe('done');
  });

  it('answers received data with a keepalive after KEEPALIVE_TIMEOUT of silence', () => {
    const { a, b } = connect();
    deliver(a, b, bytesOf(a.encapsulate(ipv4Packet(10), out, 1000)), 1000);
    expect(b.updateTimers(out, 1000 + KEEPALIVE_TIMEOUT - 1).kind).toBe('done');
    const k = b.updateTimers(out, 1000 + KEEPALIVE_TIMEOUT);
    expect(kindOf(k)).toBe('keepalive');
    expect(deliver(b, a, bytesOf(k), 1000 + KEEPALIVE_TIMEOUT).errors).toEqual([]);
  });

  it('does not send that keepalive when it has sent data meanwhile', () => {
    const { a, b } = connect();
    deliver(a, b, bytesOf(a.encapsulate(ipv4Packet(10), out, 1000)), 1000);
    deliver(b, a, bytesOf(b.encapsulate(ipv4Packet(10), out, 2000)), 2000);
    expect(b.updateTimers(out, 1000 + KEEPALIVE_TIMEOUT).kind).toBe('done');
  });

  it('starts a handshake when sent data gets no answer within KEEPALIVE_TIMEOUT + REKEY_TIMEOUT', () => {
    const { a } = connect();
    a.encapsulate(ipv4Packet(10), out, 1000); // lost
    expect(a.updateTimers(out, 1000 + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT - 1).kind).toBe('done');
    expect(kindOf(a.updateTimers(out, 1000 + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT))).toBe('initiation');
  });

  it('sends persistent keepalives at the configured interval', () => {
    const { a } = connect();
    a.setPersistentKeepalive(25);
    const times: number[] = [];
    for (let t = 0; t <= 100_000; t += 250) if (kindOf(a.updateTimers(out, t)) === 'keepalive') times.push(t);
    expect(times).toEqual([25_000, 50_000, 75_000, 100_000]);
  });

  it('zeroes all keys after 3 x REJECT_AFTER_TIME without a new handshake', () => {
    const { a, b } = connect();
    const stale = bytesOf(b.encapsulate(ipv4Packet(10), out, 10));
    for (let t = 0; t <= KEY_ZEROING_TIME; t += 1000) a.updateTimers(out, t);
    expect(a.isConnected(KEY_ZEROING_TIME)).toBe(false);
    expect(kindOf(a.decapsulate(stale, out, KEY_ZEROING_TIME))).toBe('error:unknownReceiverIndex');
  });

  it('the responder uses the new session only after key confirmation, the old one keeps working meanwhile', () => {
    const { a, b } = connect();
    // a rekeys; the response reaches a, but a's confirming keepalive to b is lost
    const init = bytesOf(a.formatHandshakeInitiation(out, 1000, true));
    const resp = bytesOf(b.decapsulate(init, out, 1000));
    const confirm = bytesOf(a.decapsulate(resp, out, 1000));
    // b still sends on the old session; a still accepts it (previous)
    const fromB = bytesOf(b.encapsulate(ipv4Packet(20), out, 1001));
    expect(kindOf(a.decapsulate(fromB, out, 1001))).toBe('writeToTunnelV4');
    // the confirmation arrives: b switches, and its next packet uses the new session
    expect(b.decapsulate(confirm, out, 1002).kind).toBe('done');
    const fromB2 = bytesOf(b.encapsulate(ipv4Packet(20), out, 1003));
    expect(kindOf(a.decapsulate(fromB2, out, 1003))).toBe('writeToTunnelV4');
  });

  it('survives simultaneous initiations from both sides', () => {
    const { a, b } = makePair();
    const ia = bytesOf(a.formatHandshakeInitiation(out, 0, false));
    const ib = bytesOf(b.formatHandshakeInitiation(out, 0, false));
    deliver(a, b, ia, 1);
    deliver(b, a, ib, 2);
    const p = ipv4Packet(50);
    expect(deliver(a, b, bytesOf(a.encapsulate(p, out, 3)), 3).tunnel.get(b)).toEqual([p]);
    expect(deliver(b, a, bytesOf(b.encapsulate(p, out, 4)), 4).tunnel.get(a)).toEqual([p]);
  });

  it('stops retransmitting its own initiation once the peer-initiated session is confirmed', () => {
    const { a, b } = makePair();
    b.formatHandshakeInitiation(out, 0, false); // b's initiation is lost
    deliver(a, b, bytesOf(a.formatHandshakeInitiation(out, 0, false)), 0); // a's wins, b confirms it
    const kinds: string[] = [];
    for (let t = 0; t <= REKEY_ATTEMPT_TIME + 5000; t += 250) kinds.push(kindOf(b.updateTimers(out, t)));
    expect(kinds.filter((k) => k === 'initiation')).toEqual([]);
    expect(kinds.filter((k) => k.startsWith('error'))).toEqual([]);
  });
});
