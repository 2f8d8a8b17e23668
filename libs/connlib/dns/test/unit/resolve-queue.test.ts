import { describe, expect, it } from 'vitest';
import { ResolveQueue, type ResolveEvent } from '../../src/index';

function events(q: ResolveQueue): ResolveEvent[] {
  const out: ResolveEvent[] = [];
  for (let e = q.pollEvent(); e; e = q.pollEvent()) out.push(e);
  return out;
}

describe('ResolveQueue', () => {
  it('bounds concurrency and coalesces asks for the same name', () => {
    const q = new ResolveQueue({ maxConcurrent: 2 });
    const t1 = q.resolve('a.corp', 0);
    const t2 = q.resolve('A.corp.', 0);
    q.resolve('b.corp', 0);
    q.resolve('c.corp', 0);
    const r1 = q.pollRequest(0);
    const r2 = q.pollRequest(0);
    expect([r1?.name, r2?.name]).toEqual(['a.corp', 'b.corp']);
    expect(q.pollRequest(0)).toBeUndefined();
    if (!r1) throw new Error('no request');
    q.handleResult(r1.requestId, { kind: 'ok', ips: ['10.0.0.1'] }, 5);
    expect(events(q)).toEqual([{ kind: 'resolved', name: 'a.corp', ips: ['10.0.0.1'], tickets: [t1, t2] }]);
    expect(q.pollRequest(5)?.name).toBe('c.corp');
  });

  it('fails requests after 10 s and ignores late answers', () => {
    const q = new ResolveQueue();
    const t = q.resolve('slow.corp', 0);
    const r = q.pollRequest(0);
    if (!r) throw new Error('no request');
    expect(q.pollTimeout()).toBe(10_000);
    q.handleTimeout(9_999);
    expect(events(q)).toEqual([]);
    q.handleTimeout(10_000);
    expect(events(q)).toEqual([{ kind: 'failed', name: 'slow.corp', reason: 'timeout', tickets: [t] }]);
    q.handleResult(r.requestId, { kind: 'ok', ips: ['10.0.0.1'] }, 10_001);
    expect(events(q)).toEqual([]);
    expect(q.inFlightCount).toBe(0);
  });

  it('serves cached results until they expire and reports errors', () => {
    const q = new ResolveQueue({ cacheTtlMs: 1000 });
    q.resolve('a.corp', 0);
    const r = q.pollRequest(0);
    if (!r) throw new Error('no request');
    q.handleResult(r.requestId, { kind: 'ok', ips: ['10.0.0.1'] }, 0);
    events(q);
    const t = q.resolve('a.corp', 999);
    expect(events(q)).toEqual([{ kind: 'resolved', name: 'a.corp', ips: ['10.0.0.1'], tickets: [t] }]);
    q.resolve('a.corp', 1000);
    const again = q.pollRequest(1000);
    if (!again) throw new Error('expected a new request after expiry');
    q.handleResult(again.requestId, { kind: 'error', reason: 'NXDOMAIN' }, 1001);
    expect(events(q)).toMatchObject([{ kind: 'failed', reason: 'error', detail: 'NXDOMAIN' }]);
  });

  it('refuses asks beyond the pending limit', () => {
    const q = new ResolveQueue({ maxPending: 1 });
    q.resolve('a', 0);
    q.resolve('b', 0);
    expect(events(q)).toMatchObject([{ kind: 'failed', name: 'b', reason: 'overloaded' }]);
  });
});
