// The ws shell against a real websocket server on 127.0.0.1 that misbehaves.
import { Writable } from 'node:stream';
import { registerSecret, writeLog } from '@postern/testing';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { PhoenixChannel, PhoenixChannelError, type ChannelEvent, type InboundFrame } from '../../src/index';
import { MisbehavingPortal, push, reply, wellBehaved, type Attempt } from './misbehaving-portal';

const TOKEN = 'secret-token-value-1234';
// the channel's trace log of every test is kept for check-secrets too (tests also assert on it directly)
registerSecret(TOKEN, 'phoenix-channel shell e2e token');
type Msg = { event: string; payload: unknown };
const decode = (f: InboundFrame): { ok: true; value: Msg } | { ok: false; error: unknown } =>
  f.event === 'init' || f.event === 'hello' ? { ok: true, value: { event: f.event, payload: f.payload } } : { ok: false, error: new Error(`unknown event ${f.event}`) };

let portal: MisbehavingPortal | undefined;
let channel: PhoenixChannel<Msg> | undefined;
let logLines: string[] = [];

afterEach(async () => {
  await channel?.close();
  await portal?.close();
  writeLog('phoenix-channel', 'shell-e2e-channel', logLines.join(''));
  channel = undefined;
  portal = undefined;
});

async function setup(script: (attempt: number) => Attempt, opts: { joinTimeoutMs?: number; heartbeatIntervalMs?: number; connectTimeoutMs?: number } = {}): Promise<{ ch: PhoenixChannel<Msg>; p: MisbehavingPortal; events: ChannelEvent<Msg>[] }> {
  const p = await new MisbehavingPortal(script).listen();
  portal = p;
  logLines = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb): void {
      logLines.push(chunk.toString());
      cb();
    },
  });
  const ch = new PhoenixChannel<Msg>({
    url: new URL(p.url),
    token: TOKEN,
    userAgent: 'Debian/12 headless-client/0.1.0 (x86_64; 6.1.0)',
    topic: 'client',
    joinPayload: null,
    decode,
    logger: pino({ level: 'trace' }, sink),
    ...opts,
  });
  channel = ch;
  const events: ChannelEvent<Msg>[] = [];
  ch.onEvent((e) => events.push(e));
  ch.start();
  return { ch, p, events };
}

function waitFor<T>(fn: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      const v = fn();
      if (v !== undefined && v !== false) resolve(v);
      else if (Date.now() - start > timeoutMs) reject(new Error('timed out waiting'));
      else setTimeout(tick, 10);
    };
    tick();
  });
}
const count = (events: ChannelEvent<Msg>[], type: string): number => events.filter((e) => e.type === type).length;

