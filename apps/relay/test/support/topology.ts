// Real-network test support: two namespaces (relays / clients+peer), a veth from the root namespace to the
// relay namespace (for in-process test clients), postern-relay bundled from source, coturn's turnserver,
// turnutils_peer (echo) and turnutils_uclient. Everything carries the `prl` prefix and is removed afterwards.
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { keepLogs, link, Netns, removeLeftovers, run } from '@postern/testing';

export const PREFIX = 'prl';
export const RELAY_IP = '198.18.16.1';
export const CLIENT_IP = '198.18.16.2';
export const PEER_IP = '198.18.16.3';
/** The root namespace's address towards the relay namespace, and the relay namespace's on that link. */
export const HOST_IP = '198.18.16.129';
export const RELAY_HOST_SIDE_IP = '198.18.16.130';
export const POSTERN_PORT = 3478;
export const COTURN_PORT = 3479;
export const PEER_PORT = 3480;
export const USER = 'prluser';
/** Long enough for check-secrets (registerSecret refuses fewer than 8 characters). */
export const PASSWORD = 'prl-relay-password-4c1e';

const ROOT = join(import.meta.dirname, '..', '..', '..', '..');

export interface Topology {
  readonly relayNs: Netns;
  readonly clientNs: Netns;
  readonly bundle: string;
  readonly procs: ChildProcess[];
  /** Where the output of every process started on this topology is kept (libs/testing keepLogs), if anywhere. */
  readonly logs?: { readonly suite: string; readonly prefix: string };
  destroy(): Promise<void>;
}

