// The channel is generic over the message type: a @postern/model topic parser, a zod schema or a function.
import { parseClientIngress } from '@postern/model';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PhoenixChannelCore, type ChannelEvent } from '../../src/index';
import { noJitter } from '../sim/harness';

function joined<T>(core: PhoenixChannelCore<T>): ChannelEvent<T>[] {
  core.connect(0);
  core.handleOpen(core.currentConnection, 0);
  core.handleText(core.currentConnection, '{"event":"phx_reply","ref":0,"topic":"client","payload":{"status":"ok","response":{}}}', 0);
  const out: ChannelEvent<T>[] = [];
  for (let e = core.pollEvent(); e; e = core.pollEvent()) out.push(e);
  return out;
}
function feed<T>(core: PhoenixChannelCore<T>, frame: unknown): ChannelEvent<T>[] {
  core.handleText(core.currentConnection, JSON.stringify(frame), 0);
  const out: ChannelEvent<T>[] = [];
  for (let e = core.pollEvent(); e; e = core.pollEvent()) out.push(e);
  return out;
}

describe('inbound decoders', () => {
  it('takes a @postern/model topic parser as is (message, unknown event, invalid payload)', () => {
    const core = new PhoenixChannelCore({ topic: 'client', joinPayload: null, decode: parseClientIngress, rng: noJitter });
    expect(joined(core)).toMatchObject([{ type: 'joined' }]);
    const ok = feed(core, { event: 'relays_presence', ref: null, topic: 'client', payload: { disconnected_ids: [], connected: [] } });
    expect(ok).toMatchObject([{ type: 'message', event: 'relays_presence', message: { event: 'relays_presence' } }]);
    expect(feed(core, { event: 'brand_new_event', ref: null, topic: 'client', payload: {} })).toMatchObject([{ type: 'skipped', error: { code: 'UNKNOWN_EVENT' } }]);
    expect(feed(core, { event: 'resource_deleted', ref: null, topic: 'client', payload: { nope: 1 } })).toMatchObject([{ type: 'skipped', error: { code: 'INVALID_PAYLOAD' } }]);
    expect(core.state).toBe('joined');
  });

  it('takes a zod schema of {event, payload}', () => {
    const Schema = z.discriminatedUnion('event', [
      z.object({ event: z.literal('init'), payload: z.object({ relays: z.array(z.unknown()) }) }),
      z.object({ event: z.literal('resource_deleted'), payload: z.string() }),
    ]);
    const core = new PhoenixChannelCore({ topic: 'client', joinPayload: null, decode: Schema, rng: noJitter });
    joined(core);
    const [e] = feed(core, { topic: 'client', event: 'resource_deleted', payload: 'r-1', ref: null });
    expect(e?.type === 'message' && e.message).toEqual({ event: 'resource_deleted', payload: 'r-1' });
    expect(feed(core, { topic: 'client', event: 'init', payload: {}, ref: null })).toMatchObject([{ type: 'skipped', error: { code: 'INVALID_PAYLOAD' } }]);
  });
});
