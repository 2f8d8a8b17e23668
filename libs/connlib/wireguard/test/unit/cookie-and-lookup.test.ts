import { describe, expect, it } from 'vitest';
import {
  RateLimiter,
  StaticIdentity,
  Tunn,
  classifyDatagram,
  generateKeyPair,
  keyFromBase64,
  keyToBase64,
  messageType,
  peerSlotOf,
  publicKeyFromPrivate,
  readInitiatorStaticKey,
  receiverIndexOf,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
  WireGuardError,
} from '../../src/index';
import { bytesOf, ipv4Packet, makePair, seededRng } from '../support/pair';

const out = new Uint8Array(2048);
const SRC = Uint8Array.of(198, 18, 4, 1, 0xca, 0x6c);

describe('cookies under load', () => {
  it('answers with a cookie reply under load and accepts the retransmission that carries MAC2', () => {
    const rng = seededRng(5);
    const ka = generateKeyPair(rng);
    const kb = generateKeyPair(rng);
    const ib = new StaticIdentity(kb.privateKey);
    const limiter = new RateLimiter(ib, rng, { handshakesPerSecond: 0 });
    const a = new Tunn({ identity: new StaticIdentity(ka.privateKey), peerPublicKey: kb.publicKey, index: 1, rng: seededRng(6), wallClockAtZero: 1e12 });
    const b = new Tunn({ identity: ib, peerPublicKey: ka.publicKey, index: 2, rng: seededRng(7), rateLimiter: limiter, wallClockAtZero: 1e12 });

    const init1 = bytesOf(a.encapsulate(ipv4Packet(10), out, 0));
    const reply = b.decapsulate(init1, out, 0, SRC);
    expect(reply.kind === 'writeToNetwork' && reply.length).toBe(64);
    expect(classifyDatagram(bytesOf(reply)).kind).toBe('cookieReply');
    // without a source address a node under load can only drop
    expect(b.decapsulate(init1, out, 0).kind === 'error').toBe(true);
    expect(a.decapsulate(bytesOf(reply), out, 1).kind).toBe('done');
    const init2 = a.updateTimers(out, REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX);
    const resp = b.decapsulate(bytesOf(init2), out, REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX, SRC);
    expect(resp.kind === 'writeToNetwork' && resp.length).toBe(92);
    // a forged cookie reply is refused
    const forged = bytesOf(reply);
    forged[40] = (forged[40] ?? 0) ^ 1;
    expect(a.decapsulate(forged, out, 2).kind).toBe('error');
  });
});

describe('serving many peers', () => {
  it('finds the initiator by static key and the Tunn of other messages by receiver index', () => {
    const { a, b, identities } = makePair();
    const init = bytesOf(a.formatHandshakeInitiation(out, 0, false));
    expect(messageType(init)).toBe(1);
    expect(Buffer.from(readInitiatorStaticKey(init, identities.b) ?? []).equals(Buffer.from(identities.a.publicKey))).toBe(true);
    expect(readInitiatorStaticKey(init, identities.a)).toBeNull();
    expect(readInitiatorStaticKey(init.subarray(0, 100), identities.b)).toBeNull();
    const resp = bytesOf(b.decapsulate(init, out, 1));
    const c = classifyDatagram(resp);
    expect(c.kind).toBe('handshakeResponse');
    expect(peerSlotOf(receiverIndexOf(resp, 2))).toBe(1); // a was created with index 1
    const data = bytesOf(a.decapsulate(resp, out, 2)); // a's keepalive
    const cd = classifyDatagram(data);
    expect(cd.kind === 'transportData' && peerSlotOf(cd.receiverIndex)).toBe(2);
    expect(b.ownsIndex(receiverIndexOf(data, 4))).toBe(true);
    expect(a.ownsIndex(receiverIndexOf(data, 4))).toBe(false);
    expect(classifyDatagram(new Uint8Array(3)).kind).toBe('invalid');
  });
});

describe('keys', () => {
  it('round-trips base64 keys as wg prints them and derives public keys', () => {
    const k = generateKeyPair(seededRng(3));
    expect(keyToBase64(k.publicKey)).toHaveLength(44);
    expect(keyFromBase64(keyToBase64(k.privateKey))).toEqual(k.privateKey);
    expect(publicKeyFromPrivate(k.privateKey)).toEqual(k.publicKey);
    expect(() => keyFromBase64('not a key')).toThrow(WireGuardError);
    expect(() => new Tunn({ identity: new StaticIdentity(k.privateKey), peerPublicKey: k.publicKey, index: 2 ** 24, rng: seededRng(1) })).toThrow(
      /index/,
    );
  });
});
