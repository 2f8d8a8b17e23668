import { describe, expect, it } from 'vitest';
import { DnsTcpDecoder, encodeTcpFrame, StubResolver, mapSentinels } from '../../src/index';
import { decode, query, SENTINEL } from '../support/dns';

describe('DNS over TCP framing', () => {
  it('reassembles messages split at every byte and several in one chunk', () => {
    const m1 = query('a.example', 'A', 1);
    const m2 = query('b.example', 'AAAA', 2);
    const f1 = encodeTcpFrame(m1);
    const f2 = encodeTcpFrame(m2);
    if (!f1 || !f2) throw new Error('frame');
    const stream = new Uint8Array([...f1, ...f2]);
    const d = new DnsTcpDecoder();
    const got: Uint8Array[] = [];
    for (const byte of stream) got.push(...d.push(new Uint8Array([byte])));
    expect(got).toEqual([m1, m2]);
    expect(d.pendingBytes).toBe(0);
    expect(new DnsTcpDecoder().push(stream)).toEqual([m1, m2]);
  });

  it('refuses to frame messages over 65535 bytes', () => {
    expect(encodeTcpFrame(new Uint8Array(65536))).toBeUndefined();
    expect(encodeTcpFrame(new Uint8Array(65535))?.byteLength).toBe(65537);
  });

  it('serves a TCP query through the stub resolver', () => {
    const s = new StubResolver({ sentinels: mapSentinels({ system: ['1.1.1.1'] }) });
    s.addResource({ id: 'r', address: 'app.corp', ipStack: 'dual' });
    const d = new DnsTcpDecoder();
    const frame = encodeTcpFrame(query('app.corp', 'AAAA'));
    if (!frame) throw new Error('frame');
    const [msg] = d.push(frame);
    if (!msg) throw new Error('no message');
    const action = s.handleQuery(msg, SENTINEL, 0);
    if (action.kind !== 'respond') throw new Error(action.kind);
    const reply = encodeTcpFrame(action.response);
    if (!reply) throw new Error('frame');
    expect(decode(reply.subarray(2)).answers).toHaveLength(4);
  });
});
