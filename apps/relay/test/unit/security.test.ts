// Relay security against the sans-IO TurnServer the relay runs: credentials, nonces, replays, floods and
// quotas, relaying without permission, malformed datagrams. Each case also checks that an honest client
// beside the attacker keeps its service.
import {
  decodeMessage,
  decodeMessageOrThrow,
  encodeChannelData,
  encodeMessage,
  ErrorCode,
  getAttribute,
  longTermKey,
  Method,
  type Attribute,
  type DecodedMessage,
} from '@postern/stun';
import { describe, expect, it } from 'vitest';
import { xorshiftRng } from '@postern/testing';
import { endpoint, firezonePassword, TurnServer, type Endpoint, type ServerEvent, type TurnServerConfig } from '@postern/relay-proto';

const EPOCH_MS = 1_750_000_000_000;
const NOW_UNIX = EPOCH_MS / 1000;
const STAMP = 'ab'.repeat(32);
const PEER = endpoint('203.0.113.10', 40000);

function server(cfg: Partial<TurnServerConfig> = {}): TurnServer {
  return new TurnServer(
    { publicIp4: '198.18.17.1', stampSecret: STAMP, staticUsers: new Map([['shared', 'shared-password']]), lowestPort: 50000, highestPort: 50099, epochMs: EPOCH_MS, ...cfg },
    xorshiftRng(7),
  );
}

let tidN = 0;
function tid(): Uint8Array {
  const t = new Uint8Array(12);
  new DataView(t.buffer).setUint32(8, ++tidN);
  return t;
}

/** Firezone credentials as the portal hands them out: `<expiry>:<salt>` and the stamp-secret password. */
function firezoneCreds(expiryUnix: number, salt = 'salt1'): { username: string; password: string } {
  return { username: `${expiryUnix}:${salt}`, password: firezonePassword(STAMP, expiryUnix, salt) };
}

class Client {
  nonce: string | undefined;
  lastRequest: Uint8Array | undefined;
  private readonly key: Uint8Array;

  constructor(
    readonly s: TurnServer,
    readonly addr: Endpoint,
    readonly username: string,
    password: string,
    readonly realm = 'firezone',
  ) {
    this.key = longTermKey(username, realm, password);
  }

  bytes(method: number, attrs: readonly Attribute[], transactionId = tid()): Uint8Array {
    const a: Attribute[] = [...attrs];
    if (this.nonce === undefined) return encodeMessage({ method, cls: 'request', transactionId, attributes: a }, { fingerprint: true });
    a.push({ name: 'USERNAME', value: this.username }, { name: 'REALM', value: this.realm }, { name: 'NONCE', value: this.nonce });
    return encodeMessage({ method, cls: 'request', transactionId, attributes: a }, { integrity: this.key, fingerprint: true });
  }

  /** One request with the 401/438 nonce dance, like every TURN client. */
  request(method: number, attrs: readonly Attribute[], now = 0): DecodedMessage {
    let res = this.once(method, attrs, now);
    const code = errorCode(res);
    const fresh = getAttribute(res, 'NONCE')?.value;
    if ((code === 401 || code === 438) && fresh !== undefined && fresh !== this.nonce) {
      this.nonce = fresh;
      res = this.once(method, attrs, now);
    }
    return res;
  }

  once(method: number, attrs: readonly Attribute[], now: number): DecodedMessage {
    this.lastRequest = this.bytes(method, attrs);
    return send(this.s, this.addr, this.lastRequest, now);
  }

  allocate(now = 0): DecodedMessage {
    return this.request(Method.Allocate, [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }], now);
  }

  permit(peer: Endpoint, now = 0): DecodedMessage {
    return this.request(Method.CreatePermission, [{ name: 'XOR-PEER-ADDRESS', address: peer }], now);
  }

  bind(channel: number, peer: Endpoint, now = 0): DecodedMessage {
    return this.request(Method.ChannelBind, [{ name: 'CHANNEL-NUMBER', channel }, { name: 'XOR-PEER-ADDRESS', address: peer }], now);
  }

  relayedPort(res: DecodedMessage): number {
    const a = getAttribute(res, 'XOR-RELAYED-ADDRESS');
    if (!a) throw new Error(`no relayed address: ${errorCode(res) ?? 'success'}`);
    return a.address.port;
  }
}

