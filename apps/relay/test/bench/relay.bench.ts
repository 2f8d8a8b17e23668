// Relayed packets/s and Gbit/s through postern-relay vs coturn's turnserver, the same traffic against each in
// the same run: ./load.ts (bundled, in the client namespace) opens N TURN sessions, binds a channel each to a
// sink and sends ChannelData as fast as batched sockets (sendmmsg + GSO) take it; the sink counts what the
// relay delivered (client -> peer direction). Small payloads measure packets/s, large ones Gbit/s. Each case
// alternates coturn / postern-relay for BENCH_RUNS runs and takes the median. Figures go to
// dist/bench/relay.json ({"cases":[{name, unit, postern, reference, ratio, runs}]}) and stdout.
//   RELAY_BENCH_SESSIONS (8), RELAY_BENCH_SMALL (64 B), RELAY_BENCH_LARGE (1400 B), BENCH_SECONDS (5),
//   BENCH_RUNS (3), BENCH_QUICK=1 (2 s x 1 run), RELAY_BENCH_RELAY_BACKEND (auto|batched|dgram).
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_IP, COTURN_PORT, createTopology, PASSWORD, PEER_IP, POSTERN_PORT, RELAY_HOST_SIDE_IP, RELAY_IP, startCoturn, startPostern, USER, type Topology } from '../support/topology';

const ROOT = join(import.meta.dirname, '..', '..', '..', '..');
const QUICK = process.env['BENCH_QUICK'] === '1';
const SESSIONS = Number(process.env['RELAY_BENCH_SESSIONS'] ?? 8);
const SMALL = Number(process.env['RELAY_BENCH_SMALL'] ?? 64);
const LARGE = Number(process.env['RELAY_BENCH_LARGE'] ?? 1400);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? (QUICK ? 2 : 5)) + 1; // + 1 s warm-up
const RUNS = Number(process.env['BENCH_RUNS'] ?? (QUICK ? 1 : 3));
const SINK_PORT = 3490;

interface LoadResult {
  readonly offeredPps: number;
  readonly received: number;
  readonly pps: number;
  readonly gbps: number;
}

interface Case {
  readonly name: string;
  readonly unit: string;
  readonly postern: number;
  readonly reference: number;
  readonly ratio: number;
  readonly runs: { readonly postern: number[]; readonly reference: number[] };
}

let topo: Topology | undefined;
let load = '';
let posternOutput: () => string = () => '';
const cases: Case[] = [];

