// The system benchmark: iperf3 through whole tunnels in network namespaces (prefix pbn, underlay 198.19.0.0/16).
//
//   pbn-wan (bridge br0, 198.19.0.0/24)
//     ├── pbn-portal 198.19.0.2   postern-portal
//     ├── pbn-relay  198.19.0.3   postern-relay :3478, coturn turnserver :3479 (one after the other)
//     ├── pbn-gw     198.19.0.4   postern-gateway | wireguard-go ── LAN 198.19.1.1/24 ── pbn-srv 198.19.1.10
//     └── pbn-client 198.19.0.5   postern-client  | wireguard-go                        (iperf3 -s, first-byte server)
//
// Paths, one after the other over the same namespaces: veth (the client routes the LAN via the gateway's WAN
// address: the ceiling), wireguard-go (Debian, MTU 1280, 198.19.2.0/24 inside), Postern direct (portal + gateway
// + client from dist/apps, the way scripts/demo.sh runs them), Postern relayed through postern-relay, then the
// same relayed through coturn's turnserver (the portal's `turn_servers`), direct UDP blocked by nft.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildResults, type CaseInput, type PathName, type Results } from './aggregate';
import { BenchError, TICKS, cpuSeconds, cpuTimes, loadAverage, mainIsolate, nodeCommand, nsRun, parseTraceGc, peakRssMiB, processAgeMs, run, sleep, startIn, stop, waitForLog, type GcWindow, type Started } from './proc';
import { bundleCeiling, lastStats, startCeilingPair } from './ceiling';
import { formatLoss, formatThreadCpu, socketBuffers, threadTicks, watchCounters } from './netstat';
import { idlePing, soak, type RttStats, type SoakResult } from './soak';
import { searchLossFree } from './udp-search';
import { idleClients, type IdleResult } from './idle';
import { bundleHostProbe, formatHostProbe, runHostProbe, type HostProbe } from './host-probe';

export interface BenchOptions {
  readonly root: string;
  readonly quick: boolean;
  readonly seconds: number;
  readonly runs: number;
  /** Length of the "RSS during a long iperf3 run" soak (60 s; 10 s in quick mode; 0 skips it). */
  readonly soakSeconds: number;
  /** Simulated idle clients for "memory per idle client" (1000; 0 skips it). */
  readonly idleClients: number;
  /** Which paths to run (BENCH_PATHS=veth,wireguard-go,ceiling,postern); default all. */
  readonly paths?: readonly string[];
  readonly log: (line: string) => void;
}