/** Sends bytes from `from`; returns the one response addressed back to `from`. */
function send(s: TurnServer, from: Endpoint, bytes: Uint8Array, now: number): DecodedMessage {
  s.handleClientInput(bytes, from, now);
  const t = s.pollTransmit();
  if (!t) throw new Error('no response');
  expect(t.dst.key).toBe(from.key);
  expect(s.pollTransmit()).toBeUndefined();
  return decodeMessageOrThrow(t.payload);
}

function errorCode(m: DecodedMessage): number | undefined {
  return getAttribute(m, 'ERROR-CODE')?.code;
}

function events(s: TurnServer): ServerEvent[] {
  const out: ServerEvent[] = [];
  for (let e = s.pollEvent(); e; e = s.pollEvent()) out.push(e);
  return out;
}

function authFailures(s: TurnServer): string[] {
  return events(s).flatMap((e) => (e.type === 'auth-failed' ? [e.reason] : []));
}

/** An honest client with a bound channel to PEER; returns a function that checks its data path both ways. */
function honest(s: TurnServer, addr = endpoint('198.51.100.200', 4000)): () => void {
  const c = new Client(s, addr, 'shared', 'shared-password');
  const port = c.relayedPort(c.allocate());
  expect(c.bind(0x4000, PEER).cls).toBe('success');
  return () => {
    const toPeer = s.handleClientInput(encodeChannelData(0x4000, Uint8Array.of(1, 2, 3)), addr, 1);
    expect(toPeer).toMatchObject({ toPeer: true, dst: { key: PEER.key }, relayPort: port, start: 4, end: 7 });
    const toClient = s.handlePeerInput(Uint8Array.of(9, 9), PEER, 4, port, 1);
    expect(toClient).toMatchObject({ toPeer: false, dst: { key: addr.key }, channel: 0x4000 });
  };
}

describe('relay: credentials', () => {
  it('refuses a wrong password, a wrong realm and an unknown user with 401 and a fresh challenge', () => {
    const s = server();
    const check = honest(s);
    const fz = firezoneCreds(NOW_UNIX + 3600);
    const cases: [Client, string][] = [
      [new Client(s, endpoint('198.51.100.1', 1), fz.username, 'not-the-password'), 'bad-integrity'],
      [new Client(s, endpoint('198.51.100.1', 2), fz.username, fz.password, 'other-realm'), 'wrong-realm'],
      [new Client(s, endpoint('198.51.100.1', 3), 'mallory', 'x'), 'unknown-user'],
      [new Client(s, endpoint('198.51.100.1', 4), 'shared', 'guess'), 'bad-integrity'],
    ];
    for (const [c, reason] of cases) {
      events(s);
      const r = c.allocate();
      expect(errorCode(r)).toBe(401);
      expect(getAttribute(r, 'NONCE')).toBeDefined();
      expect(getAttribute(r, 'MESSAGE-INTEGRITY')).toBeUndefined(); // nothing signed with a key the client lacks
      expect(authFailures(s)).toContain(reason);
    }
    expect(s.metrics(0).allocations).toBe(1);
    check();
  });

  it('refuses expired Firezone credentials and accepts them up to the expiry second', () => {
    const s = server();
    const expired = firezoneCreds(NOW_UNIX - 1);
    const c = new Client(s, endpoint('198.51.100.2', 1), expired.username, expired.password);
    expect(errorCode(c.allocate())).toBe(401);
    expect(authFailures(s)).toContain('expired');
    const edge = firezoneCreds(NOW_UNIX + 10);
    const d = new Client(s, endpoint('198.51.100.2', 2), edge.username, edge.password);
    expect(d.allocate(10_000).cls).toBe('success'); // expiry == now: still valid
    // ...and the same credentials a second later refresh into 401.
    expect(errorCode(d.request(Method.Refresh, [{ name: 'LIFETIME', seconds: 600 }], 11_000))).toBe(401);
  });

  it('refuses Firezone credentials signed with another stamp secret (a relay restarted, or forged)', () => {
    const s = server();
    const expiry = NOW_UNIX + 600;
    const forged = new Client(s, endpoint('198.51.100.3', 1), `${expiry}:salt`, firezonePassword('cd'.repeat(32), expiry, 'salt'));
    expect(errorCode(forged.allocate())).toBe(401);
    expect(authFailures(s)).toContain('bad-integrity');
  });
});

