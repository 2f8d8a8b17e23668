import { describe, expect, it } from 'vitest';
import { closeOnFailure, EarlyPortal, type PortalChannel, type PortalChannelEvent } from '../../src';

type Ev = PortalChannelEvent<string>;

/** A channel whose events the test emits by hand; records what is sent. */
class FakeChannel implements PortalChannel<string> {
  readonly sent: [string, unknown][] = [];
  private readonly listeners = new Set<(e: Ev) => void>();
  onEvent(listener: (e: Ev) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  send(event: string, payload?: unknown): unknown {
    this.sent.push([event, payload]);
    return 1;
  }
  emit(e: Ev): void {
    for (const l of this.listeners) l(e);
  }
  get subscribers(): number {
    return this.listeners.size;
  }
}

const msg = (m: string): Ev => ({ type: 'message', message: m });
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('EarlyPortal', () => {
  it('holds events until the first subscriber and replays them in order after its synchronous set-up', async () => {
    const ch = new FakeChannel();
    const early = new EarlyPortal(ch);
    ch.emit({ type: 'joined' });
    ch.emit(msg('init'));
    const seen: string[] = [];
    early.onEvent((e) => seen.push(e.message ?? e.type));
    // Not during onEvent: Tunnel.start() subscribes first and sets up its pumps afterwards.
    expect(seen).toEqual([]);
    ch.emit(msg('resource_created_or_updated'));
    await flush();
    expect(seen).toEqual(['joined', 'init', 'resource_created_or_updated']);
    ch.emit(msg('later'));
    expect(seen).toEqual(['joined', 'init', 'resource_created_or_updated', 'later']);
    expect(early.stats).toEqual({ replayed: 3, dropped: 0 });
  });

  it('delivers events a listener causes during the replay after the held ones', async () => {
    const ch = new FakeChannel();
    const early = new EarlyPortal(ch);
    ch.emit(msg('a'));
    ch.emit(msg('b'));
    const seen: string[] = [];
    early.onEvent((e) => {
      seen.push(e.message ?? e.type);
      if (e.message === 'a') ch.emit(msg('caused-by-a'));
    });
    await flush();
    expect(seen).toEqual(['a', 'b', 'caused-by-a']);
  });

  it('forwards live events at once when nothing was held, and sends through the channel', async () => {
    const ch = new FakeChannel();
    const early = new EarlyPortal(ch);
    const seen: string[] = [];
    early.onEvent((e) => seen.push(e.message ?? e.type));
    await flush();
    ch.emit(msg('x'));
    expect(seen).toEqual(['x']);
    expect(early.send('request_connection', { id: 1 })).toBe(1);
    expect(ch.sent).toEqual([['request_connection', { id: 1 }]]);
  });

  it('keeps at most `limit` held events (the newest) and counts the dropped ones', async () => {
    const ch = new FakeChannel();
    const early = new EarlyPortal(ch, 2);
    for (const m of ['1', '2', '3', '4']) ch.emit(msg(m));
    const seen: string[] = [];
    early.onEvent((e) => seen.push(e.message ?? e.type));
    await flush();
    expect(seen).toEqual(['3', '4']);
    expect(early.stats).toEqual({ replayed: 2, dropped: 2 });
  });

  it('stops delivering after unsubscribe and after detach', async () => {
    const ch = new FakeChannel();
    const early = new EarlyPortal(ch);
    const seen: string[] = [];
    const off = early.onEvent((e) => seen.push(e.message ?? e.type));
    await flush();
    ch.emit(msg('1'));
    off();
    ch.emit(msg('2'));
    expect(seen).toEqual(['1']);
    expect(ch.subscribers).toBe(1);
    early.detach();
    expect(ch.subscribers).toBe(0);
  });
});

describe('closeOnFailure', () => {
  const part = (): { closed: number; close(): Promise<void> } => ({
    closed: 0,
    close() {
      this.closed++;
      return Promise.resolve();
    },
  });

  it('closes the parts that opened when another part fails, and reports close errors', async () => {
    const socket = part();
    const failingClose = { close: () => Promise.reject(new Error('busy')) };
    const tunFailed = Promise.reject(new Error('no TUN'));
    const all = Promise.all([Promise.resolve(socket), tunFailed, Promise.resolve(failingClose)]);
    const closeErrors: unknown[] = [];
    closeOnFailure(all, [Promise.resolve(socket), tunFailed, Promise.resolve(failingClose)], (err) => closeErrors.push(err));
    await expect(all).rejects.toThrow('no TUN');
    await flush();
    expect(socket.closed).toBe(1);
    expect(closeErrors).toEqual([new Error('busy')]);
  });

  it('closes nothing when every part opened', async () => {
    const socket = part();
    const all = Promise.all([Promise.resolve(socket)]);
    closeOnFailure(all, [Promise.resolve(socket)], () => undefined);
    await all;
    await flush();
    expect(socket.closed).toBe(0);
  });
});
