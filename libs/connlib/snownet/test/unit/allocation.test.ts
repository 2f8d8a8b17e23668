// The TURN client allocation against scripted relay answers: the behaviours of Firezone's snownet
// `Allocation` tests (../shared/fixtures/firezone/turn-client-allocation.json) that Postern keeps.
import { decodeMessageOrThrow, encodeChannelData, encodeMessage, getAttribute, longTermKey, Method, verifyIntegrity, type Attribute, type DecodedMessage } from '@postern/stun';
import { describe, expect, it } from 'vitest';
import { Allocation, type AllocationEvent, type NetAddr, type RelayInfo } from '../../src/index';
import { addr } from '../support/addr';
import { seededRng } from '../support/rng';


const RELAY_V4 = addr('198.18.32.10:3478');
const RELAY_V6 = addr('[fd00::10]:3478');
const HOST_V4 = addr('198.18.33.2:40000');
const HOST_V6 = addr('[fd00::2]:40000');
const MAPPED_V4 = addr('198.18.32.20:20000');
const RELAYED_V4 = addr('198.18.32.10:50000');
const RELAYED_V6 = addr('[fd00::10]:50000');
const PEER1 = addr('198.18.32.30:10000');
const PEER2 = addr('198.18.32.31:20000');
const INFO: RelayInfo = { id: 'relay', ipv4: RELAY_V4.address, port: 3478, username: 'foobar', password: 'baz' };
const KEY = longTermKey('foobar', 'firezone', 'baz');

function v4Allocation(info: RelayInfo = INFO): Allocation {
  return new Allocation(info, new Map([[4, HOST_V4]]), seededRng(3), 0);
}

function next(a: Allocation): DecodedMessage | undefined {
  const t = a.pollTransmit();
  return t === undefined ? undefined : decodeMessageOrThrow(t.payload);
}

function must(a: Allocation): DecodedMessage {
  const m = next(a);
  if (m === undefined) throw new Error('nothing sent');
  return m;
}

function answer(a: Allocation, req: DecodedMessage, cls: 'success' | 'error', attributes: Attribute[], now: number, from = RELAY_V4): void {
  const bytes = encodeMessage({ method: req.method, cls, transactionId: req.transactionId, attributes }, req.method === Method.Binding ? {} : { integrity: KEY });
  expect(a.handleInput(from, bytes, now).kind).toBe('handled');
}

function events(a: Allocation): AllocationEvent[] {
  const out: AllocationEvent[] = [];
  for (let e = a.pollEvent(); e !== undefined; e = a.pollEvent()) out.push(e);
  return out;
}

const unauthorized = (nonce: string): Attribute[] => [
  { name: 'ERROR-CODE', code: 401, reason: 'Unauthorized' },
  { name: 'REALM', value: 'firezone' },
  { name: 'NONCE', value: nonce },
];
const allocateOk = (relayed: NetAddr[] = [RELAYED_V4], lifetime = 600): Attribute[] => [
  ...relayed.map((r): Attribute => ({ name: 'XOR-RELAYED-ADDRESS', address: r })),
  { name: 'XOR-MAPPED-ADDRESS', address: MAPPED_V4 },
  { name: 'LIFETIME', seconds: lifetime },
];

/** BINDING answered, ALLOCATE answered (through a 401 challenge): an allocated v4 allocation at t=0. */
function allocated(): Allocation {
  const a = v4Allocation();
  answer(a, must(a), 'success', [{ name: 'XOR-MAPPED-ADDRESS', address: MAPPED_V4 }], 0);
  answer(a, must(a), 'error', unauthorized('nonce1'), 0);
  answer(a, must(a), 'success', allocateOk(), 0);
  expect(a.state).toBe('allocated');
  events(a);
  return a;
}