describe('relay: nonces and replays', () => {
  it('answers a used-up nonce with 438 Stale Nonce and a new one; the client recovers', () => {
    const s = server({ nonceUses: 2 });
    const c = new Client(s, endpoint('198.51.100.4', 1), 'shared', 'shared-password');
    expect(c.allocate().cls).toBe('success'); // 401 challenge, then use 1
    const first = c.nonce;
    expect(c.permit(PEER).cls).toBe('success'); // use 2
    const stale = c.once(Method.CreatePermission, [{ name: 'XOR-PEER-ADDRESS', address: PEER }], 0);
    expect(errorCode(stale)).toBe(ErrorCode.StaleNonce);
    expect(getAttribute(stale, 'NONCE')?.value).not.toBe(first);
    expect(c.permit(PEER).cls).toBe('success');
  });

  it('refuses a nonce the server never issued, or issued to another address', () => {
    const s = server();
    const a = new Client(s, endpoint('198.51.100.5', 1), 'shared', 'shared-password');
    expect(a.allocate().cls).toBe('success');
    const b = new Client(s, endpoint('198.51.100.6', 1), 'shared', 'shared-password');
    b.nonce = a.nonce; // borrowed
    expect(errorCode(b.once(Method.Allocate, [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }], 0))).toBe(401);
    b.nonce = '00000000-0000-0000-0000-000000000000'; // made up (b now holds a nonce of its own: 438)
    expect(errorCode(b.once(Method.Allocate, [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }], 0))).toBe(ErrorCode.StaleNonce);
    expect(s.metrics(0).allocations).toBe(1);
  });

  it('a captured request replayed from another address allocates nothing and deletes nothing', () => {
    const s = server();
    const victim = new Client(s, endpoint('198.51.100.7', 1), 'shared', 'shared-password');
    expect(victim.allocate().cls).toBe('success');
    const capturedAllocate = victim.lastRequest;
    expect(victim.bind(0x4001, PEER).cls).toBe('success');
    const deleteReq = victim.bytes(Method.Refresh, [{ name: 'LIFETIME', seconds: 0 }]);
    const attacker = endpoint('192.0.2.66', 5000);
    if (!capturedAllocate) throw new Error('no request captured');
    expect(errorCode(send(s, attacker, capturedAllocate, 0))).toBe(401); // no nonce for this address
    expect(errorCode(send(s, attacker, deleteReq, 0))).toBe(ErrorCode.StaleNonce); // not the nonce it was given
    expect(s.metrics(0).allocations).toBe(1);
    // The victim still relays.
    expect(s.handleClientInput(encodeChannelData(0x4001, Uint8Array.of(5)), victim.addr, 1)).toMatchObject({ toPeer: true });
  });

  it('a replayed ALLOCATE from the same address gets the same answer, not a second allocation', () => {
    const s = server();
    const c = new Client(s, endpoint('198.51.100.8', 1), 'shared', 'shared-password');
    const port = c.relayedPort(c.allocate());
    const again = c.lastRequest;
    if (!again) throw new Error('no request captured');
    const r = send(s, c.addr, again, 5);
    expect(c.relayedPort(r)).toBe(port);
    expect(s.metrics(5)).toMatchObject({ allocations: 1, allocationsCreated: 1 });
    // A new ALLOCATE (new transaction) on the same 5-tuple is a mismatch.
    expect(errorCode(c.allocate(6))).toBe(ErrorCode.AllocationMismatch);
  });
});

