import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Hangup, Terminate } from '../../src/index';

describe('signals', () => {
  it('Terminate resolves with SIGINT or SIGTERM, also when the signal came before recv()', async () => {
    const src = new EventEmitter();
    const t = new Terminate(src);
    src.emit('SIGTERM', 'SIGTERM');
    expect(await t.recv()).toBe('SIGTERM');
    const next = t.recv();
    src.emit('SIGINT', 'SIGINT');
    expect(await next).toBe('SIGINT');
    t.close();
    expect(src.listenerCount('SIGINT')).toBe(0);
    expect(await t.recv()).toBeUndefined();
  });

  it('Hangup resolves on SIGHUP and false after close', async () => {
    const src = new EventEmitter();
    const h = new Hangup(src);
    const p = h.recv();
    src.emit('SIGHUP', 'SIGHUP');
    expect(await p).toBe(true);
    const pending = h.recv();
    h.close();
    expect(await pending).toBe(false);
  });

  it('receives a real SIGHUP sent to this process', async () => {
    const h = new Hangup();
    try {
      const p = h.recv();
      process.kill(process.pid, 'SIGHUP');
      expect(await p).toBe(true);
    } finally {
      h.close();
    }
  });
});
