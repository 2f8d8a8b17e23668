// "Memory per idle client": a real postern-gateway process (dist/apps/gateway, in pbn-gw) joins a minimal portal
// run by the idle driver (src/idle-driver.ts, bundled here with esbuild, in pbn-client), which authorises N
// clients on it and handshakes N light WireGuard initiators with it through real UDP. The figure is the
// gateway's RSS growth (median of several VmRSS samples, before the clients and after all are connected and
// settled) divided by N. The gateway starts as `node main.js`: it re-executes itself with the V8 flag and malloc
// setting its systemd unit sets (apps/gateway/src/memory.ts), so this is the shipped configuration; a flag in
// BENCH_NODE_FLAGS or a variable in BENCH_GATEWAY_ENV of the same name overrides it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { median } from './aggregate';
import { bundleTool } from './proc';
import { BenchError, nodeCommand, rssMiB, sleep, startIn, stop, type Started } from './proc';

export interface IdleResult {
  readonly clients: number;
  readonly connected: number;
  readonly baselineMiB: number;
  readonly afterMiB: number;
  readonly perClientKiB: number;
  /** From "go" to the last client's session. */
  readonly handshakeMs: number;
}

export interface IdleOptions {
  readonly root: string;
  /** The release builds (dist/apps or the bench's private copy of it). */
  readonly apps: string;
  readonly work: string;
  readonly clients: number;
  /** Extra node flags for the gateway (BENCH_NODE_FLAGS). */
  readonly nodeFlags: readonly string[];
  readonly log: (line: string) => void;
}

const PORTAL = '198.19.0.5';
const PORTAL_PORT = 8081;
const GW_UDP = '198.19.0.4:52625';
/** Handshakes per second: under the gateway's cookie threshold (100/s). */
const RATE = 80;
/** Extra environment for the idle gateway, `BENCH_GATEWAY_ENV="MALLOC_ARENA_MAX=2 K=V"` (experiments). */
const GATEWAY_ENV: Readonly<Record<string, string>> = Object.fromEntries(
  (process.env['BENCH_GATEWAY_ENV'] ?? '')
    .split(' ')
    .filter((kv) => kv.includes('='))
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);

export function bundleIdleDriver(root: string): Promise<string> {
  return bundleTool(root, 'idle-driver', ['koffi', 'ws']);
}

/** The median VmRSS of `n` samples `everyMs` apart. */
async function rssMedian(pid: number, n: number, everyMs: number): Promise<number> {
  const v: number[] = [];
  for (let i = 0; i < n; i++) {
    v.push(rssMiB(pid) ?? Number.NaN);
    if (i < n - 1) await sleep(everyMs);
  }
  return median(v) ?? Number.NaN;
}

interface DriverEvent {
  readonly event: string;
  readonly connected?: number;
  readonly ms?: number;
}

class Driver {
  private readonly waiters: { event: string; resolve: (e: DriverEvent) => void }[] = [];
  last: DriverEvent | undefined;
  constructor(readonly child: ChildProcess) {
    if (child.stdout === null) throw new BenchError('SPAWN_FAILED', 'idle driver has no stdout');
    createInterface({ input: child.stdout }).on('line', (line) => {
      let e: DriverEvent;
      try {
        e = JSON.parse(line) as DriverEvent;
      } catch (err) {
        if (err instanceof SyntaxError) return;
        throw err;
      }
      this.last = e;
      for (const w of this.waiters.filter((x) => x.event === e.event)) w.resolve(e);
    });
  }
  wait(event: string, ms: number): Promise<DriverEvent | undefined> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { resolve(undefined); }, ms);
      this.waiters.push({ event, resolve: (e) => { clearTimeout(t); resolve(e); } });
    });
  }
}

export async function idleClients(o: IdleOptions): Promise<IdleResult> {
  const gwMain = join(o.apps, 'gateway', 'main.js');
  if (!existsSync(gwMain)) throw new BenchError('NOT_BUILT', 'dist/apps/gateway/main.js missing');
  const driverFile = await bundleIdleDriver(o.root);
  const procs: Started[] = [];
  let driverChild: ChildProcess | undefined;
  try {
    driverChild = spawn('ip', ['netns', 'exec', 'pbn-client', process.execPath, driverFile, PORTAL, String(PORTAL_PORT), String(o.clients), String(RATE), GW_UDP], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const driver = new Driver(driverChild);
    await sleep(500);
    const gwLog = join(o.work, 'idle-gateway.log');
    const gw = startIn('pbn-gw', [...nodeCommand(gwMain, o.nodeFlags), '--log-format', 'json', '--listen-port', GW_UDP.split(':')[1] ?? '52625'], gwLog, {
      POSTERN_TOKEN: 'idle-bench',
      POSTERN_API_URL: `ws://${PORTAL}:${String(PORTAL_PORT)}`,
      POSTERN_ID: 'idle-gateway',
      POSTERN_CONFIG_DIR: join(o.work, 'idle-gw-config'),
      ...GATEWAY_ENV,
    });
    procs.push(gw);
    if ((await driver.wait('joined', 20_000)) === undefined) throw new BenchError('NO_JOIN', `the gateway did not join the idle driver's portal: ${readFileSync(gwLog, 'utf8').slice(-600)}`);
    await sleep(2_000);
    const baselineMiB = await rssMedian(gw.pid, 5, 400);
    o.log(`  idle clients: gateway RSS before ${baselineMiB.toFixed(1)} MiB; starting ${String(o.clients)} clients at ${String(RATE)} handshakes/s`);
    driverChild.stdin?.write('go\n');
    const done = await driver.wait('connected', (o.clients / RATE) * 1000 + 30_000);
    if (done === undefined) {
      throw new BenchError('NOT_CONNECTED', `only ${String(driver.last?.connected ?? 0)} of ${String(o.clients)} idle clients connected`);
    }
    await sleep(3_000);
    const afterMiB = await rssMedian(gw.pid, 5, 400);
    const connected = (readFileSync(gwLog, 'utf8').match(/"msg":"client connected"/g) ?? []).length;
    const perClientKiB = ((afterMiB - baselineMiB) * 1024) / o.clients;
    o.log(`  idle clients: ${String(connected)} connected on the gateway in ${String(done.ms ?? '?')} ms; RSS after ${afterMiB.toFixed(1)} MiB: ${perClientKiB.toFixed(1)} KiB per client`);
    return { clients: o.clients, connected, baselineMiB, afterMiB, perClientKiB, handshakeMs: done.ms ?? Number.NaN };
  } finally {
    for (const p of procs.reverse()) await stop(p);
    if (driverChild !== undefined && driverChild.exitCode === null) {
      const exited = new Promise<void>((resolve) => driverChild?.once('exit', () => { resolve(); }));
      driverChild.kill('SIGKILL');
      await exited;
    }
  }
}
