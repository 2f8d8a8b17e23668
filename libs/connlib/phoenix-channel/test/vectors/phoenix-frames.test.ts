// Firezone's Phoenix frame vectors (test/fixtures/phoenix-frames.json, Apache-2.0, from firezone/firezone rust/).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { displayErrorReason, errorReason, parseFrame, parseReplyPayload, PhoenixChannelError, serializeFrame } from '../../src/index';
import { Harness } from '../sim/harness';

interface Case {
  id: string;
  kind: string;
  direction?: string;
  json?: Record<string, unknown>;
  raw?: string;
  exact_string?: boolean;
  asserts?: Record<string, unknown>;
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/phoenix-frames.json', import.meta.url), 'utf8')) as { cases: Case[] };
const byId = (id: string): Case => {
  const c = fixture.cases.find((x) => x.id === id);
  if (!c) throw new Error(`no case ${id}`);
  return c;
};
const frames = fixture.cases.filter((c) => c.kind === 'frame');

describe('Phoenix frames (fixture)', () => {
  it.each(frames.filter((c) => c.direction === 'portal->client').map((c) => [c.id, c] as const))('parses inbound frame %s', (_id, c) => {
    const f = parseFrame(c.raw ?? JSON.stringify(c.json));
    if (f instanceof PhoenixChannelError) throw f;
    expect(f.topic).toBe(c.json?.['topic']);
    expect(f.event).toBe(c.json?.['event']);
    const ref = c.json?.['ref'];
    expect(f.ref).toBe(ref === undefined || ref === null ? null : Number(ref));
  });

  it.each(frames.filter((c) => c.direction === 'client->portal' && c.exact_string).map((c) => [c.id, c] as const))('serialises outbound frame %s byte for byte', (_id, c) => {
    const j = c.json ?? {};
    expect(serializeFrame(String(j['topic']), String(j['event']), j['payload'], Number(j['ref']))).toBe(c.raw);
  });

  it('inbound_custom_event_with_join_ref: join_ref is ignored and the payload reaches the decoder', () => {
    const h = new Harness({ topic: 'room:lobby' }).start();
    h.serverSend(byId('inbound_custom_event_with_join_ref').json);
    const m = h.events.find((e) => e.type === 'message');
    expect(m).toMatchObject({ type: 'message', topic: 'room:lobby', ref: null, message: { event: 'shout', payload: { hello: 'world' } } });
  });

  it.each([
    ['reply_error_unmatched_topic', 'unmatched topic', 'unmatched topic'],
    ['reply_error_unknown_reason', 'bad reply', 'other'],
    ['reply_error_invalid_version', 'invalid_version', 'invalid version'],
    ['reply_error_disabled_full_frame', 'disabled', 'disabled'],
  ])('%s: error reply reason %j displays as %j', (id, raw, shown) => {
    const f = parseFrame(JSON.stringify(byId(id).json));
    if (f instanceof PhoenixChannelError) throw f;
    const r = parseReplyPayload(f.payload);
    expect(r?.status).toBe('error');
    expect(errorReason(r?.response)).toBe(raw);
    expect(displayErrorReason(errorReason(r?.response))).toBe(shown);
  });

  it('reply_error_disabled_full_frame: a reply with ref null is discarded', () => {
    const h = new Harness().start();
    h.takeEvents();
    h.serverSend(byId('reply_error_disabled_full_frame').json);
    expect(h.events).toMatchObject([{ type: 'skipped', error: { code: 'UNMATCHED_REPLY' } }]);
    expect(h.core.state).toBe('joined');
  });

  it('close: phx_close reconnects', () => {
    const h = new Harness().start();
    h.serverSend(byId('close').json);
    expect(h.events.at(-1)).toMatchObject({ type: 'hiccup', error: { code: 'PORTAL_CLOSED' } });
    h.advance(2000);
    expect(h.opens).toBe(2);
  });

  it('disconnect_token_expired: fatal, sign-in required', () => {
    const h = new Harness().start();
    h.serverSend(byId('disconnect_token_expired').json);
    const last = h.events.at(-1);
    expect(last?.type).toBe('fatal');
    expect(last?.type === 'fatal' && last.error.requiresSignIn).toBe(true);
    expect(h.core.state).toBe('closed');
  });

  it('join_request / join_reply_ok / outbound_unit_event: join first, hold messages, then ref 1', () => {
    const h = new Harness({ topic: 'test' });
    h.autoJoin = false;
    h.start();
    expect(h.sent).toEqual([byId('join_request').raw]);
    expect(h.core.send('bar')).toBe(1);
    h.drain();
    expect(h.sent).toHaveLength(1); // no_pipelining_before_join_reply
    h.serverSend(byId('join_reply_ok').raw);
    h.drain();
    expect(h.sent).toEqual([byId('join_request').raw, byId('outbound_unit_event').raw]);
    h.serverSend(byId('inbound_event_without_ref').raw);
    expect(h.events.at(-1)).toMatchObject({ type: 'message', event: 'foo', ref: null });
  });

  it('heartbeat_ref_1..4 / heartbeat_reply_wrong_ref: four unanswered heartbeats, then the hiccup', () => {
    const h = new Harness({ topic: 'test' }).start();
    h.advance(40_000);
    h.serverSend(byId('heartbeat_reply_wrong_ref').raw);
    const hb = h.sent.filter((s) => s.includes('heartbeat'));
    expect(hb).toEqual(['heartbeat_ref_1', 'heartbeat_ref_2', 'heartbeat_ref_3', 'heartbeat_ref_4'].map((id) => byId(id).raw));
    h.advance(10_000);
    const hiccup = h.events.find((e) => e.type === 'hiccup');
    expect(hiccup?.type === 'hiccup' && hiccup.error.message).toBe(byId('heartbeat_reply_wrong_ref').asserts?.['hiccup_error']);
  });

  it('heartbeat_reply_template: with answered heartbeats and a message every 3 s, 2 heartbeats in 25 s', () => {
    const h = new Harness({ topic: 'test' }).start();
    let heartbeats = 0;
    for (let t = 0; t < 25_000; t += 1000) {
      h.advance(1000);
      if (t % 3000 === 0) h.core.send('bar', { t });
      h.drain();
      for (const s of h.sent.splice(0)) {
        const f = JSON.parse(s) as { event: string; ref: number; topic: string };
        if (f.event === 'heartbeat') {
          heartbeats++;
          h.serverSend(JSON.stringify(byId('heartbeat_reply_template').json).replace('"ref":0', `"ref":${f.ref}`));
        } else if (f.event === 'bar') {
          h.serverSend({ event: 'foo', ref: f.ref, topic: f.topic, payload: null });
        }
      }
    }
    expect(heartbeats).toBe(byId('heartbeat_reply_template').asserts?.['heartbeats_in_25s']);
    expect(h.core.state).toBe('joined');
    expect(h.events.filter((e) => e.type === 'message')).toHaveLength(9);
  });

  it('dedup_identical_pending_messages: four identical sends before the flush go out once', () => {
    const h = new Harness({ topic: 'test' });
    h.autoJoin = false;
    h.start();
    const refs = [1, 2, 3, 4].map(() => h.core.send('bar', { same: true }));
    expect(new Set(refs)).toEqual(new Set([1]));
    h.serverSend({ event: 'phx_reply', ref: 0, topic: 'test', payload: { status: 'ok', response: {} } });
    h.drain();
    expect(h.sentEvents()).toEqual(['phx_join', 'bar']);
  });

  it('send_while_disconnected_fails: NOT_CONNECTED, and nothing is replayed later', () => {
    const h = new Harness({ topic: 'test' });
    const r = h.core.send('bar');
    expect(r instanceof PhoenixChannelError && r.code).toBe('NOT_CONNECTED');
    h.start();
    expect(h.core.send('baz')).toBe(1);
    h.drain();
    expect(h.sentEvents()).toEqual(['phx_join', 'baz']);
  });

  it('server_close_frame: an empty close frame is a hiccup with Firezone\'s text', () => {
    const h = new Harness().start();
    h.core.handleClose(h.core.currentConnection, 1005, '', h.now);
    h.drain();
    const e = h.events.at(-1);
    expect(e?.type === 'hiccup' && `Connection hiccup: ${e.error.message}`).toBe(byId('server_close_frame').asserts?.['hiccup_error']);
  });

  it('join_timeout: no join reply in 5 s reconnects with "room join timed out"', () => {
    const h = new Harness();
    h.autoJoin = false;
    h.start();
    h.advance(4999);
    expect(h.events).toEqual([]);
    h.advance(1);
    expect(h.events).toMatchObject([{ type: 'hiccup', error: { code: 'JOIN_TIMEOUT', message: 'room join timed out' } }]);
    expect(h.closes).toBe(1);
  });

  it('reply_handling_matrix: phx_error and undecodable frames are skipped, never fatal', () => {
    const h = new Harness().start();
    h.takeEvents();
    h.serverSend({ topic: 'client', event: 'phx_error', payload: {}, ref: null });
    h.serverSend('{not json');
    h.serverSend({ topic: 'client', event: 'unknown_thing', payload: {}, ref: null });
    h.serverSend({ topic: 'client', event: 'phx_reply', ref: 7, payload: { status: 'ok', response: null } });
    expect(h.eventTypes()).toEqual(['skipped', 'skipped', 'skipped', 'skipped']);
    expect(h.core.stats.garbageFrames).toBe(1);
    expect(h.core.stats.skippedMessages).toBe(3);
    expect(h.core.state).toBe('joined');
  });

  it('error_reply_display: a failed join is LoginFailed with Firezone\'s message', () => {
    const h = new Harness();
    h.autoJoin = false;
    h.start();
    h.serverSend({ event: 'phx_reply', ref: 0, topic: 'client', payload: { status: 'error', response: { reason: 'invalid_version' } } });
    expect(h.events).toMatchObject([{ type: 'fatal', error: { code: 'LOGIN_FAILED', message: 'Failed to login with portal: invalid version' } }]);
  });
});