/** Bundles apps/relay/src/main.ts (as the release build does) inside the repo so that koffi resolves. */
export async function bundleRelay(name: string): Promise<string> {
  const dir = join(ROOT, 'dist', 'test', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'main.js');
  await build({
    entryPoints: [join(ROOT, 'apps', 'relay', 'src', 'main.ts')],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
    external: ['koffi', 'better-sqlite3'],
    define: { POSTERN_BUILD_INFO: JSON.stringify({ binary: 'postern-relay', version: '0.0.0-test', gitSha: 'test' }) },
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  copyFileSync(join(ROOT, 'libs', 'connlib', 'socket-factory', 'src', 'udp-recv.worker.mjs'), join(dir, 'udp-recv.worker.mjs'));
  return file;
}

/** `keepLogs`: keep every process's output under <test logs>/relay/<name>-<process>.log (for check-secrets). */
export async function createTopology(name: string, opts: { keepLogs?: boolean } = {}): Promise<Topology> {
  removeLeftovers(PREFIX);
  const bundle = await bundleRelay(name);
  const relayNs = await Netns.create(`${PREFIX}-relay`);
  const clientNs = await Netns.create(`${PREFIX}-cli`);
  await link(relayNs, `${RELAY_IP}/25`, clientNs, `${CLIENT_IP}/25`, { a: `${PREFIX}-r0`, b: `${PREFIX}-c0` });
  await clientNs.exec('ip', ['addr', 'add', `${PEER_IP}/25`, 'dev', `${PREFIX}-c0`]);
  await run('ip', ['link', 'add', `${PREFIX}-h0`, 'type', 'veth', 'peer', 'name', `${PREFIX}-r1`, 'netns', relayNs.name]);
  await run('ip', ['addr', 'add', `${HOST_IP}/30`, 'dev', `${PREFIX}-h0`]);
  await run('ip', ['link', 'set', `${PREFIX}-h0`, 'up']);
  await relayNs.exec('ip', ['addr', 'add', `${RELAY_HOST_SIDE_IP}/30`, 'dev', `${PREFIX}-r1`]);
  await relayNs.exec('ip', ['link', 'set', `${PREFIX}-r1`, 'up']);
  const procs: ChildProcess[] = [];
  return {
    relayNs,
    clientNs,
    bundle,
    procs,
    ...(opts.keepLogs === true ? { logs: { suite: 'relay', prefix: name } } : {}),
    async destroy() {
      for (const p of procs) p.kill('SIGKILL');
      await relayNs.destroy();
      await clientNs.destroy();
      removeLeftovers(PREFIX);
    },
  };
}

/** Waits until `check` resolves true (polling), or throws after `timeoutMs`. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function collectOutput(t: Topology, p: ChildProcess, name: string): { text: () => string } {
  if (t.logs) keepLogs(p, t.logs.suite, `${t.logs.prefix}-${name}`);
  let out = '';
  p.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  p.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  return { text: () => out };
}

export async function startPostern(t: Topology, extra: readonly string[] = []): Promise<{ proc: ChildProcess; output: () => string }> {
  const proc = t.relayNs.spawn(process.execPath, [
    t.bundle,
    '--no-portal',
    '--public-ip4-addr',
    RELAY_IP,
    '--listen-port',
    String(POSTERN_PORT),
    '--lowest-port',
    '50000',
    '--highest-port',
    '50999',
    '--user',
    `${USER}:${PASSWORD}`,
    '--health-check-addr',
    `${RELAY_HOST_SIDE_IP}:8080`,
    '--metrics-addr',
    `${RELAY_HOST_SIDE_IP}:9090`,
    '--log-format',
    'json',
    ...extra,
  ]);
  t.procs.push(proc);
  const o = collectOutput(t, proc, 'postern-relay');
  await waitFor('postern-relay /healthz', async () => (await fetch(`http://${RELAY_HOST_SIDE_IP}:8080/healthz`)).ok);
  return { proc, output: o.text };
}

export async function startCoturn(t: Topology): Promise<ChildProcess> {
  const proc = t.relayNs.spawn('turnserver', [
    '-n',
    '--no-tls',
    '--no-dtls',
    '--no-cli',
    '-L',
    RELAY_IP,
    '-L',
    RELAY_HOST_SIDE_IP,
    '--relay-ip',
    RELAY_IP,
    '--listening-port',
    String(COTURN_PORT),
    '--lt-cred-mech',
    '--user',
    `${USER}:${PASSWORD}`,
    '--realm',
    'firezone',
    '--min-port',
    '40000',
    '--max-port',
    '40999',
    '--log-file',
    'stdout',
    '--simple-log',
    '--pidfile',
    `/tmp/${PREFIX}-turnserver-${process.pid}.pid`,
  ]);
  t.procs.push(proc);
  const o = collectOutput(t, proc, 'turnserver');
  await waitFor('coturn to listen', () => Promise.resolve(/Total (UDP|General) servers|listener opened on|IPv4\. UDP listener/i.test(o.text())), 10_000).catch(
    async () => {
      await new Promise((r) => setTimeout(r, 1500));
    },
  );
  return proc;
}

export function startPeer(t: Topology): ChildProcess {
  const proc = t.clientNs.spawn('turnutils_peer', ['-L', PEER_IP, '-p', String(PEER_PORT)]);
  t.procs.push(proc);
  if (t.logs) keepLogs(proc, t.logs.suite, `${t.logs.prefix}-turnutils_peer`);
  return proc;
}

export interface UclientResult {
  readonly exitCode: number | null;
  readonly sent: number;
  readonly received: number;
  readonly lost: number;
  readonly wallMs: number;
  readonly output: string;
}

/** Runs turnutils_uclient in the client namespace against `port` on the relay and parses its summary. */
export async function runUclient(t: Topology, port: number, args: readonly string[], opts: { password?: string; timeoutMs?: number } = {}): Promise<UclientResult> {
  const started = performance.now();
  const proc = t.clientNs.spawn('turnutils_uclient', ['-u', USER, '-w', opts.password ?? PASSWORD, '-e', PEER_IP, '-r', String(PEER_PORT), '-p', String(port), ...args, RELAY_IP]);
  const o = collectOutput(t, proc, 'turnutils_uclient');
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 90_000);
  const exitCode = await new Promise<number | null>((resolve) => {
    proc.on('exit', (code) => {
      resolve(code);
    });
  });
  clearTimeout(timer);
  const text = o.text();
  const num = (re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
  return {
    exitCode,
    sent: num(/tot_send_msgs=(\d+), tot_recv_msgs=\d+\n/),
    received: num(/tot_send_msgs=\d+, tot_recv_msgs=(\d+)\n/),
    lost: num(/Total lost packets (\d+)/),
    wallMs: performance.now() - started,
    output: text,
  };
}
