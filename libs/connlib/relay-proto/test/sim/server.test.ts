import {
  CHANNEL_DATA_HEADER_LENGTH,
  decodeMessageOrThrow,
  encodeMessage,
  getAttribute,
  Method,
  verifyIntegrity,
  writeChannelDataHeader,
} from '@postern/stun';
import { describe, expect, it } from 'vitest';
import { endpoint, parseCidr, type ServerEvent, type TurnServer } from '../../src/index';
import { CLIENT, errorCode, exchange, newServer, PEER, RELAY_IP4, SimClient, tid } from './harness';

function drainEvents(s: TurnServer): ServerEvent[] {
  const out: ServerEvent[] = [];
  for (let e = s.pollEvent(); e; e = s.pollEvent()) out.push(e);
  return out;
}

describe('BINDING', () => {
  it('answers an unauthenticated BINDING with SOFTWARE then XOR-MAPPED-ADDRESS', () => {
    const s = newServer();
    const res = exchange(s, CLIENT, new Uint8Array(Buffer.from('000100002112a4420123456789abcdef01234567', 'hex')), 0);
    expect(res.cls).toBe('success');
    expect(res.attributes.map((a) => a.name)).toEqual(['SOFTWARE', 'XOR-MAPPED-ADDRESS', 'FINGERPRINT']);
    expect(getAttribute(res, 'XOR-MAPPED-ADDRESS')?.address).toMatchObject({ address: CLIENT.address, port: CLIENT.port });
  });
  it('drops requests from source port 0 and non-STUN bytes without a reply', () => {
    const s = newServer();
    s.handleClientInput(new Uint8Array(Buffer.from('000100002112a4420123456789abcdef01234567', 'hex')), endpoint('198.51.100.5', 0), 0);
    s.handleClientInput(new Uint8Array(Buffer.from('80000000', 'hex')), CLIENT, 0);
    s.handleClientInput(new Uint8Array(Buffer.from('565e0028ecad5904', 'hex')), CLIENT, 0);
    expect(s.pollTransmit()).toBeUndefined();
    expect(s.metrics(0).packetsDropped).toBe(3);
  });
  it('answers 400 to unknown request methods and 420 to unknown comprehension-required attributes', () => {
    const s = newServer();
    const r1 = exchange(s, CLIENT, encodeMessage({ method: 0x00a, cls: 'request', transactionId: tid(), attributes: [] }), 0);
    expect(errorCode(r1)).toBe(400);
    const r2 = exchange(s, CLIENT, encodeMessage({ method: Method.Binding, cls: 'request', transactionId: tid(), attributes: [{ name: 'UNKNOWN', type: 0x7777, value: new Uint8Array(4) }] }), 0);
    expect(errorCode(r2)).toBe(420);
    expect(getAttribute(r2, 'UNKNOWN-ATTRIBUTES')?.types).toEqual([0x7777]);
  });
});

