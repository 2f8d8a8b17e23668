// A Postern deployment in network namespaces for the e2e tests (prefix ptn, 198.18.24.0/22):
//   ptn-wan (bridge 198.18.24.0/24): ptn-portal .2, ptn-gw1 .4, ptn-gw2 .5, ptn-cl .6
//   ptn-srv (bridge 198.18.25.0/24 to both gateways): 198.18.25.10, .20 (filtered), 198.18.26.10 (not authorised)
// The apps are the release builds (dist/apps/*), run as real processes.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { keepLogs, Netns, registerSecret, removeLeftovers, run } from '@postern/testing';

export const ROOT = join(import.meta.dirname, '../../../..');
export const DIST = join(ROOT, 'dist/apps');
export const PREFIX = 'ptn';

export interface Proc {
  readonly child: ChildProcess;
  output: string;
}

export function buildApps(apps: readonly string[]): void {
  for (const app of apps) execFileSync(process.execPath, [join(ROOT, 'tools/scripts/build-app.mjs')], { cwd: join(ROOT, 'apps', app), stdio: 'pipe' });
}

export function hashToken(token: string): string {
  // every token a test hashes is handed to a process: check-secrets looks for it in every kept log
  registerSecret(token, 'gateway e2e token');
  return execFileSync(process.execPath, [join(DIST, 'portal/main.js'), 'hash-token', token], { encoding: 'utf8' }).trim();
}

export class World {
  readonly ns = new Map<string, Netns>();
  readonly procs: Proc[] = [];

  static async create(): Promise<World> {
    removeLeftovers(PREFIX);
    const w = new World();
    for (const n of ['ptn-wan', 'ptn-portal', 'ptn-gw1', 'ptn-gw2', 'ptn-cl', 'ptn-srv']) w.ns.set(n, await Netns.create(n));
    await run('ip', ['-n', 'ptn-wan', 'link', 'add', 'br0', 'type', 'bridge']);
    await run('ip', ['-n', 'ptn-wan', 'link', 'set', 'br0', 'up']);
    await run('ip', ['-n', 'ptn-srv', 'link', 'add', 'br0', 'type', 'bridge']);
    await run('ip', ['-n', 'ptn-srv', 'link', 'set', 'br0', 'up']);
    for (const a of ['198.18.25.10/24', '198.18.25.20/24', '198.18.26.10/24']) await run('ip', ['-n', 'ptn-srv', 'addr', 'add', a, 'dev', 'br0']);
    const wan: [string, string, string][] = [
      ['ptn-portal', '198.18.24.2', 'v-portal'],
      ['ptn-gw1', '198.18.24.4', 'v-gw1'],
      ['ptn-gw2', '198.18.24.5', 'v-gw2'],
      ['ptn-cl', '198.18.24.6', 'v-cl'],
    ];
    for (const [ns, addr, veth] of wan) await w.attach('ptn-wan', veth, ns, 'wan0', `${addr}/24`);
    await w.attach('ptn-srv', 'v-gw1', 'ptn-gw1', 'lan0', '198.18.25.1/24');
    await w.attach('ptn-srv', 'v-gw2', 'ptn-gw2', 'lan0', '198.18.25.2/24');
    // The gateways also reach 198.18.26.0/24 (a resource nobody is authorised for) on the same LAN.
    for (const gw of ['ptn-gw1', 'ptn-gw2']) await run('ip', ['-n', gw, 'route', 'add', '198.18.26.0/24', 'dev', 'lan0']);
    return w;
  }

  private async attach(bridgeNs: string, veth: string, ns: string, inner: string, addr: string): Promise<void> {
    await run('ip', ['link', 'add', veth, 'netns', bridgeNs, 'type', 'veth', 'peer', 'name', inner, 'netns', ns]);
    await run('ip', ['-n', bridgeNs, 'link', 'set', veth, 'master', 'br0', 'up']);
    await run('ip', ['-n', ns, 'addr', 'add', addr, 'dev', inner]);
    await run('ip', ['-n', ns, 'link', 'set', inner, 'up']);
  }

  get(name: string): Netns {
    const n = this.ns.get(name);
    if (n === undefined) throw new Error(`no namespace ${name}`);
    return n;
  }

  spawn(ns: string, cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Proc {
    const child = this.get(ns).spawn('env', [...Object.entries(env).map(([k, v]) => `${k}=${v ?? ''}`), cmd, ...args]);
    const p: Proc = { child, output: '' };
    keepLogs(child, 'gateway', `${ns}-${basename(cmd)}`);
    const append = (b: Buffer): void => {
      p.output += b.toString('utf8');
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    this.procs.push(p);
    return p;
  }

  async destroy(): Promise<void> {
    for (const p of this.procs) p.child.kill('SIGKILL');
    for (const n of this.ns.values()) await n.destroy();
    removeLeftovers(PREFIX);
  }
}

export async function waitFor(what: string, f: () => boolean | Promise<boolean>, timeoutMs = 20_000, stepMs = 100): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await f()) return performance.now() - start;
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** curl from a namespace: the body, or the error (curl's exit status and message). */
export async function curl(ns: Netns, url: string, maxTimeS = 3): Promise<{ ok: boolean; body: string; error: string }> {
  try {
    const body = await ns.exec('curl', ['-sS', '--max-time', String(maxTimeS), url], { timeoutMs: (maxTimeS + 2) * 1000 });
    return { ok: true, body, error: '' };
  } catch (err) {
    return { ok: false, body: '', error: err instanceof Error ? err.message : String(err) };
  }
}

export interface ConfigOptions {
  readonly gw1: string;
  readonly gw2: string;
  readonly client: string;
  readonly policies: readonly string[];
  /** Sign-in for a@example.com (scrypt hash from `postern-portal hash-password`) with issued tokens of this lifetime. */
  readonly signIn?: { readonly passwordHash: string; readonly tokenTtlHours: number; readonly redirect: string };
}

export function writeConfig(path: string, o: ConfigOptions): void {
  const policies = o.policies.map((r) => `  - {group: eng, resource: ${r}}`).join('\n');
  const signIn = o.signIn === undefined ? '' : `sign_in: {allowed_redirects: ["${o.signIn.redirect}"]}\ntokens: {client_token_ttl_hours: ${String(o.signIn.tokenTtlHours)}}\n`;
  const password = o.signIn === undefined ? '' : `, password_hash: "${o.signIn.passwordHash}"`;
  writeFileSync(
    path,
    `account: {name: e2e, slug: e2e}
server: {listen: "198.18.24.2:8080", public_url: "http://198.18.24.2:8080"}
${signIn}dns: {upstreams: [198.18.25.10]}
groups: [{name: eng}]
users: [{email: a@example.com, groups: [eng]${password}}]
sites: [{name: lab}]
gateways:
  - {site: lab, name: gw1, token_hash: "${o.gw1}"}
  - {site: lab, name: gw2, token_hash: "${o.gw2}"}
clients: [{user: a@example.com, name: cl, token_hash: "${o.client}"}]
resources:
  - {name: lab, type: cidr, address: 198.18.25.0/24, sites: [lab]}
  - {name: web, type: cidr, address: 198.18.25.20/32, sites: [lab], filters: [{protocol: tcp, port_range_start: 8080, port_range_end: 8080}]}
  - {name: secret, type: cidr, address: 198.18.26.0/24, sites: [lab]}
policies:
${policies}
`,
  );
}
