// Self-check of the bench's ceiling path: the minimal Node tunnel loop really carries TCP. Two namespaces of the
// bench's prefix (pbn-ck-a, pbn-ck-b: underlay 198.19.200.0/24, tunnel 198.19.201.0/24), one ceiling endpoint in
// each, iperf3 for 2 s each way through the tunnel. Holds the bench's lock (/tmp/pbn.lock) for its whole run:
// the system bench removes every pbn-* namespace when it starts.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bundleCeiling, lastStats, startCeilingPair, type CeilingPair } from '../../src/ceiling';
import { nsRun, run, startIn, stop, type Started } from '../../src/proc';
import { parseIperf } from '../../src/system';

const root = join(import.meta.dirname, '..', '..', '..', '..');
const A = 'pbn-ck-a';
const B = 'pbn-ck-b';
const TUN_B = '198.19.201.2';

function removeLeftovers(): void {
  for (const line of run('ip', ['netns', 'list'], { allowFail: true }).split('\n')) {
    const ns = line.split(' ')[0] ?? '';
    if (!ns.startsWith('pbn-ck-')) continue;
    for (const pid of run('ip', ['netns', 'pids', ns], { allowFail: true }).split('\n').filter(Boolean)) run('kill', ['-KILL', pid], { allowFail: true });
    run('ip', ['netns', 'del', ns], { allowFail: true });
  }
}

/** Takes /tmp/pbn.lock (flock(1) holding it while its `cat` reads our pipe); resolves once held. */
function lockBench(): Promise<ChildProcessWithoutNullStreams> {
  return new Promise((resolve, reject) => {
    const holder = spawn('flock', ['-w', '100', '/tmp/pbn.lock', 'sh', '-c', 'echo locked; exec cat >/dev/null']);
    holder.stdout.once('data', () => { resolve(holder); });
    holder.once('exit', (code) => { reject(new Error(`could not take /tmp/pbn.lock within 100 s (a bench is running?), flock exit ${String(code)}`)); });
  });
}

let lock: ChildProcessWithoutNullStreams | undefined;
let pair: CeilingPair | undefined;
let server: Started | undefined;
let logDir = '';
let script = '';

beforeAll(async () => {
  lock = await lockBench();
  removeLeftovers();
  logDir = mkdtempSync(join(tmpdir(), 'pbn-ck-'));
  for (const ns of [A, B]) {
    run('ip', ['netns', 'add', ns]);
    nsRun(ns, ['ip', 'link', 'set', 'lo', 'up']);
  }
  run('ip', ['link', 'add', 'pbn-ck-va', 'netns', A, 'type', 'veth', 'peer', 'name', 'pbn-ck-vb', 'netns', B]);
  nsRun(A, ['ip', 'addr', 'add', '198.19.200.1/24', 'dev', 'pbn-ck-va']);
  nsRun(B, ['ip', 'addr', 'add', '198.19.200.2/24', 'dev', 'pbn-ck-vb']);
  nsRun(A, ['ip', 'link', 'set', 'pbn-ck-va', 'up']);
  nsRun(B, ['ip', 'link', 'set', 'pbn-ck-vb', 'up']);
  script = await bundleCeiling(root);
});

afterAll(async () => {
  await stop(server);
  await pair?.stop();
  removeLeftovers();
  if (logDir !== '') rmSync(logDir, { recursive: true, force: true });
  lock?.stdin.end();
});

async function selfCheck(threads: 1 | 2): Promise<void> {
  pair = await startCeilingPair(
    script,
    [
      { ns: A, dev: 'pbn-ck-ta', wan: '198.19.200.1:51830', addr: '198.19.201.1/24', routes: [] },
      { ns: B, dev: 'pbn-ck-tb', wan: '198.19.200.2:51830', addr: `${TUN_B}/24`, routes: [] },
    ],
    { logDir, mtu: 1280, threads, nodeFlags: [] },
  );
  server = startIn(B, ['iperf3', '-s', '-B', TUN_B], join(logDir, `iperf3-${String(threads)}.log`));
  await new Promise((r) => setTimeout(r, 300));
  const iperf = (extra: string[]): { bitsPerSecond: number; bytes: number } => parseIperf(nsRun(A, ['iperf3', '-c', TUN_B, '-t', '2', '-J', '--connect-timeout', '3000', ...extra], { timeoutMs: 30_000 }), false);
  const up = iperf([]);
  const down = iperf(['-R']);
  process.stdout.write(`ceiling self-check, ${String(threads)} thread(s): up ${(up.bitsPerSecond / 1e9).toFixed(3)} Gbit/s, down ${(down.bitsPerSecond / 1e9).toFixed(3)} Gbit/s\n`);
  await stop(server);
  server = undefined;
  const logs = await pair.stop();
  pair = undefined;
  expect(up.bytes).toBeGreaterThan(1_000_000);
  expect(down.bytes).toBeGreaterThan(1_000_000);
  const [a, b] = logs.map(lastStats);
  expect(a?.['tunSegments']).toBeGreaterThan(1000);
  expect(b?.['tunSegments']).toBeGreaterThan(1000);
  for (const s of [a, b]) expect(s?.['rx']).toMatchObject({ short: 0, type: 0, receiver: 0, auth: 0, ip: 0 });
}

it('carries TCP both ways through the two-thread ceiling loop (the bench default; iperf3 2 s each), frames authentic, none dropped', async () => {
  await selfCheck(2);
}, 60_000);

it('carries TCP both ways through the one-thread ceiling loop', async () => {
  await selfCheck(1);
}, 60_000);