describe('ALLOCATE', () => {
  it('challenges with 401 carrying SOFTWARE, ERROR-CODE, REALM and a UUID NONCE, then allocates', () => {
    const s = newServer();
    const first = exchange(s, CLIENT, encodeMessage({ method: Method.Allocate, cls: 'request', transactionId: tid(), attributes: [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }] }), 0);
    expect(first.attributes.map((a) => a.name)).toEqual(['SOFTWARE', 'ERROR-CODE', 'REALM', 'NONCE', 'FINGERPRINT']);
    expect(getAttribute(first, 'NONCE')?.value).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const c = new SimClient(s, CLIENT, 'alice', 'secret');
    const res = c.allocate(0);
    expect(res.cls).toBe('success');
    expect(res.attributes.map((a) => a.name)).toEqual(['SOFTWARE', 'XOR-RELAYED-ADDRESS', 'XOR-MAPPED-ADDRESS', 'LIFETIME', 'MESSAGE-INTEGRITY', 'FINGERPRINT']);
    expect(getAttribute(res, 'LIFETIME')?.seconds).toBe(600);
    const relayed = getAttribute(res, 'XOR-RELAYED-ADDRESS')?.address;
    expect(relayed?.address).toBe(RELAY_IP4);
    expect(relayed?.port).toBeGreaterThanOrEqual(50000);
    expect(drainEvents(s).find((e) => e.type === 'allocation-created')).toMatchObject({ port: relayed?.port, families: [4] });
  });

  it('signs responses with the long-term key', () => {
    const s = newServer();
    const c = new SimClient(s, CLIENT, 'alice', 'secret');
    expect(verifyIntegrity(c.allocate(0), c.key)).toBe('ok');
  });

  it('answers 401 to a wrong password and counts the failure', () => {
    const s = newServer();
    const c = new SimClient(s, CLIENT, 'alice', 'wrong');
    expect(errorCode(c.allocate(0))).toBe(401);
    expect(s.metrics(0).authFailures).toBeGreaterThanOrEqual(2);
  });

  it('answers 437 to a second ALLOCATE on the same 5-tuple, but repeats the answer to a retransmission', () => {
    const s = newServer();
    const c = new SimClient(s, CLIENT, 'alice', 'secret');
    c.allocate(0);
    expect(errorCode(c.allocate(1))).toBe(437);
    // Retransmission: same transaction id.
    const t = tid();
    const a = c.request(Method.Allocate, [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }], 2, t);
    expect(errorCode(a)).toBe(437);
  });

  it('repeats the success to a retransmitted ALLOCATE', () => {
    const c2 = new SimClient(newServer(), CLIENT, 'alice', 'secret');
    expect(errorCode(c2.refresh(600, 0))).toBe(437); // learns the nonce on the way
    const t = tid();
    const a = c2.request(Method.Allocate, [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }], 1, t);
    const b = c2.request(Method.Allocate, [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }], 2, t);
    expect(a.cls).toBe('success');
    expect(Buffer.from(b.raw).equals(Buffer.from(a.raw))).toBe(true);
  });

  it('refuses TCP (442), requires REQUESTED-TRANSPORT (400)', () => {
    const s = newServer();
    const c = new SimClient(s, CLIENT, 'alice', 'secret');
    expect(errorCode(c.request(Method.Allocate, [{ name: 'REQUESTED-TRANSPORT', protocol: 6 }], 0))).toBe(442);
    expect(errorCode(c.request(Method.Allocate, [], 0))).toBe(400);
  });

  it('allocates IPv6 and dual-stack, and applies the address-family rules', () => {
    const s = newServer();
    const v6 = new SimClient(s, endpoint('198.51.100.5', 1), 'alice', 'secret').allocate(0, [{ name: 'REQUESTED-ADDRESS-FAMILY', family: 6 }]);
    expect(v6.attributes.flatMap((a) => (a.name === 'XOR-RELAYED-ADDRESS' ? [a.address.family] : []))).toEqual([6]);
    const dual = new SimClient(s, endpoint('198.51.100.5', 2), 'alice', 'secret').allocate(0, [{ name: 'ADDITIONAL-ADDRESS-FAMILY', family: 6 }]);
    expect(dual.attributes.filter((a) => a.name === 'XOR-RELAYED-ADDRESS').length).toBe(2);
    const both = new SimClient(s, endpoint('198.51.100.5', 3), 'alice', 'secret').allocate(0, [
      { name: 'REQUESTED-ADDRESS-FAMILY', family: 4 },
      { name: 'ADDITIONAL-ADDRESS-FAMILY', family: 6 },
    ]);
    expect(errorCode(both)).toBe(400);
    const add4 = new SimClient(s, endpoint('198.51.100.5', 4), 'alice', 'secret').allocate(0, [{ name: 'ADDITIONAL-ADDRESS-FAMILY', family: 4 }]);
    expect(errorCode(add4)).toBe(400);
    const v4only = newServer({ publicIp6: undefined });
    expect(errorCode(new SimClient(v4only, CLIENT, 'alice', 'secret').allocate(0, [{ name: 'REQUESTED-ADDRESS-FAMILY', family: 6 }]))).toBe(440);
    const v6only = newServer({ publicIp4: undefined });
    expect(errorCode(new SimClient(v6only, CLIENT, 'alice', 'secret').allocate(0))).toBe(440);
    expect(errorCode(new SimClient(v6only, endpoint('198.51.100.5', 9), 'alice', 'secret').allocate(0, [{ name: 'REQUESTED-ADDRESS-FAMILY', family: 4 }]))).toBe(440);
  });

  it('caps the lifetime at 3600 s and uses 600 s by default', () => {
    const s = newServer();
    const r = new SimClient(s, CLIENT, 'alice', 'secret').allocate(0, [{ name: 'LIFETIME', seconds: 10_000_000 }]);
    expect(getAttribute(r, 'LIFETIME')?.seconds).toBe(3600);
  });

  it('answers 508 when the port range is exhausted', () => {
    const s = newServer({ lowestPort: 50000, highestPort: 50001 });
    expect(new SimClient(s, endpoint('198.51.100.5', 1), 'alice', 'secret').allocate(0).cls).toBe('success');
    expect(new SimClient(s, endpoint('198.51.100.5', 2), 'alice', 'secret').allocate(0).cls).toBe('success');
    expect(errorCode(new SimClient(s, endpoint('198.51.100.5', 3), 'alice', 'secret').allocate(0))).toBe(508);
  });

  it('reserves the next port with EVEN-PORT R and hands it out for the RESERVATION-TOKEN', () => {
    const s = newServer();
    const a = new SimClient(s, endpoint('198.51.100.5', 1), 'alice', 'secret').allocate(0, [{ name: 'EVEN-PORT', reserveNext: true }]);
    const port = getAttribute(a, 'XOR-RELAYED-ADDRESS')?.address.port ?? -1;
    expect(port % 2).toBe(0);
    const token = getAttribute(a, 'RESERVATION-TOKEN')?.token;
    expect(token?.length).toBe(8);
    const b = new SimClient(s, endpoint('198.51.100.5', 2), 'alice', 'secret').allocate(0, [{ name: 'RESERVATION-TOKEN', token: token ?? new Uint8Array(8) }]);
    expect(getAttribute(b, 'XOR-RELAYED-ADDRESS')?.address.port).toBe(port + 1);
  });
});