describe('Allocation', () => {
  it('sends BINDING first, then an ALLOCATE without credentials (no nonce known yet)', () => {
    const a = v4Allocation();
    const binding = must(a);
    expect(binding.method).toBe(Method.Binding);
    expect(binding.integrityOffset).toBe(-1);
    answer(a, binding, 'success', [{ name: 'XOR-MAPPED-ADDRESS', address: MAPPED_V4 }], 40);
    expect(events(a)).toEqual([{ type: 'newCandidate', kind: 'srflx', addr: MAPPED_V4, base: HOST_V4 }]);
    const alloc = must(a);
    expect(alloc.method).toBe(Method.Allocate);
    expect(getAttribute(alloc, 'USERNAME')).toBeUndefined();
    expect(getAttribute(alloc, 'REALM')).toBeUndefined();
    expect(getAttribute(alloc, 'NONCE')).toBeUndefined();
    expect(alloc.integrityOffset).toBe(-1);
    expect(getAttribute(alloc, 'REQUESTED-TRANSPORT')?.protocol).toBe(17);
    expect(a.rtt).toBe(40);
  });

  it('the 401 brings REALM and NONCE: the retry carries both and MESSAGE-INTEGRITY with MD5(user:realm:pass)', () => {
    const a = v4Allocation();
    answer(a, must(a), 'success', [{ name: 'XOR-MAPPED-ADDRESS', address: MAPPED_V4 }], 0);
    const first = must(a);
    const challenge = [{ name: 'ERROR-CODE', code: 401, reason: 'Unauthorized' }, { name: 'REALM', value: 'example.org' }, { name: 'NONCE', value: 'n1' }] satisfies Attribute[];
    expect(a.handleInput(RELAY_V4, encodeMessage({ method: first.method, cls: 'error', transactionId: first.transactionId, attributes: challenge }), 0).kind).toBe('handled');
    const retry = must(a);
    expect(retry.method).toBe(Method.Allocate);
    expect(getAttribute(retry, 'USERNAME')?.value).toBe('foobar');
    expect(getAttribute(retry, 'REALM')?.value).toBe('example.org');
    expect(getAttribute(retry, 'NONCE')?.value).toBe('n1');
    const serverKey = longTermKey('foobar', 'example.org', 'baz');
    expect(verifyIntegrity(retry, serverKey)).toBe('ok');
    expect(verifyIntegrity(retry, KEY)).toBe('mismatch');
    const ok = encodeMessage({ method: retry.method, cls: 'success', transactionId: retry.transactionId, attributes: allocateOk() }, { integrity: serverKey });
    a.handleInput(RELAY_V4, ok, 0);
    expect(a.state).toBe('allocated');
  });

  it('400 to an authenticated ALLOCATE: resent once without credentials; a second 400 fails it (serverError)', () => {
    const a = v4Allocation();
    answer(a, must(a), 'success', [{ name: 'XOR-MAPPED-ADDRESS', address: MAPPED_V4 }], 0);
    answer(a, must(a), 'error', unauthorized('nonce1'), 0);
    const authed = must(a);
    expect(getAttribute(authed, 'NONCE')?.value).toBe('nonce1');
    answer(a, authed, 'error', [{ name: 'ERROR-CODE', code: 400, reason: 'Bad Request' }], 0);
    const bare = must(a);
    expect(bare.method).toBe(Method.Allocate);
    expect(bare.integrityOffset).toBe(-1);
    expect(getAttribute(bare, 'USERNAME')).toBeUndefined();
    answer(a, bare, 'error', unauthorized('nonce2'), 0);
    const again = must(a);
    expect(getAttribute(again, 'NONCE')?.value).toBe('nonce2');
    answer(a, again, 'error', [{ name: 'ERROR-CODE', code: 400, reason: 'Bad Request' }], 0);
    expect(next(a)).toBeUndefined();
    expect(a.state).toBe('failed');
    expect(a.failure).toBe('serverError');
  });

  it('401: retries once with the nonce; a second 401 stops it (unauthorized)', () => {
    const a = v4Allocation();
    answer(a, must(a), 'success', [{ name: 'XOR-MAPPED-ADDRESS', address: MAPPED_V4 }], 0);
    answer(a, must(a), 'error', unauthorized('nonce1'), 0);
    const retry = must(a);
    expect(getAttribute(retry, 'NONCE')?.value).toBe('nonce1');
    answer(a, retry, 'error', unauthorized('nonce2'), 0);
    expect(next(a)).toBeUndefined();
    expect(a.state).toBe('failed');
    expect(a.failure).toBe('unauthorized');
    expect(a.pollTimeout()).toBeUndefined();
  });

  it('438 stale nonce: retries with the new nonce', () => {
    const a = v4Allocation();
    answer(a, must(a), 'success', [{ name: 'XOR-MAPPED-ADDRESS', address: MAPPED_V4 }], 0);
    answer(a, must(a), 'error', unauthorized('nonce1'), 0);
    answer(a, must(a), 'error', [{ name: 'ERROR-CODE', code: 438, reason: 'Stale Nonce' }, { name: 'REALM', value: 'firezone' }, { name: 'NONCE', value: 'nonce2' }], 0);
    const retry = must(a);
    expect(retry.method).toBe(Method.Allocate);
    expect(getAttribute(retry, 'NONCE')?.value).toBe('nonce2');
  });

  it('success: srflx then relay candidates; the RTT is smoothed 7/8 + 1/8', () => {
    const a = v4Allocation();
    answer(a, must(a), 'success', [{ name: 'XOR-MAPPED-ADDRESS', address: MAPPED_V4 }], 40);
    const req = must(a);
    answer(a, req, 'success', allocateOk(), 240);
    expect(events(a)).toEqual([
      { type: 'newCandidate', kind: 'srflx', addr: MAPPED_V4, base: HOST_V4 },
      { type: 'newCandidate', kind: 'relay', addr: RELAYED_V4, base: MAPPED_V4 },
    ]);
    expect(a.rtt).toBe(60);
    expect(a.relayedAddresses()).toEqual([RELAYED_V4]);
  });

  it('channels: the first is 0x4000; bound once per peer; buffered until the allocation exists', () => {
    const a = v4Allocation();
    expect(a.channelTo(PEER1, 0)).toBeUndefined();
    must(a); // BINDING
    expect(next(a)).toBeUndefined();
    answer(a, { ...decodeMessageOrThrow(encodeMessage({ method: Method.Binding, cls: 'request', transactionId: new Uint8Array(12), attributes: [] })) }, 'success', [], 0);
    // the stray answer above matched nothing: still binding
    expect(a.state).toBe('binding');
    const b = allocated();
    expect(b.channelTo(PEER1, 0)).toBe(0x4000);
    const bind = must(b);
    expect(bind.method).toBe(Method.ChannelBind);
    expect(getAttribute(bind, 'CHANNEL-NUMBER')?.channel).toBe(0x4000);
    expect(getAttribute(bind, 'XOR-PEER-ADDRESS')?.address).toMatchObject({ address: PEER1.address, port: PEER1.port });
    expect(b.channelTo(PEER1, 1)).toBe(0x4000);
    expect(next(b)).toBeUndefined();
    expect(b.channelTo(PEER2, 1)).toBe(0x4001);
    expect(must(b).method).toBe(Method.ChannelBind);
  });

  it('a CHANNEL-BIND asked for before the allocation goes out after ALLOCATE succeeds', () => {
    const a = v4Allocation();
    answer(a, must(a), 'success', [{ name: 'XOR-MAPPED-ADDRESS', address: MAPPED_V4 }], 0);
    const alloc = must(a);
    expect(a.channelTo(PEER1, 0)).toBeUndefined();
    expect(next(a)).toBeUndefined();
    answer(a, alloc, 'success', allocateOk(), 10);
    const bind = must(a);
    expect(bind.method).toBe(Method.ChannelBind);
    expect(next(a)).toBeUndefined();
  });

  it('CHANNEL-BIND 400 removes the channel; a later use binds again', () => {
    const a = allocated();
    a.channelTo(PEER1, 0);
    answer(a, must(a), 'error', [{ name: 'ERROR-CODE', code: 400, reason: 'Bad Request' }], 0);
    expect(a.channelTo(PEER1, 1)).toBeDefined();
    expect(must(a).method).toBe(Method.ChannelBind);
  });

  it('no channel to a family without a relayed address', () => {
    const a = allocated();
    expect(a.channelTo(addr('[fd00::30]:1000'), 0)).toBeUndefined();
    expect(next(a)).toBeUndefined();
  });

  it('retransmits after 1 s x1.5 and gives up after 8 s', () => {
    const a = v4Allocation();
    must(a);
    const sentAt: number[] = [];
    for (let now = 0; now <= 10_000; now += 125) {
      a.handleTimeout(now);
      for (let m = next(a); m !== undefined; m = next(a)) sentAt.push(now);
    }
    expect(sentAt).toEqual([1000, 2500, 4750]);
    expect(a.state).toBe('failed');
    expect(a.failure).toBe('noResponse');
  });

  it('refreshes at half the lifetime, once, and keeps the relay alive with BINDINGs after 25 s of silence', () => {
    const a = allocated();
    const sent: { at: number; method: number; lifetime: number | undefined }[] = [];
    for (let now = 0; now <= 310_000; now += 1_000) {
      a.handleTimeout(now);
      for (let m = next(a); m !== undefined; m = next(a)) {
        sent.push({ at: now, method: m.method, lifetime: getAttribute(m, 'LIFETIME')?.seconds });
        answer(a, m, 'success', m.method === Method.Refresh ? [{ name: 'LIFETIME', seconds: 600 }] : [{ name: 'XOR-MAPPED-ADDRESS', address: MAPPED_V4 }], now);
      }
    }
    const refreshes = sent.filter((s) => s.method === Method.Refresh);
    expect(refreshes).toEqual([{ at: 300_000, method: Method.Refresh, lifetime: undefined }]);
    const bindings = sent.filter((s) => s.method === Method.Binding).map((s) => s.at);
    expect(bindings.slice(0, 3)).toEqual([25_000, 50_000, 75_000]);
    expect(events(a)).toEqual([]);
  });

  it('REFRESH 437: relay candidates invalidated, then a new ALLOCATE', () => {
    const a = allocated();
    a.handleTimeout(300_000);
    let m = must(a);
    while (m.method !== Method.Refresh) m = must(a);
    answer(a, m, 'error', [{ name: 'ERROR-CODE', code: 437, reason: 'Allocation Mismatch' }], 300_000);
    expect(events(a)).toEqual([{ type: 'invalidatedCandidate', kind: 'relay', addr: RELAYED_V4, base: MAPPED_V4 }]);
    expect(must(a).method).toBe(Method.Allocate);
  });

  it('an unanswered keepalive BINDING invalidates the relay candidates', () => {
    const a = allocated();
    for (let now = 0; now <= 40_000; now += 250) {
      a.handleTimeout(now);
      while (next(a) !== undefined);
    }
    expect(events(a)).toEqual([
      { type: 'invalidatedCandidate', kind: 'relay', addr: RELAYED_V4, base: MAPPED_V4 },
      { type: 'failed', reason: 'noResponse' },
    ]);
  });

  it('permissions: CREATE-PERMISSION per peer IP, refreshed every 4 minutes while used', () => {
    const a = allocated();
    a.permit(PEER1, 0);
    const p = must(a);
    expect(p.method).toBe(Method.CreatePermission);
    expect(getAttribute(p, 'XOR-PEER-ADDRESS')?.address.address).toBe(PEER1.address);
    answer(a, p, 'success', [], 0);
    a.permit(PEER1, 200_000);
    const at: number[] = [];
    for (let now = 0; now <= 300_000; now += 1_000) {
      a.handleTimeout(now);
      for (let m = next(a); m !== undefined; m = next(a)) {
        if (m.method === Method.CreatePermission) at.push(now);
        answer(a, m, 'success', m.method === Method.Binding ? [{ name: 'XOR-MAPPED-ADDRESS', address: MAPPED_V4 }] : [], now);
      }
    }
    expect(at).toEqual([240_000]);
  });

  it('a peer reached over a channel keeps its permission refreshed while the channel carries data', () => {
    const a = allocated();
    a.channelTo(PEER2, 0);
    answer(a, must(a), 'success', [], 0);
    const perms: number[] = [];
    for (let now = 1_000; now <= 600_000; now += 1_000) {
      if (now % 30_000 === 0) a.channelTo(PEER2, now);
      a.handleTimeout(now);
      for (let m = next(a); m !== undefined; m = next(a)) {
        if (m.method === Method.CreatePermission) perms.push(now);
        answer(a, m, 'success', m.method === Method.Refresh ? [{ name: 'LIFETIME', seconds: 600 }] : m.method === Method.Binding ? [{ name: 'XOR-MAPPED-ADDRESS', address: MAPPED_V4 }] : [], now);
      }
    }
    // every 4 min after the CHANNEL-BIND (which installed it); the channel refresh at 9 min renews it too
    expect(perms).toEqual([240_000, 480_000]);
  });

  it('channels are refreshed at 9 minutes when they carried data', () => {
    const a = allocated();
    a.channelTo(PEER1, 0);
    answer(a, must(a), 'success', [], 0);
    const binds: number[] = [];
    for (let now = 1_000; now <= 560_000; now += 1_000) {
      if (now === 60_000) a.channelTo(PEER1, now);
      a.handleTimeout(now);
      for (let m = next(a); m !== undefined; m = next(a)) {
        if (m.method === Method.ChannelBind) binds.push(now);
        answer(a, m, 'success', m.method === Method.Refresh ? [{ name: 'LIFETIME', seconds: 600 }] : m.method === Method.Binding ? [{ name: 'XOR-MAPPED-ADDRESS', address: MAPPED_V4 }] : [], now);
      }
    }
    expect(binds).toEqual([540_000]);
  });

  it('one refreshing CHANNEL-BIND at a time; a failed refresh keeps the number for the peer', () => {
    const a = allocated();
    a.channelTo(PEER1, 0);
    answer(a, must(a), 'success', [], 0);
    a.channelTo(PEER1, 1_000);
    const binds: DecodedMessage[] = [];
    for (let now = 540_000; now <= 542_000; now += 250) {
      a.handleTimeout(now);
      for (let m = next(a); m !== undefined; m = next(a)) if (m.method === Method.ChannelBind) binds.push(m);
    }
    // one request (and its retransmission after 1 s), not one per timer tick
    expect(new Set(binds.map((b) => b.transactionId.join())).size).toBe(1);
    const first = binds[0];
    if (first === undefined) throw new Error('no bind');
    answer(a, first, 'error', [{ name: 'ERROR-CODE', code: 400, reason: 'Bad Request' }], 542_000);
    expect(a.channelTo(PEER1, 543_000)).toBe(0x4000);
    expect(a.channelTo(PEER2, 543_000)).toBe(0x4001);
  });

  it('unwraps ChannelData and DATA indications from the relay; ignores other sources', () => {
    const a = allocated();
    const ch = a.channelTo(PEER1, 0);
    if (ch === undefined) throw new Error('no channel');
    answer(a, must(a), 'success', [], 0);
    const r = a.handleInput(RELAY_V4, encodeChannelData(ch, new Uint8Array([9, 8, 7])), 1);
    expect(r.kind === 'data' ? [r.peer.key, [...r.payload]] : r.kind).toEqual([PEER1.key, [9, 8, 7]]);
    const ind = encodeMessage({ method: Method.Data, cls: 'indication', transactionId: new Uint8Array(12), attributes: [{ name: 'XOR-PEER-ADDRESS', address: PEER2 }, { name: 'DATA', data: new Uint8Array([1]) }] });
    const d = a.handleInput(RELAY_V4, ind, 1);
    expect(d.kind === 'data' ? d.peer.key : d.kind).toBe(PEER2.key);
    expect(a.handleInput(PEER1, ind, 1).kind).toBe('notOurs');
    expect(a.handleInput(RELAY_V4, encodeChannelData(0x4abc, new Uint8Array([1])), 1).kind).toBe('handled');
    expect(a.relayedRxBytes).toBe(4);
  });

  it('frames in place: header at offset, payload untouched', () => {
    const a = allocated();
    const buf = new Uint8Array(16);
    buf.set([1, 2, 3], 4);
    expect(a.frame(PEER1, buf, 0, 3, 0)).toBe(true);
    expect([...buf.subarray(0, 7)]).toEqual([0x40, 0x00, 0x00, 0x03, 1, 2, 3]);
  });

  it('close: REFRESH with LIFETIME 0 and every candidate invalidated', () => {
    const a = allocated();
    a.close(1_000);
    const m = must(a);
    expect(m.method).toBe(Method.Refresh);
    expect(getAttribute(m, 'LIFETIME')?.seconds).toBe(0);
    expect(events(a).map((e) => e.type === 'failed' ? e.type : `${e.type}:${e.kind}`)).toEqual(['invalidatedCandidate:relay', 'invalidatedCandidate:srflx']);
    expect(a.state).toBe('closed');
  });

  it('dual-stack: BINDING to both addresses, the first answer picks the server, ALLOCATE asks for both families', () => {
    const a = new Allocation({ ...INFO, ipv6: RELAY_V6.address }, new Map([[4, HOST_V4], [6, HOST_V6]]), seededRng(4), 0);
    const b4 = must(a);
    const b6 = must(a);
    answer(a, b6, 'success', [{ name: 'XOR-MAPPED-ADDRESS', address: HOST_V6 }], 5, RELAY_V6);
    expect(a.server?.key).toBe(RELAY_V6.key);
    const t = a.pollTransmit();
    expect(t?.dst.key).toBe(RELAY_V6.key);
    const alloc = decodeMessageOrThrow(t?.payload ?? new Uint8Array(0));
    expect(getAttribute(alloc, 'ADDITIONAL-ADDRESS-FAMILY')?.family).toBe(6);
    answer(a, b4, 'success', [{ name: 'XOR-MAPPED-ADDRESS', address: MAPPED_V4 }], 6);
    answer(a, alloc, 'error', unauthorized('n'), 7, RELAY_V6);
    answer(a, must(a), 'success', allocateOk([RELAYED_V4, RELAYED_V6]), 8, RELAY_V6);
    expect(events(a).map((e) => (e.type === 'failed' ? e.type : `${e.kind} ${e.addr.key}`))).toEqual([
      `srflx ${HOST_V6.key}`,
      `srflx ${MAPPED_V4.key}`,
      `relay ${RELAYED_V4.key}`,
      `relay ${RELAYED_V6.key}`,
    ]);
  });

  it('a forged answer (wrong MESSAGE-INTEGRITY) is ignored', () => {
    const a = v4Allocation();
    answer(a, must(a), 'success', [{ name: 'XOR-MAPPED-ADDRESS', address: MAPPED_V4 }], 0);
    answer(a, must(a), 'error', unauthorized('nonce1'), 0);
    const req = must(a);
    const forged = encodeMessage({ method: req.method, cls: 'success', transactionId: req.transactionId, attributes: allocateOk() }, { integrity: longTermKey('foobar', 'firezone', 'wrong') });
    a.handleInput(RELAY_V4, forged, 0);
    expect(a.state).toBe('allocating');
  });
});