const NS = ['pbn-wan', 'pbn-portal', 'pbn-relay', 'pbn-gw', 'pbn-client', 'pbn-srv'] as const;
const SRV = '198.19.1.10';
const GW_WAN = '198.19.0.4';
const FIRST_BYTE_PORT = 7001;
const UDP_LEN = 1200;
/** BENCH_UDP_RATES: offered rates (packets/s) probed after the search, with the loss counters logged. */
const UDP_RATES = (process.env['BENCH_UDP_RATES'] ?? '').split(',').filter(Boolean);
/** BENCH_UDP_GROW: probes that may raise the UDP search's bracket when no probe in it lost (3; 0 = plain bisection). */
const UDP_GROW = Number(process.env['BENCH_UDP_GROW'] ?? '3') || 0;
/** BENCH_UDP_TXQLEN: transmit queue lengths of the client's tunnel device to probe each BENCH_UDP_RATES rate with. */
const UDP_TXQLEN = (process.env['BENCH_UDP_TXQLEN'] ?? '').split(',').filter((q) => /^\d+$/.test(q));
/** The client's tunnel device per path (BENCH_UDP_TXQLEN). */
const CLIENT_TUNNEL_DEV: Partial<Record<PathName, string>> = { postern: 'tun-postern', 'wireguard-go': 'pbn-wgc' };
/** BENCH_CASES: `tcp`, `udp` or both (default): which cases measurePath runs (the relayed and ceiling paths are TCP only). */
const CASES = (process.env['BENCH_CASES'] ?? 'tcp,udp').split(',');
/** Extra node flags for the Postern gateway and client, e.g. BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const NODE_FLAGS = (process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);
/** The start of a relayed iperf3 run left out of the relay's steady-state GC row (its flow's warm-up). */
const RELAY_WARMUP_MS = 2000;
/** Extra `node` flags for postern-relay (e.g. `--cpu-prof --cpu-prof-dir=/tmp/pbn-relay-prof`). */
const RELAY_NODE_FLAGS = (process.env['BENCH_RELAY_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);
/** postern-relay's `--relay-socket-backend` (auto, batched, dgram); unset: the relay's default. */
const RELAY_BACKEND = process.env['BENCH_RELAY_BACKEND'];

/** Removes every pbn-* namespace (and the processes in it). */
export function cleanupLeftovers(): void {
  const list = run('ip', ['netns', 'list'], { allowFail: true });
  for (const line of list.split('\n')) {
    const ns = line.split(' ')[0] ?? '';
    if (!ns.startsWith('pbn-')) continue;
    for (const pid of run('ip', ['netns', 'pids', ns], { allowFail: true }).split('\n').filter(Boolean)) {
      run('kill', ['-KILL', pid], { allowFail: true });
    }
    run('ip', ['netns', 'del', ns], { allowFail: true });
  }
}

function createTopology(): void {
  for (const ns of NS) {
    run('ip', ['netns', 'add', ns]);
    nsRun(ns, ['ip', 'link', 'set', 'lo', 'up']);
  }
  nsRun('pbn-wan', ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  nsRun('pbn-wan', ['ip', 'link', 'set', 'br0', 'up']);
  const wan = (ns: string, addr: string, dev: string): void => {
    run('ip', ['link', 'add', dev, 'netns', 'pbn-wan', 'type', 'veth', 'peer', 'name', 'wan0', 'netns', ns]);
    nsRun('pbn-wan', ['ip', 'link', 'set', dev, 'master', 'br0', 'up']);
    nsRun(ns, ['ip', 'addr', 'add', `${addr}/24`, 'dev', 'wan0']);
    nsRun(ns, ['ip', 'link', 'set', 'wan0', 'up']);
  };
  wan('pbn-portal', '198.19.0.2', 'pbn-v-portal');
  wan('pbn-relay', '198.19.0.3', 'pbn-v-relay');
  wan('pbn-gw', GW_WAN, 'pbn-v-gw');
  wan('pbn-client', '198.19.0.5', 'pbn-v-client');
  run('ip', ['link', 'add', 'lan0', 'netns', 'pbn-gw', 'type', 'veth', 'peer', 'name', 'lan0', 'netns', 'pbn-srv']);
  nsRun('pbn-gw', ['ip', 'addr', 'add', '198.19.1.1/24', 'dev', 'lan0']);
  nsRun('pbn-gw', ['ip', 'link', 'set', 'lan0', 'up']);
  nsRun('pbn-srv', ['ip', 'addr', 'add', `${SRV}/24`, 'dev', 'lan0']);
  nsRun('pbn-srv', ['ip', 'link', 'set', 'lan0', 'up']);
  nsRun('pbn-srv', ['ip', 'route', 'add', 'default', 'via', '198.19.1.1']);
  nsRun('pbn-gw', ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
}

interface IperfRun {
  readonly bitsPerSecond: number;
  readonly bytes: number;
  readonly packetsPerSecond: number;
  readonly lostPercent: number;
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number.NaN;
}
function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
}

export function parseIperf(json: string, udp: boolean): IperfRun {
  const end = obj(obj(JSON.parse(json) as unknown)['end']);
  if (udp) {
    const sum = obj(end['sum']);
    const seconds = num(sum['seconds']);
    const packets = num(sum['packets']) - num(sum['lost_packets']);
    return { bitsPerSecond: num(sum['bits_per_second']), bytes: num(sum['bytes']), packetsPerSecond: packets / seconds, lostPercent: num(sum['lost_percent']) };
  }
  const rx = obj(end['sum_received']);
  return { bitsPerSecond: num(rx['bits_per_second']), bytes: num(rx['bytes']), packetsPerSecond: Number.NaN, lostPercent: 0 };
}

function iperf(seconds: number, extra: readonly string[]): IperfRun {
  const udp = extra.includes('-u');
  const out = nsRun('pbn-client', ['iperf3', '-c', SRV, '-t', String(seconds), '-J', '--connect-timeout', '5000', ...extra], { timeoutMs: (seconds + 30) * 1000 });
  return parseIperf(out, udp);
}

/**
 * The first-byte prober, a second `node` that is started and loaded before the measurement starts (t0) so that
 * its start-up does not compete with the system under test for the 2 CPUs: it prints "ready", waits for a line
 * on stdin, then connects to host:port every 10 ms until a byte arrives and prints that moment in epoch ms.
 */
export function proberScript(host: string, port: number): string {
  return `
const net = require('node:net');
let deadline = 0;
const tryOnce = () => {
  const s = net.connect({ host: ${JSON.stringify(host)}, port: ${String(port)} });
  const retry = () => { s.destroy(); if (Date.now() > deadline) { console.log('timeout'); process.exit(1); } setTimeout(tryOnce, 10); };
  s.setTimeout(300, retry);
  s.once('error', retry);
  s.once('data', () => { console.log(String(Date.now())); process.exit(0); });
};
process.stdin.once('data', () => { deadline = Date.now() + 30000; tryOnce(); });
console.log('ready');`;
}
const FIRST_BYTE_SERVER = `require('node:net').createServer((s) => s.end('x')).listen(${String(FIRST_BYTE_PORT)}, '${SRV}');`;

interface Side {
  readonly name: string;
  readonly pid: number;
}

interface PathMeasure {
  readonly tcpUp: number[];
  readonly tcpDown: number[];
  readonly tcp4: number[];
  readonly udpPps: number[];
  readonly cpuPerGb: Record<string, number[]>;
}

function measurePath(path: PathName, o: BenchOptions, sides: readonly Side[], opts: { udp: boolean } = { udp: true }): PathMeasure {
  const m: PathMeasure = { tcpUp: [], tcpDown: [], tcp4: [], udpPps: [], cpuPerGb: {} };
  for (const s of sides) m.cpuPerGb[s.name] = [];
  /**
   * The run, the CPU of each thread of both tunnel processes over it (`; threads: client main 93%, 41%; ...`) and
   * each process's CPU per GB split into user and kernel time (`; CPU s/GB user+sys: client 1.1+2.0; ...`).
   */
  const withCpu = (f: () => IperfRun): { r: IperfRun; threads: string } => {
    const before = sides.map((s) => cpuTimes(s.pid));
    const threads0 = sides.map((s) => threadTicks(s.pid));
    const t0 = performance.now();
    const r = f();
    const wall = (performance.now() - t0) / 1000;
    const threads = sides.map((s, i) => `${s.name} ${formatThreadCpu(s.pid, threads0[i] ?? new Map<number, number>(), threadTicks(s.pid), wall, TICKS)}`).join('; ');
    const gb = r.bytes / 1e9;
    const split: string[] = [];
    sides.forEach((s, i) => {
      const t = cpuTimes(s.pid);
      const user = t.user - (before[i]?.user ?? 0);
      const sys = t.sys - (before[i]?.sys ?? 0);
      if (gb > 0) {
        m.cpuPerGb[s.name]?.push((user + sys) / gb);
        split.push(`${s.name} ${(user / gb).toFixed(2)}+${(sys / gb).toFixed(2)}`);
      }
    });
    return { r, threads: (threads === '' ? '' : `; threads: ${threads}`) + (split.length === 0 ? '' : `; CPU s/GB user+sys: ${split.join(', ')}`) };
  };
  const cases: readonly [string, number[], readonly string[]][] = [
    ['TCP upload', m.tcpUp, []],
    ['TCP download', m.tcpDown, ['-R']],
    ['TCP 4 streams', m.tcp4, ['-P', '4']],
  ];
  for (const [name, into, extra] of CASES.includes('tcp') ? cases : []) {
    for (let i = 0; i < o.runs; i++) {
      const { r, threads } = withCpu(() => iperf(o.seconds, extra));
      into.push(r.bitsPerSecond / 1e9);
      o.log(`  ${path} ${name} run ${String(i + 1)}: ${(r.bitsPerSecond / 1e9).toFixed(3)} Gbit/s (load ${loadAverage()})${threads}`);
    }
  }
  if (CASES.includes('udp') && opts.udp) m.udpPps.push(udpSearch(path, o, sides));
  return m;
}

/** Namespaces whose kernel counters each UDP probe reads (where a datagram can be dropped on its way). */
const UDP_WATCH = ['pbn-client', 'pbn-gw', 'pbn-srv'] as const;

/**
 * One UDP probe at `bitsPerSecond` (0: as fast as iperf3 sends) with the loss counters of the client, gateway
 * and server namespaces (UDP MIB, device drops) and the host's softnet backlog read around it: the log line
 * says where the lost datagrams went.
 */
function udpProbe(path: PathName, o: BenchOptions, sides: readonly Side[], seconds: number, bitsPerSecond: number, offered: string): IperfRun {
  const watch = watchCounters(UDP_WATCH);
  const threads0 = sides.map((s) => threadTicks(s.pid));
  const t0 = performance.now();
  const r = iperf(seconds, ['-u', '-b', String(Math.round(bitsPerSecond)), '-l', String(UDP_LEN), '-w', '4M']);
  const wall = (performance.now() - t0) / 1000;
  const cpu = sides.map((s, i) => `${s.name} ${formatThreadCpu(s.pid, threads0[i] ?? new Map<number, number>(), threadTicks(s.pid), wall, TICKS)}`).join('; ');
  const where = formatLoss(watch.end());
  o.log(`  ${path} UDP ${offered} offered: ${Math.round(r.packetsPerSecond)} pps received, ${r.lostPercent.toFixed(2)}% lost (load ${loadAverage()})${where === '' ? '' : `; counters: ${where}`}${cpu === '' ? '' : `; threads: ${cpu}`}`);
  return r;
}

/** The highest UDP rate (1200-byte datagrams) with <= 0.1% loss, in received packets/s (searchLossFree). */
function udpSearch(path: PathName, o: BenchOptions, sides: readonly Side[]): number {
  const probeS = o.quick ? 1 : 3;
  const steps = o.quick ? 4 : 6;
  for (const ns of ['pbn-client', 'pbn-gw'] as const) {
    const bufs = socketBuffers(nsRun(ns, ['ss', '-H', '-uamn'], { allowFail: true }));
    if (bufs !== '') o.log(`  ${path} UDP sockets in ${ns} (receive/send buffer, bytes): ${bufs}`);
  }
  const flat = udpProbe(path, o, sides, probeS, 0, 'unlimited');
  const best = searchLossFree(flat, (rate) => udpProbe(path, o, sides, probeS, rate * UDP_LEN * 8, `${String(Math.round(rate))} pps`), { steps, growSteps: UDP_GROW });
  // BENCH_UDP_RATES=1x,1.2x,40000: extra probes (a multiple of the rate found, or packets/s), for the counters;
  // BENCH_UDP_TXQLEN=500,4096: each of them once per transmit queue length of the client's tunnel device.
  const dev = CLIENT_TUNNEL_DEV[path];
  for (const spec of UDP_RATES) {
    const pps = Math.round(spec.endsWith('x') ? Number(spec.slice(0, -1)) * best : Number(spec));
    if (!Number.isFinite(pps) || pps <= 0) continue;
    for (const qlen of dev === undefined || UDP_TXQLEN.length === 0 ? [undefined] : UDP_TXQLEN) {
      if (qlen !== undefined && dev !== undefined) nsRun('pbn-client', ['ip', 'link', 'set', dev, 'txqueuelen', qlen]);
      udpProbe(path, o, sides, probeS, pps * UDP_LEN * 8, `${String(pps)} pps (BENCH_UDP_RATES ${spec}${qlen === undefined ? '' : `, ${dev ?? ''} txqueuelen ${qlen}`})`);
    }
  }
  return best;
}

export interface ArmedProber {
  /** Starts probing (call it right after starting the system under test). */
  go(): void;
  /** The epoch ms of the first byte, or the error (never rejects: it runs while other steps may throw). */
  readonly result: Promise<number | BenchError>;
}

/**
 * Starts the first-byte prober (`command` + `-e <script>`, by default `node` in pbn-client) and resolves once it
 * is loaded and waiting, so that t0 can be taken after it: set-up then measures only the system under test.
 */
export function armFirstByteProber(command: readonly string[] = ['ip', 'netns', 'exec', 'pbn-client', 'node'], host = SRV, port = FIRST_BYTE_PORT): Promise<ArmedProber> {
  return new Promise((resolveArmed, rejectArmed) => {
    const [cmd = 'node', ...args] = command;
    const child = spawn(cmd, [...args, '-e', proberScript(host, port)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    let armed = false;
    let settle: (v: number | BenchError) => void = () => undefined;
    const result = new Promise<number | BenchError>((resolve) => {
      settle = resolve;
    });
    const go = (): void => {
      child.stdin.end('go\n');
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      if (!armed && out.startsWith('ready\n')) {
        armed = true;
        resolveArmed({ go, result });
      }
    });
    child.stdin.on('error', () => undefined); // the exit below reports a dead prober
    child.once('error', (e) => {
      const err = new BenchError('NO_FIRST_BYTE', 'the first-byte prober did not start', { cause: e });
      if (armed) settle(err);
      else rejectArmed(err);
    });
    child.once('exit', () => {
      if (!armed) {
        rejectArmed(new BenchError('NO_FIRST_BYTE', `the first-byte prober exited before it was ready: ${out.trim()}`));
        return;
      }
      const t = proberTime(out);
      settle(t ?? new BenchError('NO_FIRST_BYTE', 'no byte through the tunnel within 30 s'));
    });
  });
}

/** The prober's first-byte time from its output ("ready", then epoch ms), or null (timeout, nothing). */
export function proberTime(out: string): number | null {
  const lines = out.trim().split('\n');
  if (lines[0] !== 'ready' || lines.length !== 2) return null;
  const t = Number(lines[1]);
  return Number.isSafeInteger(t) && t > 0 ? t : null;
}

/** The client's start-up milestones (log messages) in order, with their pino epoch ms; the first line is the version. */
export function setupMilestones(log: string): [string, number][] {
  const out: [string, number][] = [];
  const first = /^\{[^\n]*"time":(\d+)/m.exec(log);
  if (first?.[1] !== undefined) out.push(['first log line (Node up, bundle loaded)', Number(first[1])]);
  for (const msg of ['data plane ready', 'Connected to portal', 'TUN configured', 'connected to gateway']) {
    const t = logTime(log, msg);
    if (t !== null) out.push([msg, t]);
  }
  return out;
}

/** The `time` of the first JSON log line whose msg is `msg` (pino epoch ms), or null. */
export function logTime(log: string, msg: string): number | null {
  for (const line of log.split('\n')) {
    if (!line.startsWith('{') || !line.includes(msg)) continue;
    try {
      const d = JSON.parse(line) as { time?: unknown; msg?: unknown };
      if (d.msg === msg && typeof d.time === 'number') return d.time;
    } catch (e) {
      if (!(e instanceof SyntaxError)) throw e;
    }
  }
  return null;
}

interface Collected {
  connectedMs?: number;
  /** Client log milestones, ms after the client process was started. */
  readonly setupSteps: Record<string, number>;
  soak?: SoakResult;
  /** wireguard-go's idle tunnel pinged as the soak pings Postern's (the reference for its idle rows). */
  wgIdleRtt?: RttStats | undefined;
  idle?: IdleResult;
  idleNote?: string;
  readonly runs: Partial<Record<PathName, PathMeasure>>;
  readonly setupMs: Partial<Record<PathName, number>>;
  /** Postern's first start of a build (V8 code cache not written yet); setupMs.postern is the next start. */
  setupColdMs?: number;
  readonly rss: Record<string, number>;
  readonly gc: Record<string, { count: number; totalMs: number; maxMs: number }>;
  readonly notes: Partial<Record<PathName, string>>;
}

export async function runBench(o: BenchOptions): Promise<Results> {
  if (process.getuid?.() !== 0) throw new BenchError('NOT_ROOT', 'the system bench must run as root (network namespaces, TUN devices)');
  const work = mkdtempSync(join(tmpdir(), 'pbn-'));
  const procs: Started[] = [];
  const c: Collected = { runs: {}, setupMs: {}, setupSteps: {}, rss: {}, gc: {}, notes: {} };
  const loadStart = loadAverage();
  // A private copy of the release builds: other people rebuild dist/apps while the bench runs. Inside the repo,
  // so that native packages still resolve up the tree (koffi's binaries live in the root node_modules).
  const apps = join(o.root, 'dist', 'bench', `apps-${String(process.pid)}`);
  rmSync(apps, { recursive: true, force: true });
  // BENCH_APPS_DIR: another set of builds (a copy of dist/apps, e.g. to compare two builds run by run).
  const appsSource = process.env['BENCH_APPS_DIR'] ?? join(o.root, 'dist', 'apps');
  if (existsSync(appsSource)) cpSync(appsSource, apps, { recursive: true });
  const version = (app: string): string => run('node', [join(apps, app, 'main.js'), '--version'], { allowFail: true }).trim() || 'not built';
  const versions = { gateway: version('gateway'), client: version('headless-client') };
  cleanupLeftovers();
  // BENCH_HOST_PROBE=0 skips it. A probe that fails is logged and left out: it is a gauge of the host, not a case.
  const probeScript =
    process.env['BENCH_HOST_PROBE'] === '0'
      ? undefined
      : await bundleHostProbe(o.root).catch((e: unknown) => {
          o.log(`host probe not bundled: ${e instanceof Error ? e.message : String(e)}`);
          return undefined;
        });
  const probe = (when: 'start' | 'end'): HostProbe | undefined => {
    if (probeScript === undefined) return undefined;
    try {
      const p = runHostProbe(probeScript);
      o.log(`host probe (${when}, one thread, nothing of the bench running): ${formatHostProbe(p)}`);
      return p;
    } catch (e) {
      o.log(`host probe (${when}) failed: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  };
  const probeStart = probe('start');
  let probeEnd: HostProbe | undefined;
  try {
    createTopology();
    procs.push(startIn('pbn-srv', ['iperf3', '-s', '-B', SRV], join(work, 'iperf3-server.log')));
    procs.push(startIn('pbn-srv', ['node', '-e', FIRST_BYTE_SERVER], join(work, 'first-byte.log')));
    await sleep(500);

    // 1. veth: the client routes the LAN through the gateway's WAN address (no tunnel).
    const want = (p: string): boolean => o.paths === undefined || o.paths.includes(p);
    if (want('veth')) {
      o.log('path veth (ceiling)');
      nsRun('pbn-client', ['ip', 'route', 'add', '198.19.1.0/24', 'via', GW_WAN]);
      c.runs.veth = measurePath('veth', o, []);
      nsRun('pbn-client', ['ip', 'route', 'del', '198.19.1.0/24', 'via', GW_WAN]);
    }

    // 2. wireguard-go, MTU 1280 (device names are unique: the UAPI socket /var/run/wireguard/<name>.sock is not per namespace).
    if (want('wireguard-go')) {
      o.log('path wireguard-go (Debian, MTU 1280)');
      await wireguardGo(o, work, c, procs);
    }

    // 3. The ceiling: the minimal Node tunnel loop (src/ceiling/), TCP cases only.
    if (want('ceiling')) {
      o.log(`path ceiling (minimal Node tunnel loop: TUN offloads, UDP GSO/GRO, fixed key, ${String(CEILING_THREADS)} thread(s) per side, MTU ${String(CEILING_MTU)})`);
      await ceilingPath(o, work, c, procs);
    } else c.notes.ceiling = 'skipped (BENCH_PATHS)';

    // 4. Postern direct.
    if (want('postern')) {
      o.log('path Postern direct');
      await postern(o, work, c, procs, apps);
    } else c.notes.postern = 'skipped (BENCH_PATHS)';

    // 5. Memory per idle client: a gateway, a minimal portal and N WireGuard initiators.
    if (o.idleClients > 0 && existsSync(join(apps, 'gateway', 'main.js'))) {
      o.log(`idle clients: ${String(o.idleClients)} WireGuard initiators against one postern-gateway`);
      try {
        c.idle = await idleClients({ root: o.root, apps, work, clients: o.idleClients, nodeFlags: NODE_FLAGS, log: o.log });
      } catch (e) {
        c.idleNote = `failed: ${e instanceof Error ? e.message : String(e)}`;
        o.log(`  ${c.idleNote}`);
      }
    } else c.idleNote = o.idleClients > 0 ? 'not available: dist/apps/gateway/main.js missing' : 'skipped (BENCH_IDLE_CLIENTS=0)';
  } finally {
    for (const p of procs.reverse()) await stop(p);
    cleanupLeftovers();
    probeEnd = probe('end');
    // Keep the process logs (counters at shutdown, --trace-gc lines) for a look afterwards.
    const logs = join(o.root, 'dist', 'bench', 'logs');
    rmSync(logs, { recursive: true, force: true });
    mkdirSync(logs, { recursive: true });
    for (const f of readdirSync(work).filter((n) => n.endsWith('.log'))) copyFileSync(join(work, f), join(logs, f));
    rmSync(work, { recursive: true, force: true });
    rmSync(apps, { recursive: true, force: true });
  }
  return buildResults(cases(c), {
    mode: o.quick ? 'quick' : 'full',
    seconds: o.seconds,
    runs: o.runs,
    cpus: cpus().length,
    loadavgStart: loadStart,
    loadavgEnd: loadAverage(),
    ...probeMeta(probeStart, probeEnd),
    wireguardGo: run('dpkg-query', ['-W', '-f=${Version}', 'wireguard-go'], { allowFail: true }).trim() || 'unknown',
    iperf3: (run('iperf3', ['--version'], { allowFail: true }).split('\n')[0] ?? '').trim(),
    posternGateway: versions.gateway,
    posternClient: versions.client,
  }, new Date());
}

/** The host probe's medians for results.json's meta (`hostSealNsStart`, ...; absent when skipped or failed). */
export function probeMeta(start: HostProbe | undefined, end: HostProbe | undefined): Record<string, number> {
  const m: Record<string, number> = {};
  if (start !== undefined) Object.assign(m, { hostSealNsStart: Math.round(start.sealNs), hostJsNsStart: Math.round(start.jsNs) });
  if (end !== undefined) Object.assign(m, { hostSealNsEnd: Math.round(end.sealNs), hostJsNsEnd: Math.round(end.jsNs) });
  return m;
}

/** BENCH_CEILING_MTU: the ceiling devices' MTU (1280, Postern's and the bench's wireguard-go's). */
const CEILING_MTU = Number(process.env['BENCH_CEILING_MTU'] ?? '1280');
/**
 * BENCH_CEILING_THREADS: 2 (default: the main thread runs TUN -> UDP, a worker UDP -> TUN) or 1 (one thread, both
 * directions). 2 made more in 3 of 4 alternating pairs (2026-11-26 15:23-15:34, load 5-11): upload 0.90-2.02 vs
 * 0.96-1.62 Gbit/s.
 */
const CEILING_THREADS = process.env['BENCH_CEILING_THREADS'] === '1' ? 1 : 2;
/** BENCH_CEILING_NODE_FLAGS: extra `node` flags for both ceiling endpoints (e.g. `--cpu-prof --cpu-prof-dir=...`). */
const CEILING_NODE_FLAGS = (process.env['BENCH_CEILING_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);

/** The ceiling path between pbn-client and pbn-gw (tunnel 198.19.3.0/24, UDP port 51830 on the WAN). */
async function ceilingPath(o: BenchOptions, work: string, c: Collected, procs: Started[]): Promise<void> {
  try {
    const script = await bundleCeiling(o.root);
    const pair = await startCeilingPair(
      script,
      [
        { ns: 'pbn-client', dev: 'pbn-ceil-c', wan: '198.19.0.5:51830', addr: '198.19.3.1/24', routes: ['198.19.1.0/24'] },
        { ns: 'pbn-gw', dev: 'pbn-ceil-g', wan: `${GW_WAN}:51830`, addr: '198.19.3.2/24', routes: [] },
      ],
      { logDir: work, mtu: CEILING_MTU, threads: CEILING_THREADS, nodeFlags: CEILING_NODE_FLAGS, procs },
    );
    try {
      c.runs.ceiling = measurePath('ceiling', o, [
        { name: 'client', pid: pair.sides[0].pid },
        { name: 'gateway', pid: pair.sides[1].pid },
      ], { udp: false });
      c.rss['ceiling client'] = peakRssMiB(pair.sides[0].pid) ?? Number.NaN;
      c.rss['ceiling gateway'] = peakRssMiB(pair.sides[1].pid) ?? Number.NaN;
    } finally {
      const [cl, gw] = await pair.stop();
      o.log(`  ceiling client counters: ${JSON.stringify(lastStats(cl))}`);
      o.log(`  ceiling gateway counters: ${JSON.stringify(lastStats(gw))}`);
    }
  } catch (e) {
    c.notes.ceiling = `failed: ${e instanceof Error ? e.message : String(e)}`;
    o.log(`  ${c.notes.ceiling}`);
  }
}

async function wireguardGo(o: BenchOptions, work: string, c: Collected, procs: Started[]): Promise<void> {
  const key = (): { priv: string; pub: string } => {
    const priv = run('wg', ['genkey']).trim();
    return { priv, pub: run('wg', ['pubkey'], { input: priv + '\n' }).trim() };
  };
  const kc = key();
  const kg = key();
  writeFileSync(join(work, 'c.key'), kc.priv + '\n', { mode: 0o600 });
  writeFileSync(join(work, 'g.key'), kg.priv + '\n', { mode: 0o600 });
  const env = { WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'error' };
  // A socket left by a killed wireguard-go would be found at once, `wg` would fail on it and fall back to netlink
  // ("Protocol not supported"): remove stale ones first, then wait for the new ones (up to 10 s on a loaded machine).
  for (const dev of ['pbn-wgg', 'pbn-wgc']) rmSync(`/var/run/wireguard/${dev}.sock`, { force: true });
  const gw = startIn('pbn-gw', ['wireguard-go', '-f', 'pbn-wgg'], join(work, 'wg-gw.log'), env);
  procs.push(gw);
  for (let i = 0; i < 1000 && !existsSync('/var/run/wireguard/pbn-wgg.sock'); i++) await sleep(10);
  nsRun('pbn-gw', ['wg', 'set', 'pbn-wgg', 'private-key', join(work, 'g.key'), 'listen-port', '51820', 'peer', kc.pub, 'allowed-ips', '198.19.2.1/32']);
  nsRun('pbn-gw', ['ip', 'addr', 'add', '198.19.2.2/24', 'dev', 'pbn-wgg']);
  nsRun('pbn-gw', ['ip', 'link', 'set', 'pbn-wgg', 'mtu', '1280', 'up']);
  const prober = await armFirstByteProber();
  const t0 = Date.now();
  const cl = startIn('pbn-client', ['wireguard-go', '-f', 'pbn-wgc'], join(work, 'wg-client.log'), env);
  procs.push(cl);
  prober.go();
  for (let i = 0; i < 1000 && !existsSync('/var/run/wireguard/pbn-wgc.sock'); i++) await sleep(10);
  nsRun('pbn-client', ['wg', 'set', 'pbn-wgc', 'private-key', join(work, 'c.key'), 'peer', kg.pub, 'endpoint', `${GW_WAN}:51820`, 'allowed-ips', '198.19.1.0/24,198.19.2.2/32']);
  nsRun('pbn-client', ['ip', 'addr', 'add', '198.19.2.1/24', 'dev', 'pbn-wgc']);
  nsRun('pbn-client', ['ip', 'link', 'set', 'pbn-wgc', 'mtu', '1280', 'up']);
  nsRun('pbn-client', ['ip', 'route', 'add', '198.19.1.0/24', 'dev', 'pbn-wgc']);
  const fb = await prober.result;
  if (fb instanceof BenchError) throw fb;
  c.setupMs['wireguard-go'] = fb - t0;
  o.log(`  wireguard-go set-up (start to first byte): ${String(c.setupMs['wireguard-go'])} ms`);
  c.runs['wireguard-go'] = measurePath('wireguard-go', o, [
    { name: 'client', pid: cl.pid },
    { name: 'gateway', pid: gw.pid },
  ]);
  c.rss['wireguard-go client'] = peakRssMiB(cl.pid) ?? Number.NaN;
  c.rss['wireguard-go gateway'] = peakRssMiB(gw.pid) ?? Number.NaN;
  if (o.soakSeconds > 0) {
    c.wgIdleRtt = await idlePing('pbn-client', SRV);
    const r = c.wgIdleRtt;
    o.log(r === undefined ? '  wireguard-go idle ping: failed' : `  wireguard-go idle ping RTT: median ${r.medianMs.toFixed(3)} ms, p99 ${r.p99Ms.toFixed(3)} (${String(r.received)}/${String(r.sent)} replies)`);
  }
  await stop(cl);
  await stop(gw);
}

async function postern(o: BenchOptions, work: string, c: Collected, procs: Started[], dist: string): Promise<void> {
  const missing = ['portal', 'relay', 'gateway', 'headless-client'].filter((a) => !existsSync(join(dist, a, 'main.js')));
  if (missing.length > 0) {
    c.notes.postern = `not available: dist/apps/{${missing.join(',')}}/main.js missing (npx nx run-many -t build -p portal relay gateway headless-client)`;
    o.log(`  ${c.notes.postern}`);
    return;
  }
  // Never starting with '-' (the portal's hash-token would take it for an option).
  const tok = (): string => `pbn${randomBytes(24).toString('base64url')}`;
  const gwToken = tok();
  const clientToken = tok();
  const relayToken = tok();
  const hash = (t: string): string => run('node', [join(dist, 'portal', 'main.js'), 'hash-token', t]).trim();
  const config = join(work, 'portal.yaml');
  const writeConfig = (relays: string): void => {
    writeFileSync(
      config,
      `account: {name: Postern Bench, slug: bench}
server: {listen: "198.19.0.2:8080", public_url: "http://198.19.0.2:8080"}
state: {sqlite: ${join(work, 'portal-state.sqlite')}}
dns:
  upstreams: [${SRV}]
groups: [{name: bench}]
users: [{email: bench@example.com, name: Bench, groups: [bench]}]
sites: [{name: lab}]
gateways: [{site: lab, name: bench-gateway, token_hash: "${hash(gwToken)}"}]
clients: [{user: bench@example.com, name: bench-client, token_hash: "${hash(clientToken)}"}]
${relays}
resources:
  - {name: lab-net, type: cidr, address: 198.19.1.0/24, sites: [lab]}
policies: [{group: bench, resource: lab-net}]
`,
    );
  };
  writeConfig(`relays: [{name: bench-relay, token_hash: "${hash(relayToken)}"}]`);
  const api = 'ws://198.19.0.2:8080';
  const portal = startIn('pbn-portal', ['node', join(dist, 'portal', 'main.js'), '--config', config, '--log-format', 'json'], join(work, 'portal.log'));
  procs.push(portal);
  let up = false;
  for (let i = 0; i < 100 && !up; i++) {
    up = nsRun('pbn-portal', ['curl', '-sf', 'http://198.19.0.2:8080/healthz'], { allowFail: true }).length > 0;
    if (!up) await sleep(200);
  }
  if (!up) {
    c.notes.postern = 'not available: the portal did not come up within 20 s';
    return;
  }
  const relay = startIn(
    'pbn-relay',
    [...nodeCommand(join(dist, 'relay', 'main.js'), ['--trace-gc', ...RELAY_NODE_FLAGS]), '--public-ip4-addr', '198.19.0.3', '--api-url', api, '--log-format', 'json', ...(RELAY_BACKEND === undefined ? [] : ['--relay-socket-backend', RELAY_BACKEND])],
    join(work, 'relay.log'),
    { POSTERN_TOKEN: relayToken },
  );
  procs.push(relay);
  nsRun('pbn-gw', ['bash', join(dist, 'gateway', 'setup-forwarding.sh'), 'up']);
  const gwLog = join(work, 'gateway.log');
  const gw = startIn('pbn-gw', [...nodeCommand(join(dist, 'gateway', 'main.js'), ['--trace-gc', ...NODE_FLAGS]), '--log-format', 'json'], gwLog, {
    POSTERN_TOKEN: gwToken,
    POSTERN_API_URL: api,
    POSTERN_ID: 'bench-gateway',
    POSTERN_CONFIG_DIR: join(work, 'gw-config'),
  });
  procs.push(gw);
  if (!(await waitForLog(gwLog, '"TUN configured"', 30_000))) {
    c.notes.postern = 'not available: the gateway did not configure its TUN within 30 s';
    o.log(`  ${c.notes.postern}; log tail: ${readFileSync(gwLog, 'utf8').slice(-800)}`);
    return;
  }
  // Two starts of the client with a code cache of its own (empty at first): the first start of a new install
  // compiles the bundle and writes the V8 code cache 5 s later; every later start (the set-up figure) reads it.
  const codeCache = join(work, 'client-code-cache');
  const startTraced = (log: string): Started =>
    startIn('pbn-client', [...nodeCommand(join(dist, 'headless-client', 'main.js'), ['--trace-gc', ...NODE_FLAGS]), '--dns-control', 'disabled', '--log-format', 'json'], log, {
      POSTERN_TOKEN: clientToken,
      POSTERN_API_URL: api,
      POSTERN_ID: 'bench-client',
      POSTERN_CONFIG_DIR: join(work, 'client-config'),
      POSTERN_CODE_CACHE_DIR: codeCache,
    });
  {
    const coldProber = await armFirstByteProber();
    const t0 = Date.now();
    const first = startTraced(join(work, 'client-first-start.log'));
    procs.push(first);
    coldProber.go();
    const fb = await coldProber.result;
    if (!(fb instanceof BenchError)) {
      c.setupColdMs = fb - t0;
      o.log(`  Postern set-up, first start of the build (cold code cache): ${String(c.setupColdMs)} ms`);
    }
    const end = Date.now() + 10_000;
    while (Date.now() < end && !(existsSync(codeCache) && readdirSync(codeCache).some((f) => f.endsWith('.v8cache')))) await sleep(200);
    await stop(first);
  }
  const clientLog = join(work, 'client.log');
  const prober = await armFirstByteProber();
  const t0 = Date.now();
  const cl = startTraced(clientLog);
  procs.push(cl);
  prober.go();
  const fb = await prober.result;
  if (fb instanceof BenchError) {
    c.notes.postern = `not available: ${fb.message}`;
    o.log(`  ${c.notes.postern}; client log tail: ${readFileSync(clientLog, 'utf8').slice(-800)}`);
    return;
  }
  c.setupMs.postern = fb - t0;
  const clientText = readFileSync(clientLog, 'utf8');
  const connectedAt = logTime(clientText, 'connected to gateway');
  if (connectedAt !== null) c.connectedMs = connectedAt - t0;
  for (const [step, at] of setupMilestones(clientText)) c.setupSteps[step] = at - t0;
  c.setupSteps['first byte'] = fb - t0;
  o.log(`  Postern set-up (client start to first byte): ${String(c.setupMs.postern)} ms`);
  try {
    c.runs.postern = measurePath('postern', o, [
      { name: 'client', pid: cl.pid },
      { name: 'gateway', pid: gw.pid },
    ]);
    if (o.soakSeconds > 0) {
      o.log(`  Postern soak: TCP upload for ${String(o.soakSeconds)} s, RSS sampled every second`);
      c.soak = await soak('pbn-client', SRV, o.soakSeconds, [
        { name: 'client', pid: cl.pid, log: clientLog },
        { name: 'gateway', pid: gw.pid, log: gwLog },
      ]);
      for (const [side, r] of Object.entries(c.soak.rss)) {
        o.log(`  soak ${side}: RSS start ${r.startMiB.toFixed(1)} MiB, end ${r.endMiB.toFixed(1)}, peak ${r.peakMiB.toFixed(1)}, drift after warm-up ${r.driftMiB.toFixed(1)}; GC max ${String(c.soak.gc[side]?.maxMs ?? 'n/a')} ms (${String(c.soak.gc[side]?.count ?? 0)} GCs) at ${c.soak.gbps.toFixed(3)} Gbit/s`);
      }
      const rtt = c.soak.rtt;
      const said = (r: RttStats): string =>
        `median ${r.medianMs.toFixed(3)} ms, p99 ${r.p99Ms.toFixed(3)}, max ${r.maxMs.toFixed(3)} (${String(r.received)}/${String(r.sent)} replies)`;
      o.log(rtt === undefined ? '  soak ping: failed' : `  soak ping RTT through the tunnel: idle ${said(rtt.idle)}; during the upload ${said(rtt.loaded)}`);
    }
  } catch (e) {
    c.notes.postern = `failed during measurement: ${e instanceof Error ? e.message : String(e)}`;
    o.log(`  ${c.notes.postern}`);
  }
  c.rss['postern client'] = peakRssMiB(cl.pid) ?? Number.NaN;
  c.rss['postern gateway'] = peakRssMiB(gw.pid) ?? Number.NaN;
  c.rss['postern relay'] = peakRssMiB(relay.pid) ?? Number.NaN;
  c.rss['postern portal'] = peakRssMiB(portal.pid) ?? Number.NaN;
  await stop(cl);
  const startClient = (log: string): Started =>
    startIn('pbn-client', [...nodeCommand(join(dist, 'headless-client', 'main.js'), NODE_FLAGS), '--dns-control', 'disabled', '--log-format', 'json'], log, {
      POSTERN_TOKEN: clientToken,
      POSTERN_API_URL: api,
      POSTERN_ID: 'bench-client',
      POSTERN_CONFIG_DIR: join(work, 'client-config'),
    });
  if (CASES.includes('tcp')) await relayedPaths(o, work, c, procs, startClient, { portal, relay, writeConfig });
  else c.notes['postern-relay'] = c.notes.coturn = 'skipped (BENCH_CASES without tcp)';
  await stop(gw);
  nsRun('pbn-gw', ['bash', join(dist, 'gateway', 'setup-forwarding.sh'), 'down'], { allowFail: true });
  c.gc['client'] = parseTraceGc(readFileSync(clientLog, 'utf8'));
  c.gc['gateway'] = parseTraceGc(readFileSync(gwLog, 'utf8'));
}

/** Postern relayed through postern-relay, then (postern-relay stopped, the portal reconfigured) through coturn. */
async function relayedPaths(
  o: BenchOptions,
  work: string,
  c: Collected,
  procs: Started[],
  startClient: (log: string) => Started,
  sys: { portal: Started; relay: Started; writeConfig: (relays: string) => void },
): Promise<void> {
  const { portal, relay, writeConfig } = sys;
  await relayed(o, work, c, procs, startClient, { path: 'postern-relay', pid: relay.pid, log: join(work, 'relay.log') });
  // The same through coturn: the portal config now lists coturn (`turn_servers`) instead of the postern-relay
  // token (the relay's connection is closed: relays_presence tells the gateway), postern-relay is stopped.
  await stop(relay);
  const coturn = await startCoturn(o, work, procs);
  if (coturn !== undefined) {
    writeConfig(`relays: []\nturn_servers:\n  - {name: bench-coturn, addresses: ["198.19.0.3:${String(COTURN_PORT)}"], auth: {type: rest, secret: ${COTURN_SECRET}}}`);
    portal.child.kill('SIGHUP');
    if (!(await waitForLog(join(work, 'portal.log'), 'configuration reloaded', 10_000))) c.notes.coturn = 'not available: the portal did not reload its configuration';
    else {
      await sleep(1000); // the gateway allocates on coturn (relays_presence)
      await relayed(o, work, c, procs, startClient, { path: 'coturn', pid: coturn.pid });
    }
    await stop(coturn);
  } else c.notes.coturn = "not available: coturn's turnserver did not start (apt-get install coturn)";
}

/** coturn's port in pbn-relay (postern-relay has 3478). */
const COTURN_PORT = 3479;
/** The TURN REST shared secret of coturn and the portal's `turn_servers` entry (per-device credentials). */
const COTURN_SECRET = 'pbn-bench-coturn-rest-secret';

/**
 * coturn's `turnserver` in pbn-relay, configured fairly: its default threads (one UDP relay thread per CPU),
 * default logging (no --verbose), no TLS/DTLS/CLI, authenticating with the portal's TURN REST credentials
 * (`--use-auth-secret`, realm `firezone`) as a "bring your own TURN" deployment would.
 */
async function startCoturn(o: BenchOptions, work: string, procs: Started[]): Promise<Started | undefined> {
  const log = join(work, 'coturn.log');
  const args = ['turnserver', '-n', '--no-tls', '--no-dtls', '--no-cli', '-L', '198.19.0.3', '--relay-ip', '198.19.0.3', '--listening-port', String(COTURN_PORT)];
  args.push('--use-auth-secret', `--static-auth-secret=${COTURN_SECRET}`, '--realm', 'firezone', '--min-port', '55000', '--max-port', '59999', '--log-file', 'stdout', '--pidfile', join(work, 'turnserver.pid'));
  const p = startIn('pbn-relay', args, log);
  procs.push(p);
  if (await waitForLog(log, 'Total General servers', 10_000)) return p;
  o.log(`  coturn did not start; log tail: ${readFileSync(log, 'utf8').slice(-800)}`);
  await stop(p);
  return undefined;
}

/** nft in pbn-client: every UDP datagram to or from the gateway's WAN address is dropped (ICE must relay). */
const BLOCK_DIRECT = `table inet pbn_block {
  chain out { type filter hook output priority 0; ip daddr ${GW_WAN} meta l4proto udp counter drop; }
  chain in { type filter hook input priority 0; ip saddr ${GW_WAN} meta l4proto udp counter drop; }
}
`;

/**
 * Postern relayed: the client is started again with direct UDP to the gateway blocked, so the only working ICE
 * pair goes through the relay the portal lists (postern-relay, or coturn after the config switch; both at
 * 198.19.0.3). TCP upload and download, same runs as direct; the relay's CPU s/GB over those runs is logged.
 */
async function relayed(
  o: BenchOptions,
  work: string,
  c: Collected,
  procs: Started[],
  startClient: (log: string) => Started,
  via: { path: 'postern-relay' | 'coturn'; pid: number; log?: string },
): Promise<void> {
  const path = via.path;
  o.log(`path Postern relayed through ${path} (direct UDP client <-> gateway dropped by nft)`);
  nsRun('pbn-client', ['nft', '-f', '-'], { input: BLOCK_DIRECT });
  const log = join(work, `client-relayed-${path}.log`);
  try {
    const prober = await armFirstByteProber();
    const t0 = Date.now();
    const cl = startClient(log);
    procs.push(cl);
    prober.go();
    const fb = await prober.result;
    if (fb instanceof BenchError) {
      c.notes[path] = `not available: ${fb.message} with direct UDP blocked`;
      o.log(`  ${c.notes[path] ?? ''}; client log tail: ${readFileSync(log, 'utf8').slice(-800)}`);
      await stop(cl);
      return;
    }
    c.setupMs[path] = fb - t0;
    o.log(`  relayed through ${path} set-up (client start to first byte): ${String(fb - t0)} ms; ${/"path":"relay"/.test(readFileSync(log, 'utf8')) ? 'client logged path relay' : 'no path:relay line in the client log'}`);
    const m: PathMeasure = { tcpUp: [], tcpDown: [], tcp4: [], udpPps: [], cpuPerGb: {} };
    let bytes = 0;
    const cpu0 = cpuSeconds(via.pid);
    const age0 = processAgeMs(via.pid);
    /** Each iperf3 run's span in the relay's life, without its first RELAY_WARMUP_MS (the flow's start). */
    const steady: GcWindow[] = [];
    for (const [name, into, extra] of [['TCP upload', m.tcpUp, []], ['TCP download', m.tcpDown, ['-R']]] as const) {
      for (let i = 0; i < o.runs; i++) {
        const from = processAgeMs(via.pid) + RELAY_WARMUP_MS;
        const r = iperf(o.seconds, extra);
        steady.push({ fromMs: from, toMs: processAgeMs(via.pid) });
        into.push(r.bitsPerSecond / 1e9);
        bytes += (r.bitsPerSecond / 8) * o.seconds;
        o.log(`  ${path} ${name} run ${String(i + 1)}: ${(r.bitsPerSecond / 1e9).toFixed(3)} Gbit/s (load ${loadAverage()})`);
      }
    }
    if (via.log !== undefined) {
      // the relay's GC pauses while iperf3 ran through it (its main thread's isolate)
      const text = readFileSync(via.log, 'utf8');
      const isolate = mainIsolate(text);
      c.gc['relay'] = parseTraceGc(text, { fromMs: age0, toMs: processAgeMs(via.pid) }, isolate);
      c.gc['relay-steady'] = parseTraceGc(text, steady, isolate);
    }
    const relayCpu = cpuSeconds(via.pid) - cpu0;
    m.cpuPerGb['relay'] = [relayCpu / (bytes / 1e9)];
    o.log(`  ${path} process: ${relayCpu.toFixed(1)} CPU s over the relayed runs, ${(relayCpu / (bytes / 1e9)).toFixed(2)} CPU s/GB`);
    c.runs[path] = m;
    // proof that nothing went direct: the drop counters only count what the client tried before ICE settled
    o.log(`  nft drops in pbn-client: ${nsRun('pbn-client', ['nft', 'list', 'table', 'inet', 'pbn_block'], { allowFail: true }).match(/packets \d+/g)?.join(', ') ?? '?'}`);
    await stop(cl);
  } catch (e) {
    c.notes[path] = `failed during measurement: ${e instanceof Error ? e.message : String(e)}`;
    o.log(`  ${c.notes[path] ?? ''}`);
  } finally {
    nsRun('pbn-client', ['nft', 'delete', 'table', 'inet', 'pbn_block'], { allowFail: true });
  }
}

/** Paths that only have their own relayed cases (not the direct-path rows). */
const RELAYED: ReadonlySet<string> = new Set<PathName>(['postern-relay', 'coturn']);

function cases(c: Collected): CaseInput[] {
  const notes = (extra: Partial<Record<PathName, string>> = {}): Partial<Record<PathName, string>> => ({ ...extra, ...(c.notes.postern !== undefined ? { postern: c.notes.postern } : {}) });
  const ceilingNote = c.notes.ceiling !== undefined ? { ceiling: c.notes.ceiling } : {};
  const tp = (name: string, pick: (m: PathMeasure) => number[], unit = 'Gbit/s'): CaseInput => ({
    name,
    unit,
    better: 'higher',
    posternPath: 'postern',
    referencePath: 'wireguard-go',
    runs: Object.fromEntries(Object.entries(c.runs).filter(([p]) => !RELAYED.has(p)).map(([p, m]) => [p, pick(m)])),
    notes: notes(unit === 'Gbit/s' ? ceilingNote : {}),
    chart: true,
  });
  const out: CaseInput[] = [
    tp('TCP upload', (m) => m.tcpUp),
    tp('TCP download (-R)', (m) => m.tcpDown),
    tp('TCP 4 streams (-P 4)', (m) => m.tcp4),
    tp('UDP loss-free rate', (m) => m.udpPps, 'packets/s'),
    ...(['TCP upload', 'TCP download (-R)'] as const).map((name): CaseInput => ({
      name: `${name}, relayed`,
      unit: 'Gbit/s',
      better: 'higher',
      posternPath: 'postern-relay',
      referencePath: 'coturn',
      runs: Object.fromEntries(
        (['postern-relay', 'coturn'] as const).flatMap((p) => {
          const m = c.runs[p];
          return m === undefined ? [] : [[p, name === 'TCP upload' ? m.tcpUp : m.tcpDown]];
        }),
      ),
      notes: Object.fromEntries((['postern-relay', 'coturn'] as const).flatMap((p) => (c.notes[p] === undefined ? [] : [[p, c.notes[p]]]))),
      chart: true,
    })),
    {
      name: 'relay process CPU per GB relayed (TCP up + down runs)',
      unit: 'CPU s/GB',
      better: 'lower',
      posternPath: 'postern-relay',
      referencePath: 'coturn',
      runs: Object.fromEntries(
        (['postern-relay', 'coturn'] as const).flatMap((p) => {
          const v = c.runs[p]?.cpuPerGb['relay'];
          return v === undefined ? [] : [[p, v]];
        }),
      ),
      notes: Object.fromEntries((['postern-relay', 'coturn'] as const).flatMap((p) => (c.notes[p] === undefined ? [] : [[p, c.notes[p]]]))),
    },
    {
      name: "set-up: client start to 'connected to gateway' (client log)",
      unit: 'ms',
      better: 'lower',
      posternPath: 'postern',
      referencePath: 'wireguard-go',
      runs: c.connectedMs === undefined ? {} : { postern: [c.connectedMs] },
      notes: notes({ 'wireguard-go': 'no such log line' }),
    },
    {
      name: 'set-up: start to first byte',
      unit: 'ms',
      better: 'lower',
      posternPath: 'postern',
      referencePath: 'wireguard-go',
      runs: Object.fromEntries(Object.entries(c.setupMs).map(([p, v]) => [p, [v]])),
      notes: notes(),
    },
    {
      name: 'set-up: start to first byte, first start of a new build (cold V8 code cache)',
      unit: 'ms',
      better: 'lower',
      posternPath: 'postern',
      referencePath: 'wireguard-go',
      runs: c.setupColdMs === undefined ? {} : { postern: [c.setupColdMs] },
      notes: notes({ 'wireguard-go': 'a compiled binary: no cache' }),
    },
  ];
  for (const side of ['client', 'gateway']) {
    out.push({
      name: `CPU per GB, ${side} side (all TCP runs)`,
      unit: 'CPU s/GB',
      better: 'lower',
      posternPath: 'postern',
      referencePath: 'wireguard-go',
      runs: Object.fromEntries(Object.entries(c.runs).filter(([p]) => p !== 'veth' && !RELAYED.has(p)).map(([p, m]) => [p, m.cpuPerGb[side] ?? []])),
      notes: notes(),
    });
    out.push({
      name: `peak RSS, ${side}`,
      unit: 'MiB',
      better: 'lower',
      posternPath: 'postern',
      referencePath: 'wireguard-go',
      runs: {
        ...(c.rss[`wireguard-go ${side}`] !== undefined ? { 'wireguard-go': [c.rss[`wireguard-go ${side}`] ?? Number.NaN] } : {}),
        ...(c.rss[`postern ${side}`] !== undefined ? { postern: [c.rss[`postern ${side}`] ?? Number.NaN] } : {}),
        ...(c.rss[`ceiling ${side}`] !== undefined ? { ceiling: [c.rss[`ceiling ${side}`] ?? Number.NaN] } : {}),
      },
      notes: notes(),
    });
  }
  for (const proc of ['relay', 'portal']) {
    const v = c.rss[`postern ${proc}`];
    out.push({ name: `peak RSS, ${proc}`, unit: 'MiB', better: 'lower', posternPath: 'postern', referencePath: 'wireguard-go', runs: v === undefined ? {} : { postern: [v] }, notes: notes({ 'wireguard-go': 'no counterpart' }) });
  }
  for (const side of ['client', 'gateway']) {
    const g = c.gc[side];
    const gcNote = notes({ 'wireguard-go': 'Go runtime: not measured' });
    out.push({ name: `GC max pause, ${side} (node --trace-gc, whole run, all isolates)`, unit: 'ms', better: 'lower', posternPath: 'postern', referencePath: 'wireguard-go', runs: g === undefined ? {} : { postern: [g.maxMs] }, notes: gcNote });
    out.push({ name: `GC total pause, ${side} (${g === undefined ? '?' : String(g.count)} GCs, whole run)`, unit: 'ms', better: 'lower', posternPath: 'postern', referencePath: 'wireguard-go', runs: g === undefined ? {} : { postern: [g.totalMs] }, notes: gcNote });
  }
  for (const [key, what] of [
    ['relay', 'while iperf3 ran through it'],
    ['relay-steady', `the same without each run's first ${String(RELAY_WARMUP_MS / 1000)} s (a flow's start)`],
  ] as const) {
    const rg = c.gc[key];
    out.push({
      name: `GC max pause, relay, ${what} (${rg === undefined ? '?' : String(rg.count)} GCs, main isolate)`,
      unit: 'ms',
      better: 'lower',
      posternPath: 'postern-relay',
      referencePath: 'coturn',
      runs: rg === undefined ? {} : { 'postern-relay': [rg.maxMs] },
      notes: { coturn: 'C: no GC' },
    });
  }
  out.push(...soakCases(c));
  const idleNote = c.idle === undefined ? { postern: c.idleNote ?? 'not measured' } : {};
  out.push({
    name: `gateway RSS growth per idle connected client (${String(c.idle?.clients ?? '?')} simulated, ${String(c.idle?.connected ?? 0)} connected)`,
    unit: 'KiB',
    better: 'lower',
    posternPath: 'postern',
    referencePath: 'wireguard-go',
    runs: c.idle === undefined ? {} : { postern: [c.idle.perClientKiB] },
    notes: { 'wireguard-go': 'not measured', ...idleNote },
  });
  out.push({
    name: 'idle clients: gateway RSS before / after (MiB), all handshakes done in (ms)',
    unit: 'MiB / MiB / ms',
    better: 'lower',
    posternPath: 'postern',
    referencePath: 'wireguard-go',
    runs: c.idle === undefined ? {} : { postern: [c.idle.afterMiB] },
    notes: { 'wireguard-go': 'not measured', ...(c.idle === undefined ? idleNote : { postern: `before ${c.idle.baselineMiB.toFixed(1)}, after ${c.idle.afterMiB.toFixed(1)}, handshakes ${String(Math.round(c.idle.handshakeMs))} ms` }) },
  });
  for (const [step, ms] of Object.entries(c.setupSteps)) {
    out.push({ name: `set-up step: client start to '${step}'`, unit: 'ms', better: 'lower', posternPath: 'postern', referencePath: 'wireguard-go', runs: { postern: [ms] }, notes: notes({ 'wireguard-go': 'no such step' }) });
  }
  return out;
}

function soakCases(c: Collected): CaseInput[] {
  const k = c.soak;
  const missing = k === undefined ? 'not measured (soak skipped or failed)' : undefined;
  const label = k === undefined ? 'soak' : `${String(k.seconds)} s iperf3 upload at ${k.gbps.toFixed(2)} Gbit/s`;
  const none = { 'wireguard-go': 'not measured' };
  const out: CaseInput[] = [];
  for (const side of ['client', 'gateway']) {
    const r = k?.rss[side];
    const g = k?.gc[side];
    const one = (name: string, unit: string, v: number | undefined): CaseInput => ({
      name,
      unit,
      better: 'lower',
      posternPath: 'postern',
      referencePath: 'wireguard-go',
      runs: v === undefined ? {} : { postern: [v] },
      notes: { ...none, ...(missing === undefined ? {} : { postern: missing }) },
    });
    out.push(one(`RSS during ${label}, ${side}: start`, 'MiB', r?.startMiB));
    out.push(one(`RSS during ${label}, ${side}: end`, 'MiB', r?.endMiB));
    out.push(one(`RSS during ${label}, ${side}: peak`, 'MiB', r?.peakMiB));
    out.push(one(`RSS during ${label}, ${side}: growth after the first 10 %`, 'MiB', r?.driftMiB));
    out.push(one(`GC max pause during ${label}, ${side} (${String(g?.count ?? 0)} GCs)`, 'ms', g?.maxMs));
    out.push(one(`GC total pause during ${label}, ${side}`, 'ms', g?.totalMs));
  }
  const rtt = k?.rtt;
  const pingNotes = { ...none, ...(rtt === undefined ? { postern: missing ?? 'ping failed' } : {}) };
  const wg = c.wgIdleRtt;
  for (const [when, r, ref] of [['idle, just before the upload', rtt?.idle, wg], [`during ${label}`, rtt?.loaded, undefined]] as const) {
    const lost = r === undefined ? '' : `, ${String(r.sent - r.received)} of ${String(r.sent)} lost`;
    for (const [what, key] of [['median', 'medianMs'], ['99th percentile', 'p99Ms']] as const) {
      const runs = { ...(r === undefined ? {} : { postern: [r[key]] }), ...(ref === undefined ? {} : { 'wireguard-go': [ref[key]] }) };
      const rowNotes = ref === undefined ? pingNotes : Object.fromEntries(Object.entries(pingNotes).filter(([p]) => p !== 'wireguard-go'));
      out.push({ name: `ping RTT client -> server through the tunnel, ${when}: ${what}${lost}`, unit: 'ms', better: 'lower', posternPath: 'postern', referencePath: 'wireguard-go', runs, notes: rowNotes });
    }
  }
  return out;
}