describe('REFRESH', () => {
  it('extends the allocation, and LIFETIME 0 deletes it', () => {
    const s = newServer();
    const c = new SimClient(s, CLIENT, 'alice', 'secret');
    c.allocate(0);
    expect(getAttribute(c.refresh(1200, 1000), 'LIFETIME')?.seconds).toBe(1200);
    drainEvents(s);
    const del = c.refresh(0, 2000);
    expect(del.attributes.map((a) => a.name)).toEqual(['SOFTWARE', 'LIFETIME', 'MESSAGE-INTEGRITY', 'FINGERPRINT']);
    expect(getAttribute(del, 'LIFETIME')?.seconds).toBe(0);
    expect(drainEvents(s)).toEqual([expect.objectContaining({ type: 'allocation-freed', reason: 'deleted' })]);
    expect(errorCode(c.refresh(600, 3000))).toBe(437);
  });

  it('expires an allocation at its lifetime and says so through pollTimeout', () => {
    const s = newServer();
    new SimClient(s, CLIENT, 'alice', 'secret').allocate(0);
    expect(s.pollTimeout()).toBe(600_000);
    s.handleTimeout(599_999);
    expect(s.metrics(599_999).allocations).toBe(1);
    s.handleTimeout(600_000);
    expect(s.metrics(600_000).allocations).toBe(0);
    expect(drainEvents(s).at(-1)).toMatchObject({ type: 'allocation-freed', reason: 'expired' });
  });
});

