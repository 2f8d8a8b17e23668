// A whole Postern deployment in network namespaces for the fault suites (prefix pft, 198.18.64.0/20):
//
//   pft-wan: bridge br0, 198.18.64.0/24 (the underlay)
//     ├── pft-portal 198.18.64.2  postern-portal (:8080)
//     ├── pft-relay  198.18.64.3  postern-relay (:3478)
//     ├── pft-gw     198.18.64.4  postern-gateway ── lan0 198.18.65.1 ──┐
//     └── pft-cl     198.18.64.6  postern-client (TUN, curl)              │
//   pft-srv: bridge br0, 198.18.65.0/24 - 198.18.67.0/24 ──────────────────┘
//     file server 198.18.65.10:80 (resource "lab"), 198.18.66.10:80 (resource "extra", no policy at first),
//     198.18.67.10:80 (only the Internet resource covers it)
//   with `internet`: pft-wan routes (198.18.64.1, 198.18.68.1); the portal also has 198.18.68.2 (the client's
//   portal URL, reached through its default route)
//
// The apps are the release bundles (dist/apps/*, rebuilt unless POSTERN_FAULTS_SKIP_BUILD=1), run as real
// processes with `ip netns exec ns env ... node main.js`, so each child's pid is the app's own (for /proc).
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keepLogs, Netns, registerSecret, removeLeftovers, run } from '@postern/testing';

export const ROOT = join(import.meta.dirname, '../../../..');
export const DIST = join(ROOT, 'dist/apps');
/**
 * Namespace prefix; POSTERN_FAULTS_PREFIX (3 letters) runs a second world beside CI's (e.g. a 30-min soak as
 * `pfs`): the addresses repeat, but each world lives in its own namespaces.
 */
export const PREFIX = faultsPrefix(process.env['POSTERN_FAULTS_PREFIX']);

function faultsPrefix(v: string | undefined): string {
  if (v === undefined || v === '') return 'pft';
  if (!/^p[a-z]{2}$/.test(v)) throw new Error(`POSTERN_FAULTS_PREFIX must be 'p' and two lowercase letters (e.g. pfs), not ${JSON.stringify(v)}`);
  return v;
}
export const PORTAL_IP = '198.18.64.2';
export const RELAY_IP = '198.18.64.3';
export const GATEWAY_IP = '198.18.64.4';
export const CLIENT_IP = '198.18.64.6';
export const SERVER_IP = '198.18.65.10';
export const EXTRA_IP = '198.18.66.10';
export const API = `ws://${PORTAL_IP}:8080`;
export const PORTAL_FAR_IP = '198.18.68.2';
export const BAD_LINK_CLIENT_IP = '198.18.69.2';
export const INTERNET_IP = '198.18.67.10';
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

