// In-memory behaviour of the sans-IO channel with a fake clock.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Backoff, PhoenixChannelError, reconnectPolicy, type ChannelEvent } from '../../src/index';
import { Harness, seededRng, type Msg } from './harness';

function backoffs(events: ChannelEvent<Msg>[]): number[] {
  return events.flatMap((e) => (e.type === 'hiccup' ? [e.backoffMs] : []));
}

/** Joins, then makes every later connection attempt fail at once. */
function partitioned(h: Harness): void {
  h.autoOpen = false;
  h.core.handleClose(h.core.currentConnection, 1006, '', h.now);
  h.drain();
}
function failPending(h: Harness): void {
  if (h.core.state === 'connecting' && h.socket !== undefined) h.core.handleSocketError(h.socket, new Error('ECONNREFUSED'), h.now);
  h.drain();
}

describe('reconnect backoff after a successful join', () => {
  it('grows from 500 ms by x1.5 up to 60 s (no jitter)', () => {
    const h = new Harness().start();
    partitioned(h);
    for (let i = 0; i < 20; i++) {
      h.advanceTo(h.core.pollTimeout() ?? h.now);
      failPending(h);
    }
    const b = backoffs(h.events);
    expect(b.slice(0, 6)).toEqual([500, 750, 1125, 1688, 2531, 3797]);
    expect(Math.max(...b)).toBe(60_000);
    expect(b.at(-1)).toBe(60_000);
  });

  it('jitters each delay within [0.5, 1.5] of the nominal interval', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 }), (seed) => {
        const b = new Backoff(reconnectPolicy(undefined), 0, seededRng(seed));
        let nominal = 500;
        for (let i = 0; i < 15; i++) {
          const d = b.next(i) ?? -1;
          expect(d).toBeGreaterThanOrEqual(Math.floor(nominal * 0.5));
          expect(d).toBeLessThanOrEqual(Math.ceil(nominal * 1.5));
          nominal = Math.min(nominal * 1.5, 60_000);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('gives up with MAX_RETRIES_REACHED once the max partition time has passed', () => {
    const h = new Harness({ maxPartitionTimeMs: 30_000 }).start();
    partitioned(h);
    for (let i = 0; i < 50 && h.core.state !== 'closed'; i++) {
      h.advanceTo(h.core.pollTimeout() ?? h.now);
      failPending(h);
    }
    expect(h.core.state).toBe('closed');
    const last = h.events.at(-1);
    expect(last).toMatchObject({ type: 'fatal', error: { code: 'MAX_RETRIES_REACHED' } });
    expect(h.now).toBeGreaterThanOrEqual(30_000);
    expect(h.now).toBeLessThan(30_000 + 20_000);
  });

  it('retries forever without a max partition time', () => {
    const h = new Harness().start();
    partitioned(h);
    for (let i = 0; i < 200; i++) {
      h.advanceTo(h.core.pollTimeout() ?? h.now);
      failPending(h);
    }
    expect(h.core.state).toBe('waiting');
    expect(h.now).toBeGreaterThan(3_600_000);
  });

  it('a successful join resets the backoff', () => {
    const h = new Harness().start();
    partitioned(h);
    for (let i = 0; i < 5; i++) {
      h.advanceTo(h.core.pollTimeout() ?? h.now);
      failPending(h);
    }
    h.autoOpen = true;
    h.advanceTo(h.core.pollTimeout() ?? h.now);
    expect(h.core.state).toBe('joined');
    h.takeEvents();
    h.core.handleClose(h.core.currentConnection, 1006, '', h.now);
    h.drain();
    expect(backoffs(h.events)).toEqual([500]);
  });

  it('connect() reconnects at once and resets the backoff', () => {
    const h = new Harness().start();
    partitioned(h);
    for (let i = 0; i < 8; i++) {
      h.advanceTo(h.core.pollTimeout() ?? h.now);
      failPending(h);
    }
    const opens = h.opens;
    h.takeEvents();
    h.core.connect(h.now);
    h.drain();
    expect(h.opens).toBe(opens + 1);
    failPending(h);
    expect(backoffs(h.events)).toEqual([500]);
  });
});

describe('connection lifecycle', () => {
  it('joins the relay topic with its stamp secret as the first frame', () => {
    const h = new Harness({ topic: 'relay', joinPayload: { stamp_secret: 'ab'.repeat(32) } }).start();
    expect(h.allSent[0]).toBe(`{"topic":"relay","event":"phx_join","payload":{"stamp_secret":"${'ab'.repeat(32)}"},"ref":0}`);
    expect(h.events[0]).toEqual({ type: 'joined', response: {} });
  });

  it('times out a socket that never opens', () => {
    const h = new Harness({ connectTimeoutMs: 3000 });
    h.autoOpen = false;
    h.start();
    h.advance(3000);
    expect(h.events).toMatchObject([{ type: 'hiccup', error: { code: 'CONNECT_TIMEOUT' }, backoffMs: 1000 }]);
    expect(h.closes).toBe(1);
  });

  it('ignores inputs from an old socket', () => {
    const h = new Harness().start();
    const old = h.core.currentConnection;
    h.core.handleClose(old, 1006, '', h.now);
    h.drain();
    h.advance(1000);
    expect(h.core.state).toBe('joined');
    h.takeEvents();
    h.core.handleText(old, '{"topic":"client","event":"phx_close","payload":{},"ref":null}', h.now);
    h.core.handleClose(old, 1000, '', h.now);
    h.core.handleSocketError(old, new Error('late'), h.now);
    h.drain();
    expect(h.events).toEqual([]);
    expect(h.core.state).toBe('joined');
  });

  it('drops held messages on a reconnect and restarts refs at 0', () => {
    const h = new Harness();
    h.autoJoin = false;
    h.start();
    h.core.send('stale', { x: 1 });
    h.advance(5000); // join timeout
    h.autoJoin = true;
    h.advance(1000);
    expect(h.core.state).toBe('joined');
    expect(h.sentEvents()).toEqual(['phx_join']);
    expect(JSON.parse(h.sent[0] ?? '{}')).toMatchObject({ ref: 0 });
  });

  it('re-joins when the portal answers "unmatched topic" on the login topic', () => {
    const h = new Harness().start();
    h.takeEvents();
    h.serverSend({ event: 'phx_reply', ref: 12, topic: 'client', payload: { status: 'error', response: { reason: 'unmatched topic' } } });
    expect(h.sentEvents()).toEqual(['phx_join', 'phx_join']);
    expect(h.events).toEqual([{ type: 'joined', response: {} }]);
  });

  it('close() stops without an event and refuses sends', () => {
    const h = new Harness().start();
    h.takeEvents();
    h.core.close();
    h.drain();
    expect(h.closes).toBe(1);
    expect(h.events).toEqual([]);
    expect(h.core.pollTimeout()).toBeUndefined();
    const r = h.core.send('x');
    expect(r instanceof PhoenixChannelError && r.code).toBe('NOT_CONNECTED');
  });
});

describe('request / reply correlation', () => {
  it('surfaces the phx_reply of a request with its ref and status', () => {
    const h = new Harness().start();
    h.takeEvents();
    const ref = h.core.request('request_authorization', { resource_id: 'r1', connected_gateway_ids: [] });
    expect(ref).toBe(1);
    h.drain();
    h.serverSend({ event: 'phx_reply', ref: 1, topic: 'client', payload: { status: 'error', response: { reason: 'offline' } } });
    expect(h.events).toEqual([{ type: 'reply', ref: 1, topic: 'client', status: 'error', response: { reason: 'offline' } }]);
  });

  it('does not surface replies to plain sends or heartbeats, and flags replies to refs never issued', () => {
    const h = new Harness().start();
    h.takeEvents();
    h.core.send('no_relays', {});
    h.advance(10_000);
    const hb = JSON.parse(h.sent.at(-1) ?? '{}') as { ref: number };
    h.serverSend({ event: 'phx_reply', ref: hb.ref, topic: 'phoenix', payload: { status: 'ok', response: {} } });
    expect(h.events).toEqual([]);
    h.serverSend({ event: 'phx_reply', ref: 1, topic: 'client', payload: { status: 'ok', response: {} } });
    expect(h.events).toEqual([]);
    h.serverSend({ event: 'phx_reply', ref: 999, topic: 'client', payload: { status: 'ok', response: {} } });
    expect(h.events).toMatchObject([{ type: 'skipped', error: { code: 'UNMATCHED_REPLY' } }]);
  });

  it('heartbeats answered in time keep the connection up for an hour', () => {
    const h = new Harness().start();
    for (let t = 0; t < 360; t++) {
      h.advance(10_000);
      for (const s of h.sent.splice(0)) {
        const f = JSON.parse(s) as { event: string; ref: number };
        if (f.event === 'heartbeat') h.serverSend({ event: 'phx_reply', ref: f.ref, topic: 'phoenix', payload: { status: 'ok', response: {} } });
      }
    }
    expect(h.core.state).toBe('joined');
    expect(h.core.stats.heartbeatsSent).toBe(360);
    expect(h.opens).toBe(1);
  });
});

describe('garbage never kills the channel (property)', () => {
  it('any sequence of text frames leaves the channel joined or reconnecting, never throwing', () => {
    const frame = fc.oneof(
      fc.string(),
      fc.json(),
      fc.record({ topic: fc.constantFrom('client', 'phoenix', 'x'), event: fc.constantFrom('phx_reply', 'phx_error', 'foo', 'unknown_thing', 'init', 'disconnect'), payload: fc.jsonValue(), ref: fc.oneof(fc.constant(null), fc.nat(10), fc.string()) }).map((o) => JSON.stringify(o)),
    );
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 30 }), (frames) => {
        const h = new Harness().start();
        for (const f of frames) if (h.socket !== undefined && h.core.state === 'joined') h.serverSend(f);
        const fatal = h.events.find((e) => e.type === 'fatal');
        if (fatal?.type === 'fatal') expect(fatal.error.code).toBe('INVALID_TOKEN'); // only a real token_expired
        expect(['joined', 'waiting', 'closed']).toContain(h.core.state);
      }),
      { numRuns: 300 },
    );
  });
});
