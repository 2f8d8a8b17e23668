// A whole Postern deployment in network namespaces for the fault suites (prefix pft, 198.18.64.0/20):
//
//   pft-wan: bridge br0, 198.18.64.0/24 (the underlay)
//     ├── pft-portal 198.18.64.2  postern-portal (:8080)
//     ├── pft-relay  198.18.64.3  postern-relay (:3478)
//     ├── pft-gw     198.18.64.4  postern-gateway ── lan0 198.18.65.1 ──┐
//     └── pft-cl     198.18.64.6  postern-client (TUN, curl)              │
//   pft-srv: bridge br0, 198.18.65.0/24 and 198.18.66.0/24 ────────────────┘
//     file server 198.18.65.10:80 (resource "lab"), 198.18.66.10:80 (resource "extra", no policy at first)
//
// The apps are the release bundles (dist/apps/*, rebuilt unless POSTERN_FAULTS_SKIP_BUILD=1), run as real
// processes with `ip netns exec ns env ... node main.js`, so each child's pid is the app's own (for /proc).
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netns, removeLeftovers, run } from '@postern/testing';

export const ROOT = join(import.meta.dirname, '../../../..');
export const DIST = join(ROOT, 'dist/apps');
export const PREFIX = 'pft';
export const PORTAL_IP = '198.18.64.2';
export const RELAY_IP = '198.18.64.3';
export const GATEWAY_IP = '198.18.64.4';
export const CLIENT_IP = '198.18.64.6';
export const SERVER_IP = '198.18.65.10';
export const EXTRA_IP = '198.18.66.10';
export const API = `ws://${PORTAL_IP}:8080`;
const TOKENS = { gateway: 'pft-gateway-token', client: 'pft-client-token', relay: 'pft-relay-token' };

export type Component = 'portal' | 'relay' | 'gateway' | 'client';

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  output: string;
}

export interface Download {
  readonly ok: boolean;
  readonly sha256: string;
  readonly bytes: number;
  readonly error: string;
  readonly ms: number;
}

export function buildApps(apps: readonly string[]): void {
  if (process.env['POSTERN_FAULTS_SKIP_BUILD'] === '1') return;
  for (const app of apps) execFileSync(process.execPath, [join(ROOT, 'tools/scripts/build-app.mjs')], { cwd: join(ROOT, 'apps', app), stdio: 'pipe' });
}

export function count(p: Proc | undefined, re: RegExp): number {
  return p === undefined ? 0 : (p.output.match(new RegExp(re.source, 'g')) ?? []).length;
}

export async function waitFor(what: string, f: () => boolean | Promise<boolean>, timeoutMs = 20_000, stepMs = 100): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await f()) return performance.now() - start;
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface WorldOptions {
  /** Extra flags for the client (e.g. --dns-control etc-resolv-conf). */
  readonly clientArgs?: readonly string[];
  /** Files served by the resource server: name -> size in bytes (random content). */
  readonly files?: Readonly<Record<string, number>>;
  /** Start the relay too. */
  readonly relay?: boolean;
  /** A command the client runs under (e.g. `unshare -m ... sh -c '...; exec "$@"' sh`), see dns-crash.e2e.ts. */
  readonly clientWrap?: readonly string[];
}