/** Newest modification time (ms) of the source files under `dir` (node_modules and tests skipped). */
function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'test' || e.name === 'dist') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (/\.(ts|mjs|json)$/.test(e.name)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds the release bundles that are older than any source of the app or the libs (or missing). */
export function buildApps(apps: readonly string[]): void {
  if (process.env['POSTERN_FAULTS_SKIP_BUILD'] === '1') return;
  const libs = newestSource(join(ROOT, 'libs'));
  const stale = apps.filter((app) => {
    const main = join(DIST, app, 'main.js');
    return !existsSync(main) || statSync(main).mtimeMs < Math.max(libs, newestSource(join(ROOT, 'apps', app)));
  });
  for (const app of stale) execFileSync(process.execPath, [join(ROOT, 'tools/scripts/build-app.mjs')], { cwd: join(ROOT, 'apps', app), stdio: 'pipe' });
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
  /**
   * The Internet resource: the client (`--activate-internet-resource`) reaches the portal at PORTAL_FAR_IP through a
   * router (pft-wan) by its default route, which the Internet resource points into the TUN; the gateway has no
   * route to that address, so a portal connection that entered the tunnel would die. An "Internet" server
   * INTERNET_IP sits behind the gateway.
   */
  readonly internet?: boolean;
  /**
   * A bad link between the client and the rest (user space, see delay-line.mjs: this kernel has no sch_netem):
   * the client moves behind pft-dl (198.18.69.2, default route via 198.18.69.1) whose TUN delays and drops.
   */
  readonly badLink?: { readonly upDelayMs: number; readonly upLossPct: number; readonly downDelayMs: number; readonly downLossPct: number };
  /** A command the client runs under (e.g. `unshare -m ... sh -c '...; exec "$@"' sh`), see dns-crash.e2e.ts. */
  readonly clientWrap?: readonly string[];
  /** Extra `node` flags for portal, relay, gateway and client (e.g. `--trace-gc`). */
  readonly nodeFlags?: readonly string[];
}

const live = new Set<FaultWorld>();

/** Destroys every world still alive (afterAll: also when beforeAll failed half-way). */
export async function destroyWorlds(): Promise<void> {
  for (const w of [...live]) await w.destroy();
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
  private policies: string[];

  private constructor(private readonly opts: WorldOptions) {
    this.policies = opts.internet === true ? ['lab', 'internet'] : ['lab'];
  }

  static async create(opts: WorldOptions = {}): Promise<FaultWorld> {
    removeLeftovers(PREFIX);
    const w = new FaultWorld(opts);
    live.add(w);
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
    for (const [role, token] of Object.entries(TOKENS)) registerSecret(token, `faults ${role} token`);
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
    for (const a of [`${SERVER_IP}/24`, `${EXTRA_IP}/24`, `${INTERNET_IP}/24`]) await this.get('srv').exec('ip', ['addr', 'add', a, 'dev', 'br0']);
    const wan: [string, string][] = [
      ['portal', PORTAL_IP],
      ['relay', RELAY_IP],
      ['gw', GATEWAY_IP],
      ['cl', CLIENT_IP],
    ];
    const bad = this.opts.badLink;
    for (const [n, ip] of wan) if (!(n === 'cl' && bad !== undefined)) await this.attach('wan', `v-${n}`, n, 'wan0', `${ip}/24`);
    if (bad !== undefined) await this.setupBadLink(bad);
    await this.attach('srv', 'v-gw', 'gw', 'lan0', '198.18.65.1/24');
    await this.get('gw').exec('ip', ['route', 'add', '198.18.66.0/24', 'dev', 'lan0']);
    await this.get('gw').exec('ip', ['route', 'add', '198.18.67.0/24', 'dev', 'lan0']);
    if (this.opts.internet === true) {
      const wanNs = this.get('wan');
      for (const a of ['198.18.64.1/24', '198.18.68.1/24']) await wanNs.exec('ip', ['addr', 'add', a, 'dev', 'br0']);
      await wanNs.exec('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
      await this.get('portal').exec('ip', ['addr', 'add', `${PORTAL_FAR_IP}/24`, 'dev', 'wan0']);
      await this.get('portal').exec('ip', ['route', 'add', 'default', 'via', '198.18.68.1']);
      await this.get('cl').exec('ip', ['route', 'add', 'default', 'via', '198.18.64.1']);
    }
    await this.get('gw').exec('bash', [join(ROOT, 'apps/gateway/packaging/setup-forwarding.sh'), 'up']);
    const server = join(import.meta.dirname, 'file-server.mjs');
    for (const ip of [SERVER_IP, EXTRA_IP, INTERNET_IP]) this.spawn(`srv-${ip}`, 'srv', [process.execPath, server, ip, '80', this.www]);
    this.start('portal');
    await waitFor('the portal', async () => (await this.curlText('portal', `http://${PORTAL_IP}:8080/healthz`, 1)).ok, 20_000, 200);
    if (this.opts.relay === true) this.start('relay');
    this.start('gateway');
    await waitFor('the gateway to configure its TUN', () => this.out('gateway').includes('"TUN configured"'), 30_000);
    this.start('client');
    await waitFor('the client to configure its TUN', () => this.out('client').includes('"TUN configured"'), 30_000);
  }

  private async setupBadLink(bad: NonNullable<WorldOptions['badLink']>): Promise<void> {
    this.ns.set('dl', await Netns.create(`${PREFIX}-dl`));
    const dl = this.get('dl');
    await this.attach('wan', 'v-dl', 'dl', 'up0', '198.18.64.7/24');
    await run('ip', ['link', 'add', 'cl0', 'netns', `${PREFIX}-dl`, 'type', 'veth', 'peer', 'name', 'wan0', 'netns', `${PREFIX}-cl`]);
    await dl.exec('ip', ['addr', 'add', '198.18.69.1/24', 'dev', 'cl0']);
    await dl.exec('ip', ['link', 'set', 'cl0', 'up']);
    await this.get('cl').exec('ip', ['addr', 'add', `${BAD_LINK_CLIENT_IP}/24`, 'dev', 'wan0']);
    await this.get('cl').exec('ip', ['link', 'set', 'wan0', 'up']);
    await this.get('cl').exec('ip', ['route', 'add', 'default', 'via', '198.18.69.1']);
    for (const k of ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']) await dl.exec('sysctl', ['-q', '-w', k]);
    // forwarded packets go into the TUN (table 100); what the delay line writes back leaves by the main table
    await dl.exec('ip', ['tuntap', 'add', 'dev', 'dl0', 'mode', 'tun']);
    await dl.exec('sysctl', ['-q', '-w', 'net.ipv4.conf.dl0.rp_filter=0']);
    await dl.exec('ip', ['link', 'set', 'dl0', 'up']);
    await dl.exec('ip', ['route', 'add', 'default', 'dev', 'dl0', 'table', '100']);
    await dl.exec('ip', ['rule', 'add', 'iif', 'dl0', 'lookup', 'main', 'priority', '100']);
    await dl.exec('ip', ['rule', 'add', 'iif', 'up0', 'lookup', '100', 'priority', '200']);
    await dl.exec('ip', ['rule', 'add', 'iif', 'cl0', 'lookup', '100', 'priority', '201']);
    this.spawn('delay-line', 'dl', [process.execPath, join(import.meta.dirname, 'delay-line.mjs'), 'dl0', '198.18.69', ...[bad.upDelayMs, bad.upLossPct, bad.downDelayMs, bad.downLossPct].map(String)]);
    for (const n of ['portal', 'relay', 'gw']) await this.get(n).exec('ip', ['route', 'add', '198.18.69.0/24', 'via', '198.18.64.7']);
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

  /** Calls `fn` with what a component wrote to stdout so far, then with every later chunk. */
  watchStdout(name: string, fn: (chunk: string) => void): void {
    const p = this.procs.get(name);
    if (p === undefined) throw new Error(`${name} is not running`);
    fn(p.output);
    p.child.stdout?.on('data', (b: Buffer) => {
      fn(b.toString('utf8'));
    });
  }

  /** Runs `argv` in namespace `ns` (pid = the program's: ip netns exec and env exec in place). */
  spawn(name: string, ns: string, argv: readonly string[], env: Readonly<Record<string, string>> = {}): Proc {
    const [cmd, ...args] = [...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv];
    const child = this.get(ns).spawn('env', [cmd ?? 'true', ...args]);
    const p: Proc = { name, child, output: '' };
    keepLogs(child, 'faults', name);
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
        return this.spawn('portal', 'portal', [process.execPath, ...this.nodeFlags, join(DIST, 'portal/main.js'), '--config', this.config, '--state', join(this.dir, 'portal.sqlite'), '--log-format', 'json']);
      case 'relay':
        return this.spawn('relay', 'relay', [process.execPath, ...this.nodeFlags, join(DIST, 'relay/main.js'), '--public-ip4-addr', RELAY_IP, '--api-url', API, '--log-format', 'json', '--allowed-peer-ip', '198.18.64.0/20', '--health-check-addr', '127.0.0.1:8080'], {
          POSTERN_TOKEN: TOKENS.relay,
        });
      case 'gateway':
        return this.spawn('gateway', 'gw', [process.execPath, ...this.nodeFlags, join(DIST, 'gateway/main.js'), '--log-format', 'json', '--health-check-addr', '127.0.0.1:8080'], {
          POSTERN_API_URL: API,
          POSTERN_TOKEN: TOKENS.gateway,
          POSTERN_ID: 'pft-gateway',
          POSTERN_CONFIG_DIR: join(this.dir, 'gateway'),
        });
      case 'client':
        return this.spawn('client', 'cl', [...(this.opts.clientWrap ?? []), process.execPath, ...this.nodeFlags, process.env['POSTERN_FAULTS_CLIENT_MAIN'] ?? join(DIST, 'headless-client/main.js'), '--log-format', 'json', ...(this.opts.clientArgs ?? ['--dns-control', 'disabled']), ...(this.opts.internet === true ? ['--activate-internet-resource'] : [])], {
          POSTERN_API_URL: this.opts.internet === true ? `ws://${PORTAL_FAR_IP}:8080` : API,
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

  private get nodeFlags(): readonly string[] {
    return this.opts.nodeFlags ?? [];
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
server: {listen: "0.0.0.0:8080", public_url: "http://${PORTAL_IP}:8080"}
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
  - {name: internet, type: internet, sites: [lab]}
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
  /** `serverRate`: bytes per second the server paces the response to (see file-server.mjs). */
  async download(file: string, o: { maxTimeS: number; limitRate?: string; serverRate?: number; host?: string }): Promise<Download> {
    const target = join(this.dir, `dl-${file}-${String(Math.random()).slice(2)}`);
    const start = performance.now();
    const args = ['-sS', '--max-time', String(o.maxTimeS), '-o', target, ...(o.limitRate === undefined ? [] : ['--limit-rate', o.limitRate]), `http://${o.host ?? SERVER_IP}/${file}${o.serverRate === undefined ? '' : `?rate=${String(o.serverRate)}`}`];
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
    if (!live.delete(this)) return;
    if (process.env['POSTERN_E2E_DUMP'] === '1') console.log(this.dump());
    for (const p of this.all) p.child.kill('SIGKILL');
    for (const n of this.ns.values()) await n.destroy();
    removeLeftovers(PREFIX);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