async function bundleLoad(): Promise<string> {
  const dir = join(ROOT, 'dist', 'test', 'relay-bench-load');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'load.mjs');
  await build({
    entryPoints: [join(import.meta.dirname, 'load.ts')],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
    external: ['koffi'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  copyFileSync(join(ROOT, 'libs', 'connlib', 'socket-factory', 'src', 'udp-recv.worker.mjs'), join(dir, 'udp-recv.worker.mjs'));
  return file;
}

/** UDP receive-buffer overflows in the client namespace (where the sink is): datagrams the relay delivered that the sink could not take. */
async function sinkOverflows(t: Topology): Promise<number> {
  const snmp = await t.clientNs.exec('cat', ['/proc/net/snmp']);
  const [head, values] = snmp.split('\n').filter((l) => l.startsWith('Udp:'));
  const i = (head ?? '').split(/\s+/).indexOf('RcvbufErrors');
  return Number((values ?? '').split(/\s+/)[i] ?? NaN);
}

async function runLoad(t: Topology, port: number, size: number): Promise<LoadResult & { sinkOverflows: number }> {
  const overflowsBefore = await sinkOverflows(t);
  const args = [load, `${RELAY_IP}:${String(port)}`, USER, PASSWORD, `${PEER_IP}:${String(SINK_PORT)}`, CLIENT_IP, String(SESSIONS), String(size), String(SECONDS)];
  const { stdout } = await promisify(execFile)('ip', ['netns', 'exec', t.clientNs.name, process.execPath, ...args], { timeout: (SECONDS + 60) * 1000 });
  const r = JSON.parse(stdout.trim()) as LoadResult;
  return { ...r, sinkOverflows: (await sinkOverflows(t)) - overflowsBefore };
}

/** postern-relay's own counters (its /metrics): packets relayed client -> peer, and send-queue drops. */
async function posternCounters(): Promise<{ relayed: number; drops: number }> {
  const text = await (await fetch(`http://${RELAY_HOST_SIDE_IP}:9090/metrics`)).text();
  const n = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { relayed: n('postern_relay_client_to_peer_packets_total'), drops: n('postern_relay_send_queue_dropped_packets_total') };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

beforeAll(async () => {
  topo = await createTopology('relay-bench');
  load = await bundleLoad();
  await startCoturn(topo);
  posternOutput = (await startPostern(topo, ['--relay-socket-backend', process.env['RELAY_BENCH_RELAY_BACKEND'] ?? 'auto'])).output;
}, 60_000);

afterAll(async () => {
  await topo?.destroy();
  if (cases.length === 0) return;
  const dir = join(ROOT, 'dist', 'bench');
  mkdirSync(dir, { recursive: true });
  const meta = { sessions: SESSIONS, seconds: SECONDS - 1, warmupSeconds: 1, runs: RUNS, direction: 'client -> peer (ChannelData in, UDP out)', reference: 'coturn turnserver' };
  writeFileSync(join(dir, 'relay.json'), `${JSON.stringify({ ...meta, cases }, null, 2)}\n`);
});

describe('relay throughput: postern-relay vs coturn turnserver (same load, same run)', () => {
  const measure = async (size: number, pick: (r: LoadResult) => number): Promise<{ postern: number[]; reference: number[]; lines: string[] }> => {
    const t = topo;
    if (!t) throw new Error('no topology');
    const postern: number[] = [];
    const reference: number[] = [];
    const lines: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const c = await runLoad(t, COTURN_PORT, size);
      const before = await posternCounters();
      const p = await runLoad(t, POSTERN_PORT, size).catch((e: unknown) => {
        throw new Error(`${String(e)}\npostern-relay output:\n${posternOutput().slice(-3000)}`);
      });
      const after = await posternCounters();
      reference.push(pick(c));
      postern.push(pick(p));
      for (const [name, r] of [['coturn', c], ['postern-relay', p]] as const) {
        lines.push(`  run ${String(i + 1)} ${name.padEnd(14)} offered ${Math.round(r.offeredPps).toString().padStart(8)} pps, relayed ${Math.round(r.pps).toString().padStart(8)} pps ${r.gbps.toFixed(3)} Gbit/s (sink overflows ${String(r.sinkOverflows)})`);
      }
      lines.push(`  run ${String(i + 1)} postern-relay /metrics: ${String(after.relayed - before.relayed)} packets relayed client -> peer, ${String(after.drops - before.drops)} send-queue drops`);
      process.stdout.write(`${lines.slice(-3).join('\n')}\n`);
      // the relay delivered something, and never more than was offered
      expect(p.received, posternOutput().slice(-3000)).toBeGreaterThan(0);
      expect(c.received).toBeGreaterThan(0);
      expect(p.pps).toBeLessThanOrEqual(p.offeredPps * 1.05);
    }
    return { postern, reference, lines };
  };

  const record = (name: string, unit: string, m: { postern: number[]; reference: number[]; lines: string[] }, digits: number): void => {
    const c: Case = { name, unit, postern: median(m.postern), reference: median(m.reference), ratio: median(m.postern) / median(m.reference), runs: { postern: m.postern, reference: m.reference } };
    cases.push(c);
    process.stdout.write(
      [
        '',
        `relay bench: ${name} (${String(SESSIONS)} sessions, ${String(SECONDS - 1)} s after 1 s warm-up, median of ${String(RUNS)})`,
        ...m.lines,
        `  coturn ${c.reference.toFixed(digits)} ${unit}, postern-relay ${c.postern.toFixed(digits)} ${unit}, ratio postern/coturn ${c.ratio.toFixed(2)}`,
        '',
      ].join('\n'),
    );
  };

  it(`relayed packets/s with ${String(SMALL)} B payloads`, async () => {
    record(`relayed packets/s (${String(SMALL)} B payload)`, 'pps', await measure(SMALL, (r) => r.pps), 0);
  }, 600_000);

  it(`relayed Gbit/s with ${String(LARGE)} B payloads`, async () => {
    record(`relayed Gbit/s (${String(LARGE)} B payload)`, 'Gbit/s', await measure(LARGE, (r) => r.gbps), 3);
  }, 600_000);
});
