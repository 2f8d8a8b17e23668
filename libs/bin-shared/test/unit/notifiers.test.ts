import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { DebouncedNotifier } from '../../src/change_notifier';
import { newDnsNotifier } from '../../src/index';

const dir = mkdtempSync(join(tmpdir(), 'pbs-notif-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('DebouncedNotifier', () => {
  it('fires once at start, then once per burst, and false after close', async () => {
    vi.useFakeTimers();
    try {
      const n = new DebouncedNotifier(100);
      expect(await n.notified()).toBe(true);
      let fired = 0;
      const p = n.notified().then((v) => {
        fired++;
        return v;
      });
      n.trigger();
      await vi.advanceTimersByTimeAsync(50);
      n.trigger();
      await vi.advanceTimersByTimeAsync(50);
      n.trigger();
      await vi.advanceTimersByTimeAsync(99);
      expect(fired).toBe(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(await p).toBe(true);
      n.trigger(); // nobody waiting: kept for the next call
      await vi.advanceTimersByTimeAsync(100);
      expect(await n.notified()).toBe(true);
      const last = n.notified();
      await n.close();
      expect(await last).toBe(false);
      expect(await n.notified()).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('DNS notifier (resolv.conf)', () => {
  it('fires when the nameservers change (also when the file is replaced), not for other edits', async () => {
    const path = join(dir, 'resolv.conf');
    writeFileSync(path, 'nameserver 198.18.12.53\n');
    const n = await newDnsNotifier({ method: 'etc-resolv-conf', resolvConfPath: path, debounceMs: 50, pollMs: 200 });
    try {
      expect(await n.notified()).toBe(true);
      let count = 0;
      const loop = (async () => {
        while (await n.notified()) count++;
      })();
      writeFileSync(path, '# comment only\nnameserver 198.18.12.53\n');
      await new Promise((r) => setTimeout(r, 500));
      expect(count).toBe(0);
      writeFileSync(`${path}.new`, 'nameserver 198.18.12.54\n');
      renameSync(`${path}.new`, path);
      // waits are for the watcher's or the 200 ms poll's read, with the test suite's load alongside
      await vi.waitFor(() => { expect(count).toBe(1); }, { timeout: 10_000, interval: 20 });
      await new Promise((r) => setTimeout(r, 300));
      expect(count).toBe(1);
      await n.close();
      await loop;
    } finally {
      await n.close();
    }
  });
});

describe('DNS notifier (systemd-resolved)', () => {
  it('polls resolvectl and fires only when the upstream servers change, ignoring our TUN', async () => {
    let polls = 0;
    let output = 'Global:\nLink 2 (eth0): 198.18.12.53\nLink 7 (tun-postern): 100.100.111.1\n';
    const n = await newDnsNotifier({
      method: 'systemd-resolved',
      tunName: 'tun-postern',
      pollMs: 50,
      debounceMs: 20,
      runCommand: () => {
        polls++;
        return Promise.resolve(output);
      },
    });
    expect(await n.notified()).toBe(true);
    let count = 0;
    const loop = (async () => {
      while (await n.notified()) count++;
    })();
    // Counted in polls, not in time (the suite's load delays timers): three polls after a change, a debounce
    // (20 ms) it started has fired.
    const polled = async (more: number): Promise<void> => {
      const target = polls + more;
      await vi.waitFor(() => { expect(polls).toBeGreaterThanOrEqual(target); }, { timeout: 10_000, interval: 10 });
    };
    output = 'Global:\nLink 2 (eth0): 198.18.12.53\nLink 7 (tun-postern): 100.100.111.2\n';
    await polled(3);
    expect(count).toBe(0);
    output = 'Global:\nLink 2 (eth0): 198.18.12.54\n';
    await polled(3);
    expect(count).toBe(1);
    await n.close();
    await loop;
  });
});
