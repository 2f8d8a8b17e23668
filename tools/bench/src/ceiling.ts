// The bench's `ceiling` path: two ceiling endpoints (src/ceiling/: a minimal Node tunnel loop with the TUN and
// UDP offloads, Postern's AEAD and a fixed key; a measuring instrument, not shipped) bundled with esbuild and
// started in two namespaces, one TUN device each, addresses and routes set with `ip`. Used by system.ts (pbn-client
// <-> pbn-gw) and by the self-check test/e2e/ceiling.e2e.ts (its own two namespaces).
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BenchError, bundleTool, nsRun, startIn, stop, waitForLog, type Started } from './proc';

/** Bundles src/ceiling/main.ts into `<root>/dist/bench/ceiling.mjs` (koffi stays external: it resolves up the tree). */
export function bundleCeiling(root: string): Promise<string> {
  return bundleTool(root, 'ceiling/main', ['koffi'], 'ceiling');
}

export interface CeilingSide {
  readonly ns: string;
  /** TUN device name (at most 15 characters). */
  readonly dev: string;
  /** The underlay address:port the endpoint binds (the peer sends there). */
  readonly wan: string;
  /** The device's address with prefix (`198.19.3.1/24`). */
  readonly addr: string;
  /** Extra routes through the device (`198.19.1.0/24`). */
  readonly routes: readonly string[];
}

export interface CeilingPair {
  readonly sides: readonly [Started, Started];
  /** Stops both endpoints (SIGTERM: each prints its final stats line) and returns their logs. */
  stop(): Promise<[string, string]>;
}

/** The final `{"stats":...}` line of an endpoint's log, or null. */
export function lastStats(log: string): Record<string, unknown> | null {
  const lines = log.split('\n').filter((l) => l.startsWith('{"stats":'));
  const last = lines[lines.length - 1];
  if (last === undefined) return null;
  const v = JSON.parse(last) as { stats?: unknown };
  return typeof v.stats === 'object' && v.stats !== null ? (v.stats as Record<string, unknown>) : null;
}

/**
 * Starts one endpoint per side (each with its own direction keys and receiver index), waits for `ready`, then
 * gives each device its MTU, address and routes. On failure everything started is stopped.
 */
export async function startCeilingPair(script: string, sides: readonly [CeilingSide, CeilingSide], o: { logDir: string; mtu: number; threads: 1 | 2; nodeFlags: readonly string[]; procs?: Started[] }): Promise<CeilingPair> {
  const keys = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')] as const;
  const started: Started[] = [];
  const logs: string[] = [];
  try {
    for (const [i, s] of sides.entries()) {
      const peer = sides[1 - i];
      if (peer === undefined) throw new BenchError('CEILING', 'two sides needed');
      const log = join(o.logDir, `ceiling-${s.ns}.log`);
      logs.push(log);
      writeFileSync(log, ''); // a new start: `ready` of an earlier one must not count
      const p = startIn(s.ns, ['node', ...o.nodeFlags, script, '--tun', s.dev, '--local', s.wan, '--peer', peer.wan, '--tx-key', keys[i === 0 ? 0 : 1], '--rx-key', keys[i === 0 ? 1 : 0], '--tx-index', String(2 - i), '--rx-index', String(1 + i), '--mtu', String(o.mtu), '--threads', String(o.threads)], log);
      started.push(p);
      o.procs?.push(p);
      if (!(await waitForLog(log, 'ready', 15_000))) throw new BenchError('CEILING', `the ceiling endpoint in ${s.ns} did not start: ${readFileSync(log, 'utf8').slice(-600)}`);
      nsRun(s.ns, ['ip', 'link', 'set', s.dev, 'mtu', String(o.mtu), 'up']);
      nsRun(s.ns, ['ip', 'addr', 'add', s.addr, 'dev', s.dev]);
      for (const r of s.routes) nsRun(s.ns, ['ip', 'route', 'add', r, 'dev', s.dev]);
    }
  } catch (e) {
    for (const p of started) await stop(p);
    throw e;
  }
  const [a, b] = started;
  if (a === undefined || b === undefined) throw new BenchError('CEILING', 'two sides needed');
  return {
    sides: [a, b],
    async stop(): Promise<[string, string]> {
      await stop(a);
      await stop(b);
      return [readFileSync(logs[0] ?? '', 'utf8'), readFileSync(logs[1] ?? '', 'utf8')];
    },
  };
}