describe('relay: floods and quotas', () => {
  it('one host cannot take the whole port range: 486 beyond its quota, other hosts still allocate', () => {
    const s = server({ lowestPort: 50000, highestPort: 50009, maxAllocationsPerIp: 4 });
    const attacker = '192.0.2.10';
    const codes: (number | undefined)[] = [];
    for (let port = 1; port <= 10; port++) codes.push(errorCode(new Client(s, endpoint(attacker, port), 'shared', 'shared-password').allocate()));
    expect(codes.filter((c) => c === undefined)).toHaveLength(4);
    expect(codes.filter((c) => c === ErrorCode.AllocationQuotaReached)).toHaveLength(6);
    const check = honest(s);
    check();
    expect(s.metrics(0).allocations).toBe(5);
  });

  it('the default quota leaves a quarter of the range to other hosts', () => {
    const s = server({ lowestPort: 50000, highestPort: 50007 });
    let ok = 0;
    for (let port = 1; port <= 8; port++) if (new Client(s, endpoint('192.0.2.11', port), 'shared', 'shared-password').allocate().cls === 'success') ok++;
    expect(ok).toBe(6);
    honest(s)();
  });

  it('port-range exhaustion is a clear 508; existing allocations keep relaying; freed ports are reused', () => {
    const s = server({ lowestPort: 50000, highestPort: 50004 });
    const check = honest(s);
    const flood: Client[] = [];
    for (let i = 0; i < 4; i++) {
      const c = new Client(s, endpoint(`192.0.2.${20 + i}`, 1), 'shared', 'shared-password');
      expect(c.allocate().cls).toBe('success');
      flood.push(c);
    }
    const late = new Client(s, endpoint('192.0.2.99', 1), 'shared', 'shared-password');
    const full = late.allocate();
    expect(errorCode(full)).toBe(ErrorCode.InsufficientCapacity);
    expect(getAttribute(full, 'ERROR-CODE')?.reason).toBe('Insufficient Capacity');
    check();
    const leaving = flood[0];
    if (!leaving) throw new Error('no flood client');
    expect(leaving.request(Method.Refresh, [{ name: 'LIFETIME', seconds: 0 }]).cls).toBe('success');
    expect(late.allocate().cls).toBe('success');
  });

  it('one set of Firezone credentials holds one allocation, however many ports it comes from', () => {
    const s = server();
    const creds = firezoneCreds(NOW_UNIX + 3600);
    for (let port = 1; port <= 50; port++) expect(new Client(s, endpoint('192.0.2.30', port), creds.username, creds.password).allocate().cls).toBe('success');
    expect(s.metrics(0).allocations).toBe(1);
    expect(events(s).filter((e) => e.type === 'allocation-freed' && e.reason === 'replaced')).toHaveLength(49);
  });

  it('an authentication flood from many addresses leaves an honest client served', () => {
    const s = server();
    const check = honest(s);
    for (let i = 0; i < 2000; i++) {
      const c = new Client(s, endpoint(`10.${(i >> 8) & 255}.${i & 255}.1`, 1000 + i), 'shared', 'wrong');
      expect(errorCode(c.allocate())).toBe(401);
    }
    expect(s.metrics(0).allocations).toBe(1);
    expect(s.metrics(0).authFailures).toBeGreaterThanOrEqual(4000); // challenge + wrong password, each
    check();
  });

  it('caps permissions and channels per allocation (508)', () => {
    const s = server({ maxPermissionsPerAllocation: 3, maxChannelsPerAllocation: 2 });
    const c = new Client(s, endpoint('198.51.100.9', 1), 'shared', 'shared-password');
    c.allocate();
    for (let i = 1; i <= 3; i++) expect(c.permit(endpoint(`203.0.113.${i}`, 1)).cls).toBe('success');
    expect(errorCode(c.permit(endpoint('203.0.113.4', 1)))).toBe(ErrorCode.InsufficientCapacity);
    expect(c.bind(0x4000, endpoint('203.0.113.1', 1)).cls).toBe('success');
    expect(c.bind(0x4001, endpoint('203.0.113.2', 1)).cls).toBe('success');
    expect(errorCode(c.bind(0x4002, endpoint('203.0.113.3', 1)))).toBe(ErrorCode.InsufficientCapacity);
  });
});