export class FaultWorld {
  readonly ns = new Map<string, Netns>();
  readonly procs = new Map<string, Proc>();
  private readonly all: Proc[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), 'postern-pft-'));
  readonly config = join(this.dir, 'portal.yaml');
  readonly www = join(this.dir, 'www');
  /** sha256 of each served file. */
  readonly sha = new Map<string, string>();
  private hashes: Record<keyof typeof TOKENS, string> = { gateway: '', client: '', relay: '' };
  private policies: string[] = ['lab'];

  private constructor(private readonly opts: WorldOptions) {}

  static async create(opts: WorldOptions = {}): Promise<FaultWorld> {
    removeLeftovers(PREFIX);
    const w = new FaultWorld(opts);
    try {
      await w.setup();
    } catch (err) {
      await w.destroy();
      throw err;
    }
    return w;
  }

  private async setup(): Promise<void> {
    const hash = (t: string): string => execFileSync(process.execPath, [join(DIST, 'portal/main.js'), 'hash-token', t], { encoding: 'utf8' }).trim();
    this.hashes = { gateway: hash(TOKENS.gateway), client: hash(TOKENS.client), relay: hash(TOKENS.relay) };
    this.writeConfig();
    mkdirSync(this.www);
    for (const [name, size] of Object.entries(this.opts.files ?? {})) {
      const data = randomBytes(size);
      writeFileSync(join(this.www, name), data);
      this.sha.set(name, createHash('sha256').update(data).digest('hex'));
    }
    for (const n of ['wan', 'portal', 'relay', 'gw', 'cl', 'srv']) this.ns.set(n, await Netns.create(`${PREFIX}-${n}`));
    for (const n of ['wan', 'srv']) {
      await this.get(n).exec('ip', ['link', 'add', 'br0', 'type', 'bridge']);
      await this.get(n).exec('ip', ['link', 'set', 'br0', 'up']);
    }
    for (const a of [`${SERVER_IP}/24`, `${EXTRA_IP}/24`]) await this.get('srv').exec('ip', ['addr', 'add', a, 'dev', 'br0']);
    const wan: [string, string][] = [
      ['portal', PORTAL_IP],
      ['relay', RELAY_IP],
      ['gw', GATEWAY_IP],
      ['cl', CLIENT_IP],
    ];
    for (const [n, ip] of wan) await this.attach('wan', `v-${n}`, n, 'wan0', `${ip}/24`);
    await this.attach('srv', 'v-gw', 'gw', 'lan0', '198.18.65.1/24');
    await this.get('gw').exec('ip', ['route', 'add', '198.18.66.0/24', 'dev', 'lan0']);
    await this.get('gw').exec('bash', [join(ROOT, 'apps/gateway/packaging/setup-forwarding.sh'), 'up']);
    const server = join(import.meta.dirname, 'file-server.mjs');
    for (const ip of [SERVER_IP, EXTRA_IP]) this.spawn(`srv-${ip}`, 'srv', [process.execPath, server, ip, '80', this.www]);
    this.start('portal');
    await waitFor('the portal', async () => (await this.curlText('portal', `http://${PORTAL_IP}:8080/healthz`, 1)).ok, 20_000, 200);
    if (this.opts.relay === true) this.start('relay');
    this.start('gateway');
    await waitFor('the gateway to configure its TUN', () => this.out('gateway').includes('"TUN configured"'), 30_000);
    this.start('client');
    await waitFor('the client to configure its TUN', () => this.out('client').includes('"TUN configured"'), 30_000);
  }

  private async attach(bridgeNs: string, veth: string, ns: string, inner: string, addr: string): Promise<void> {
    await run('ip', ['link', 'add', veth, 'netns', `${PREFIX}-${bridgeNs}`, 'type', 'veth', 'peer', 'name', inner, 'netns', `${PREFIX}-${ns}`]);
    await this.get(bridgeNs).exec('ip', ['link', 'set', veth, 'master', 'br0', 'up']);
    await this.get(ns).exec('ip', ['addr', 'add', addr, 'dev', inner]);
    await this.get(ns).exec('ip', ['link', 'set', inner, 'up']);
  }

  get(name: string): Netns {
    const n = this.ns.get(name);
    if (n === undefined) throw new Error(`no namespace ${name}`);
    return n;
  }

  /** The live output of a component (empty if it never ran). */
  out(name: string): string {
    return this.procs.get(name)?.output ?? '';
  }

  /** Runs `argv` in namespace `ns` (pid = the program's: ip netns exec and env exec in place). */
  spawn(name: string, ns: string, argv: readonly string[], env: Readonly<Record<string, string>> = {}): Proc {
    const [cmd, ...args] = [...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv];
    const child = this.get(ns).spawn('env', [cmd ?? 'true', ...args]);
    const p: Proc = { name, child, output: '' };
    const append = (b: Buffer): void => {
      p.output += b.toString('utf8');
      if (p.output.length > 4_000_000) p.output = p.output.slice(-2_000_000);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    this.procs.set(name, p);
    this.all.push(p);
    return p;
  }

  start(c: Component): Proc {
    switch (c) {
      case 'portal':
        return this.spawn('portal', 'portal', [process.execPath, join(DIST, 'portal/main.js'), '--config', this.config, '--state', join(this.dir, 'portal.sqlite'), '--log-format', 'json']);
      case 'relay':
        return this.spawn('relay', 'relay', [process.execPath, join(DIST, 'relay/main.js'), '--public-ip4-addr', RELAY_IP, '--api-url', API, '--log-format', 'json', '--allowed-peer-ip', '198.18.64.0/20', '--health-check-addr', '127.0.0.1:8080'], {
          POSTERN_TOKEN: TOKENS.relay,
        });
      case 'gateway':
        return this.spawn('gateway', 'gw', [process.execPath, join(DIST, 'gateway/main.js'), '--log-format', 'json', '--health-check-addr', '127.0.0.1:8080'], {
          POSTERN_API_URL: API,
          POSTERN_TOKEN: TOKENS.gateway,
          POSTERN_ID: 'pft-gateway',
          POSTERN_CONFIG_DIR: join(this.dir, 'gateway'),
        });
      case 'client':
        return this.spawn('client', 'cl', [...(this.opts.clientWrap ?? []), process.execPath, join(DIST, 'headless-client/main.js'), '--log-format', 'json', ...(this.opts.clientArgs ?? ['--dns-control', 'disabled'])], {
          POSTERN_API_URL: API,
          POSTERN_TOKEN: TOKENS.client,
          POSTERN_ID: 'pft-client',
          POSTERN_CONFIG_DIR: join(this.dir, 'client'),
        });
    }
  }

  /** SIGKILL (a crash) or SIGTERM (graceful) and wait for the exit. */
  async stop(c: Component, signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    const p = this.procs.get(c);
    if (p === undefined || p.child.exitCode !== null || p.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => p.child.once('exit', () => { resolve(); }));
    p.child.kill(signal);
    await exited;
  }

  pid(c: string): number {
    const pid = this.procs.get(c)?.child.pid;
    if (pid === undefined) throw new Error(`${c} is not running`);
    return pid;
  }

  /** Rewrites the portal config (the portal reloads on file change). */
  setPolicies(resources: readonly string[]): void {
    this.policies = [...resources];
    this.writeConfig();
  }

  private writeConfig(): void {
    const policies = this.policies.map((r) => `  - {group: eng, resource: ${r}}`).join('\n');
    writeFileSync(
      this.config,
      `account: {name: faults, slug: faults}
server: {listen: "${PORTAL_IP}:8080", public_url: "http://${PORTAL_IP}:8080"}
dns: {upstreams: [${SERVER_IP}]}
groups: [{name: eng}]
users: [{email: a@example.com, groups: [eng]}]
sites: [{name: lab}]
gateways: [{site: lab, name: gw, token_hash: "${this.hashes.gateway}"}]
clients: [{user: a@example.com, name: cl, token_hash: "${this.hashes.client}"}]
relays: [{name: relay, token_hash: "${this.hashes.relay}"}]
resources:
  - {name: lab, type: cidr, address: 198.18.65.0/24, sites: [lab]}
  - {name: extra, type: cidr, address: 198.18.66.0/24, sites: [lab]}
policies:
${policies}
`,
    );
  }

  async curlText(ns: string, url: string, maxTimeS = 3): Promise<{ ok: boolean; body: string; error: string }> {
    try {
      const body = await this.get(ns).exec('curl', ['-sS', '--max-time', String(maxTimeS), url], { timeoutMs: (maxTimeS + 2) * 1000 });
      return { ok: true, body, error: '' };
    } catch (err) {
      return { ok: false, body: '', error: err instanceof Error ? err.message : String(err) };
    }
  }

  /** Downloads a served file from the client namespace through the tunnel and hashes what arrived. */
  async download(file: string, o: { maxTimeS: number; limitRate?: string; host?: string }): Promise<Download> {
    const target = join(this.dir, `dl-${file}-${String(Math.random()).slice(2)}`);
    const start = performance.now();
    const args = ['-sS', '--max-time', String(o.maxTimeS), '-o', target, ...(o.limitRate === undefined ? [] : ['--limit-rate', o.limitRate]), `http://${o.host ?? SERVER_IP}/${file}`];
    let error = '';
    try {
      await this.get('cl').exec('curl', args, { timeoutMs: (o.maxTimeS + 5) * 1000 });
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    const ms = performance.now() - start;
    let data: Buffer;
    try {
      data = readFileSync(target);
    } catch {
      data = Buffer.alloc(0);
    }
    rmSync(target, { force: true });
    const sha256 = createHash('sha256').update(data).digest('hex');
    return { ok: error === '' && sha256 === this.sha.get(file), sha256, bytes: data.length, error, ms };
  }

  /** Logs of every process (for a failing test: POSTERN_E2E_DUMP=1). */
  dump(): string {
    return this.all.map((p) => `--- ${p.name}\n${p.output.slice(-5000)}`).join('\n');
  }

  async destroy(): Promise<void> {
    if (process.env['POSTERN_E2E_DUMP'] === '1') console.log(this.dump());
    for (const p of this.all) p.child.kill('SIGKILL');
    for (const n of this.ns.values()) await n.destroy();
    removeLeftovers(PREFIX);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