describe('PhoenixChannel over a real websocket', () => {
  it('sends the token in X-Authorization and the User-Agent, joins, gets init, correlates a request', async () => {
    const { ch, p, events } = await setup(() => wellBehaved());
    await waitFor(() => events.find((e) => e.type === 'message'));
    expect(p.upgrades[0]?.headers['x-authorization']).toBe(`Bearer ${TOKEN}`);
    expect(p.upgrades[0]?.headers['user-agent']).toBe('Debian/12 headless-client/0.1.0 (x86_64; 6.1.0)');
    expect(p.upgrades[0]?.url).toBe('/client/v2/websocket?external_id=abc&name=test');
    expect(p.received[0]).toEqual({ topic: 'client', event: 'phx_join', payload: null, ref: 0 });
    expect(events.map((e) => e.type).slice(0, 2)).toEqual(['joined', 'message']);
    const r = await ch.request('echo', { a: 1 });
    expect(r).toEqual({ ref: 1, topic: 'client', status: 'ok', response: { a: 1 } });
    expect(logLines.join('')).not.toContain(TOKEN);
  });

  it('reconnects when the server drops the connection, and works again', async () => {
    const { ch, p, events } = await setup((n) =>
      n === 0 ? wellBehaved((ws, f) => (f.event === 'phx_join' ? (reply(ws, f, {}), setTimeout(() => { ws.terminate(); }, 50), true) : false)) : wellBehaved(),
    );
    await waitFor(() => count(events, 'joined') === 2 || undefined);
    expect(count(events, 'hiccup')).toBe(1);
    expect(p.upgrades).toHaveLength(2);
    expect((await ch.request('echo', 'x')).response).toBe('x');
  });

  it('reconnects when the join reply is delayed past the join timeout', async () => {
    const { p, events } = await setup((n) => (n === 0 ? wellBehaved((ws, f) => (f.event === 'phx_join' ? (setTimeout(() => { reply(ws, f, {}); }, 1000), true) : false)) : wellBehaved()), { joinTimeoutMs: 300 });
    await waitFor(() => count(events, 'joined') === 1 || undefined);
    expect(events[0]).toMatchObject({ type: 'hiccup', error: { code: 'JOIN_TIMEOUT' } });
    expect(p.upgrades).toHaveLength(2);
  });

  it('reconnects on phx_close', async () => {
    const { events } = await setup((n) => (n === 0 ? wellBehaved((ws, f) => (f.event === 'phx_join' ? (reply(ws, f, {}), push(ws, 'client', 'phx_close', {}), true) : false)) : wellBehaved()));
    await waitFor(() => count(events, 'joined') === 2 || undefined);
    expect(events.find((e) => e.type === 'hiccup')).toMatchObject({ error: { code: 'PORTAL_CLOSED' } });
  });

  it('reconnects after unanswered heartbeats', async () => {
    const { p, events } = await setup((n) => (n === 0 ? wellBehaved((_ws, f) => f.event === 'heartbeat') : wellBehaved()), { heartbeatIntervalMs: 100 });
    await waitFor(() => count(events, 'joined') === 2 || undefined);
    expect(events.find((e) => e.type === 'hiccup')).toMatchObject({ error: { code: 'HEARTBEAT_TIMEOUT' } });
    expect(p.received.filter((f) => f.event === 'heartbeat').length).toBeGreaterThanOrEqual(4);
  });

  it('stops with sign-in required on 401 invalid_token, without retrying', async () => {
    const body = JSON.stringify({ title: 'Unauthorized', status: 401, detail: 'Invalid token', code: 'invalid_token' });
    const { ch, p } = await setup(() => ({ kind: 'http', status: 401, headers: { 'content-type': 'application/problem+json; charset=utf-8' }, body }));
    const err = await ch.done;
    expect(err).toBeInstanceOf(PhoenixChannelError);
    expect(err?.code).toBe('INVALID_TOKEN');
    expect(err?.requiresSignIn).toBe(true);
    await new Promise((r) => setTimeout(r, 1200));
    expect(p.upgrades).toHaveLength(1);
    expect(logLines.join('')).not.toContain(TOKEN);
  });

  it.each([429, 503])('honours Retry-After on HTTP %i', async (status) => {
    const { p, events } = await setup((n) => (n === 0 ? { kind: 'http', status, headers: { 'retry-after': '2' } } : wellBehaved()));
    await waitFor(() => count(events, 'joined') === 1 || undefined, 6000);
    expect(events[0]).toMatchObject({ type: 'hiccup', backoffMs: 2000, error: { code: 'HTTP_STATUS' } });
    const gap = (p.upgrades[1]?.at ?? 0) - (p.upgrades[0]?.at ?? 0);
    expect(gap).toBeGreaterThanOrEqual(1900);
  });

  it('skips garbage and unknown events, counting them, and keeps the connection', async () => {
    const { ch, events } = await setup(() =>
      wellBehaved((ws, f) => {
        if (f.event !== 'phx_join') return false;
        reply(ws, f, {});
        ws.send('garbage{{{');
        ws.send(Buffer.from([1, 2, 3]), { binary: true });
        ws.send(JSON.stringify({ nope: true }));
        push(ws, 'client', 'surprise_event', { x: 1 });
        push(ws, 'client', 'hello', { ok: true });
        return true;
      }),
    );
    await waitFor(() => events.find((e) => e.type === 'message'));
    expect(events.flatMap((e) => (e.type === 'skipped' ? [e.error.code] : []))).toEqual(['GARBAGE_FRAME', 'GARBAGE_FRAME', 'UNKNOWN_EVENT']);
    expect(ch.stats.garbageFrames).toBe(2);
    expect(ch.state).toBe('joined');
  });

  it('times out an upgrade that never completes and tries again', async () => {
    const { events } = await setup((n) => (n === 0 ? { kind: 'hang' } : wellBehaved()), { connectTimeoutMs: 300 });
    await waitFor(() => count(events, 'joined') === 1 || undefined);
    expect(events[0]).toMatchObject({ type: 'hiccup', error: { code: 'CONNECT_TIMEOUT' } });
  });

  it('rejects a pending request when the connection drops, and reports NOT_CONNECTED while down', async () => {
    const { ch, events } = await setup((n) => (n === 0 ? wellBehaved((ws, f) => (f.event === 'echo' ? (ws.terminate(), true) : false)) : wellBehaved()));
    await waitFor(() => count(events, 'joined') === 1 || undefined);
    await expect(ch.request('echo', 1)).rejects.toMatchObject({ code: 'REQUEST_ABORTED' });
    const r = ch.send('x');
    expect(r instanceof PhoenixChannelError && r.code).toBe('NOT_CONNECTED');
    await waitFor(() => count(events, 'joined') === 2 || undefined);
  });
});
