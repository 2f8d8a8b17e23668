// The ceiling endpoint (tools/bench's reference path `ceiling`; a measuring instrument, NOT shipped): one Node
// process per side, bundled by the bench (ceiling.ts) and run in its namespaces.
//
//   node ceiling.mjs --tun pbn-ceil-c --local 198.19.0.5:51830 --peer 198.19.0.4:51830 \
//     --tx-key <64 hex> --rx-key <64 hex> --tx-index 2 --rx-index 1 [--mtu 1280] [--stats-ms 0] [--threads 1]
//
// Prints `ready` once the TUN and the socket are open (the caller then configures the device), a JSON stats
// line every --stats-ms (0: never) and on SIGTERM/SIGINT, then exits 0. With --threads 2 a worker thread (this
// same file) runs the UDP -> TUN direction on the same fds and hands its counters back when stopped.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { cryptoBackend } from '@postern/wireguard';
import { parseCeilingArgs, type CeilingArgs } from './args';
import { CeilingLoop, type LoopStats } from './loop';
import { CeilingError, openTun, openUdp } from './sys';

interface WorkerInput {
  readonly args: CeilingArgs;
  readonly tunFd: number;
  readonly udpFd: number;
}

function loopOf(a: CeilingArgs, tunFd: number, udpFd: number, directions: 'both' | 'tx' | 'rx'): CeilingLoop {
  const backend = cryptoBackend();
  return new CeilingLoop({ tunFd, udpFd, mtu: a.mtu, txAead: backend.aead(a.txKey), rxAead: backend.aead(a.rxKey), txIndex: a.txIndex, rxIndex: a.rxIndex, directions });
}

/** Adds the counters of `b` into `a` (the two threads' loops). */
function addStats(a: LoopStats, b: LoopStats): void {
  for (const k of Object.keys(a) as (keyof LoopStats)[]) {
    const x = a[k];
    const y = b[k];
    if (typeof x === 'number' && typeof y === 'number') (a as unknown as Record<string, number>)[k] = x + y;
  }
  for (const k of Object.keys(a.rx) as (keyof LoopStats['rx'])[]) a.rx[k] += b.rx[k];
}

async function worker(input: WorkerInput): Promise<void> {
  const loop = loopOf(input.args, input.tunFd, input.udpFd, 'rx');
  parentPort?.once('message', () => {
    loop.stop();
  });
  await loop.run();
  parentPort?.postMessage(loop.stats);
}

async function main(): Promise<void> {
  const a = parseCeilingArgs(process.argv.slice(2));
  const tunFd = openTun(a.tun);
  const udpFd = openUdp(a.local, a.peer, 8 * 1024 * 1024);
  const loop = loopOf(a, tunFd, udpFd, a.threads === 2 ? 'tx' : 'both');
  const rx = a.threads === 2 ? new Worker(new URL(import.meta.url), { workerData: { args: a, tunFd, udpFd } satisfies WorkerInput }) : undefined;
  const rxStats = new Promise<LoopStats | undefined>((resolve) => {
    if (rx === undefined) resolve(undefined);
    rx?.once('message', (s: LoopStats) => { resolve(s); });
    rx?.once('error', (e) => {
      process.stderr.write(`ceiling: rx worker failed: ${e.message}\n`);
      resolve(undefined);
    });
  });
  const addr = loop.addresses();
  const small = (x: number): string => (x <= 0x7fff_ffff ? 'small' : 'large');
  const print = (): void => {
    process.stdout.write(JSON.stringify({ stats: loop.stats }) + '\n');
  };
  const timer = a.statsMs > 0 ? setInterval(print, a.statsMs) : undefined;
  const end = (): void => {
    loop.stop();
    rx?.postMessage('stop');
  };
  process.once('SIGTERM', end);
  process.once('SIGINT', end);
  process.stdout.write(`ready ${a.tun} mtu ${String(a.mtu)} threads ${String(a.threads)} aead ${cryptoBackend().name} packet memory tx ${small(addr.tx)} rx ${small(addr.rx)} addresses\n`);
  await loop.run();
  if (timer !== undefined) clearInterval(timer);
  const other = await rxStats;
  if (other !== undefined) addStats(loop.stats, other);
  print();
}

const fail = (e: unknown): void => {
  process.stderr.write(`ceiling: ${e instanceof CeilingError ? `${e.code}: ` : ''}${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
};
if (isMainThread) main().catch(fail);
else worker(workerData as WorkerInput).catch(fail);