describe('relay: relaying without permission', () => {
  it('drops SEND indications and peer datagrams without a permission, and ChannelData on unbound channels', () => {
    const s = server();
    const c = new Client(s, endpoint('198.51.100.10', 1), 'shared', 'shared-password');
    const port = c.relayedPort(c.allocate());
    const dropped0 = s.metrics(0).packetsDropped;
    const sendInd = encodeMessage({ method: Method.Send, cls: 'indication', transactionId: tid(), attributes: [{ name: 'XOR-PEER-ADDRESS', address: PEER }, { name: 'DATA', data: Uint8Array.of(1) }] });
    s.handleClientInput(sendInd, c.addr, 0);
    expect(s.pollTransmit()).toBeUndefined();
    expect(s.handlePeerInput(Uint8Array.of(1), PEER, 4, port, 0)).toBeUndefined();
    expect(s.pollTransmit()).toBeUndefined();
    expect(s.handleClientInput(encodeChannelData(0x4000, Uint8Array.of(1)), c.addr, 0)).toBeUndefined();
    expect(s.metrics(0).packetsDropped - dropped0).toBe(3);
    // A permission is per IP address: another host on the same network gets nothing through.
    expect(c.permit(PEER).cls).toBe('success');
    expect(s.handlePeerInput(Uint8Array.of(1), endpoint('203.0.113.11', 40000), 4, port, 0)).toBeUndefined();
    expect(s.pollTransmit()).toBeUndefined();
    s.handlePeerInput(Uint8Array.of(7), PEER, 4, port, 0);
    expect(s.pollTransmit()?.dst.key).toBe(c.addr.key); // the permitted peer reaches the client (DATA indication)
  });

  it("one client cannot use another client's channel, relayed port or allocation", () => {
    const s = server();
    const owner = new Client(s, endpoint('198.51.100.11', 1), 'shared', 'shared-password');
    owner.allocate();
    owner.bind(0x4000, PEER);
    const other = new Client(s, endpoint('198.51.100.12', 1), 'shared', 'shared-password');
    expect(s.handleClientInput(encodeChannelData(0x4000, Uint8Array.of(1)), other.addr, 0)).toBeUndefined();
    expect(errorCode(other.permit(PEER))).toBe(ErrorCode.AllocationMismatch); // no allocation of its own
    expect(errorCode(other.bind(0x4000, PEER))).toBe(ErrorCode.AllocationMismatch);
    expect(errorCode(other.request(Method.Refresh, [{ name: 'LIFETIME', seconds: 0 }]))).toBe(ErrorCode.AllocationMismatch);
    expect(s.metrics(0).allocations).toBe(1);
  });

  it('refuses permissions to unspecified, loopback, link-local, multicast and broadcast addresses (403)', () => {
    const s = server();
    const c = new Client(s, endpoint('198.51.100.13', 1), 'shared', 'shared-password');
    c.allocate();
    for (const ip of ['127.0.0.1', '0.0.0.0', '169.254.1.1', '224.0.0.1', '255.255.255.255']) {
      expect(errorCode(c.permit(endpoint(ip, 1))), ip).toBe(ErrorCode.Forbidden);
    }
  });
});

describe('relay: oversized and truncated datagrams', () => {
  const from = endpoint('198.51.100.14', 1);

  it('a truncated request gets 400 or nothing; truncated ChannelData is dropped; nothing is allocated', () => {
    const s = server();
    const c = new Client(s, from, 'shared', 'shared-password');
    c.allocate();
    c.bind(0x4000, PEER);
    const req = c.bytes(Method.CreatePermission, [{ name: 'XOR-PEER-ADDRESS', address: PEER }]);
    for (let cut = 1; cut < req.length; cut++) {
      s.handleClientInput(req.subarray(0, cut), from, 0);
      for (let t = s.pollTransmit(); t; t = s.pollTransmit()) {
        const m = decodeMessage(t.payload);
        expect(m.ok && m.message.cls === 'error' ? errorCode(m.message) : 'unexpected').toBe(400);
      }
    }
    const cd = encodeChannelData(0x4000, new Uint8Array(100));
    for (const cut of [3, 4, 50, 103]) expect(s.handleClientInput(cd.subarray(0, cut), from, 0)).toBeUndefined();
    expect(s.metrics(0).allocations).toBe(1);
  });

  it('a length field that lies (bigger than the datagram) or an oversized datagram is refused without a crash', () => {
    const s = server();
    const check = honest(s);
    const lying = encodeMessage({ method: Method.Allocate, cls: 'request', transactionId: tid(), attributes: [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }] });
    new DataView(lying.buffer, lying.byteOffset).setUint16(2, 0xfffc);
    s.handleClientInput(lying, from, 0);
    for (let t = s.pollTransmit(); t; t = s.pollTransmit()) expect(decodeMessage(t.payload).ok).toBe(true);
    const cdLie = Uint8Array.of(0x40, 0x00, 0xff, 0xff, 1, 2, 3);
    expect(s.handleClientInput(cdLie, endpoint('198.51.100.200', 4000), 0)).toBeUndefined(); // the honest client's channel
    const huge = new Uint8Array(70_000);
    huge.set(lying.subarray(0, 20));
    new DataView(huge.buffer).setUint16(2, 0xffe0);
    s.handleClientInput(huge, from, 0);
    for (let t = s.pollTransmit(); t; t = s.pollTransmit()) expect(decodeMessage(t.payload).ok).toBe(true);
    const attr = encodeMessage({ method: Method.Allocate, cls: 'request', transactionId: tid(), attributes: [{ name: 'SOFTWARE', value: 'x'.repeat(763) }, { name: 'REQUESTED-TRANSPORT', protocol: 17 }] });
    const r = send(s, from, attr, 0);
    expect(errorCode(r)).toBe(401); // decodes fine: just unauthenticated
    expect(s.metrics(0).allocations).toBe(1);
    check();
  });
});