describe('permissions, channels and the data path', () => {
  function allocated(): { s: TurnServer; c: SimClient; port: number } {
    const s = newServer();
    const c = new SimClient(s, CLIENT, 'alice', 'secret');
    const port = getAttribute(c.allocate(0), 'XOR-RELAYED-ADDRESS')?.address.port ?? 0;
    drainEvents(s);
    return { s, c, port };
  }

  it('relays ChannelData to the peer and peer data back in ChannelData', () => {
    const { s, c, port } = allocated();
    expect(c.channelBind(0x4000, PEER, 0).cls).toBe('success');
    const f = s.handleClientInput(c.channelData(0x4000, Buffer.from('ping')), CLIENT, 1);
    expect(f).toMatchObject({ toPeer: true, dst: { key: PEER.key }, relayPort: port, relayFamily: 4, start: 4, end: 8 });
    const back = s.handlePeerInput(Buffer.from('pong'), PEER, 4, port, 2);
    expect(back).toMatchObject({ toPeer: false, dst: { key: CLIENT.key }, channel: 0x4000, start: 0, end: 4 });
    const m = s.metrics(3);
    expect([m.packetsClientToPeer, m.bytesClientToPeer, m.packetsPeerToClient, m.bytesPeerToClient, m.channels]).toEqual([1, 4, 1, 4, 1]);
  });

  it('frames peer data in place with writeChannelDataHeader', () => {
    const { s, c, port } = allocated();
    c.channelBind(0x4001, PEER, 0);
    const buf = new Uint8Array(CHANNEL_DATA_HEADER_LENGTH + 3);
    buf.set(Buffer.from('abc'), 4);
    const f = s.handlePeerInput(buf.subarray(4), PEER, 4, port, 1);
    if (!f) throw new Error('dropped');
    writeChannelDataHeader(buf, 0, f.channel, f.end - f.start);
    expect(Buffer.from(buf).toString('hex')).toBe('40010003616263');
  });

  it('refuses peers on loopback and other special addresses with 403', () => {
    const { c } = allocated();
    for (const ip of ['127.0.0.1', '0.0.0.0', '224.0.0.1', '169.254.1.1', '255.255.255.255']) {
      expect(errorCode(c.permit(endpoint(ip, 1000), 0))).toBe(403);
      expect(errorCode(c.channelBind(0x4000, endpoint(ip, 1000), 0))).toBe(403);
    }
    const { c: c6 } = allocated();
    expect(errorCode(c6.permit(endpoint('::1', 1), 0))).toBe(443); // IPv4 allocation: family mismatch first
  });

  it('relays to loopback when explicitly allowed', () => {
    const s = newServer({ allowedPeers: [parseCidr('127.0.0.0/8') ?? { family: 4, bytes: new Uint8Array(4), prefix: 32 }] });
    const c = new SimClient(s, CLIENT, 'alice', 'secret');
    c.allocate(0);
    expect(c.permit(endpoint('127.0.0.1', 1000), 0).cls).toBe('success');
  });

  it('keeps one channel per peer and one peer per channel, also during the 300 s guard', () => {
    const { s, c } = allocated();
    const other = endpoint('203.0.113.11', 40000);
    expect(c.channelBind(0x4000, PEER, 0).cls).toBe('success');
    expect(errorCode(c.channelBind(0x4001, PEER, 0))).toBe(400);
    expect(errorCode(c.channelBind(0x4000, other, 0))).toBe(400);
    expect(c.channelBind(0x4000, PEER, 100_000).cls).toBe('success'); // refresh of the same binding
    c.refresh(3600, 0);
    // Expires at 700 s; reserved until 1000 s.
    s.handleTimeout(700_000);
    expect(s.handleClientInput(c.channelData(0x4000, Buffer.from('x')), CLIENT, 700_001)).toBeUndefined();
    expect(errorCode(c.channelBind(0x4000, other, 900_000))).toBe(400);
    expect(c.channelBind(0x4000, other, 1_000_000).cls).toBe('success');
  });

  it('rejects channel numbers outside 0x4000-0x4FFF', () => {
    const { c } = allocated();
    expect(errorCode(c.channelBind(0x5000, PEER, 0))).toBe(400);
    expect(errorCode(c.channelBind(0x3fff, PEER, 0))).toBe(400);
  });

  it('accepts the RFC 5766 range 0x4000-0x7FFF when configured (coturn clients)', () => {
    const s = newServer({ lastChannel: 0x7fff });
    const c = new SimClient(s, CLIENT, 'alice', 'secret');
    c.allocate(0);
    expect(c.channelBind(0x679a, PEER, 0).cls).toBe('success');
    expect(s.handleClientInput(c.channelData(0x4000, Buffer.from('x')), CLIENT, 1)).toBeUndefined();
    const cd = new Uint8Array([0x67, 0x9a, 0, 1, 0x78]);
    expect(s.handleClientInput(cd, CLIENT, 1)).toMatchObject({ toPeer: true, start: 4, end: 5 });
    expect(errorCode(c.channelBind(0x8000, endpoint('203.0.113.3', 1), 0))).toBe(400);
  });

  it('sends SEND-indication data to permitted peers and wraps their replies in DATA indications', () => {
    const { s, c, port } = allocated();
    const send = encodeMessage({
      method: Method.Send,
      cls: 'indication',
      transactionId: tid(),
      attributes: [{ name: 'XOR-PEER-ADDRESS', address: PEER }, { name: 'DATA', data: Buffer.from('hi') }],
    });
    s.handleClientInput(send, CLIENT, 0);
    expect(s.pollTransmit()).toBeUndefined(); // no permission yet
    c.permit(PEER, 0);
    s.handleClientInput(send, CLIENT, 1);
    const t = s.pollTransmit();
    expect(t?.source).toEqual({ kind: 'relay', family: 4, port });
    expect(t?.dst.key).toBe(PEER.key);
    expect(Buffer.from(t?.payload ?? []).toString()).toBe('hi');
    expect(s.handlePeerInput(Buffer.from('yo'), PEER, 4, port, 2)).toBeUndefined();
    const d = s.pollTransmit();
    const m = decodeMessageOrThrow(d?.payload ?? new Uint8Array());
    expect([m.method, m.cls]).toEqual([Method.Data, 'indication']);
    expect(Buffer.from(getAttribute(m, 'DATA')?.data ?? []).toString()).toBe('yo');
    // Peers without permission are dropped.
    expect(s.handlePeerInput(Buffer.from('no'), endpoint('203.0.113.99', 1), 4, port, 3)).toBeUndefined();
    expect(s.pollTransmit()).toBeUndefined();
  });

  it('expires permissions after 300 s', () => {
    const { s, c, port } = allocated();
    c.permit(PEER, 0);
    s.handleTimeout(300_000);
    expect(s.handlePeerInput(Buffer.from('late'), PEER, 4, port, 300_001)).toBeUndefined();
    expect(s.pollTransmit()).toBeUndefined();
  });

  it('limits permissions per allocation (508)', () => {
    const s = newServer({ maxPermissionsPerAllocation: 2 });
    const c = new SimClient(s, CLIENT, 'alice', 'secret');
    c.allocate(0);
    expect(c.permit(endpoint('203.0.113.1', 1), 0).cls).toBe('success');
    expect(c.permit(endpoint('203.0.113.2', 1), 0).cls).toBe('success');
    expect(errorCode(c.permit(endpoint('203.0.113.3', 1), 0))).toBe(508);
  });
});
