// Support for the GUI's browser tests: a real postern-portal (bundled from apps/portal, run as a process),
// postern-gui / postern-tunnel-service bundles, and Debian's Chromium through playwright-core.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { bundleApp, keepLogs, registerSecret } from '@postern/testing';

export const ROOT = join(import.meta.dirname, '../../../..');
export const ARTIFACTS = join(ROOT, 'dist/test-artifacts/gui');
export const EMAIL = 'alice@example.com';
export const PASSWORD = 'correct horse battery staple';
registerSecret(PASSWORD, 'gui sign-in password');
const ALICE_HASH = 'scrypt$16384$8$1$cG9zdGVybi1kZW1vLXNhbHQ=$myazIMeYLv4b8y50YBRueMD3JWnUTKzrpougmBpqHK0=';

export function portalConfig(): string {
  return `account: {name: GUI Test, slug: pgui}
dns: {upstreams: [198.18.48.53]}
groups: [{name: engineering}]
users:
  - {email: ${EMAIL}, name: Alice, password_hash: "${ALICE_HASH}", groups: [engineering]}
sites: [{name: lab}]
gateways:
  - {site: lab, name: lab-gateway, token_hash: "sha256:bef26db9f06b2a46d1ec776edda026e03091af90559a79b76eeeebc6edeeb990"}
resources:
  - {name: lab-net, type: cidr, address: 198.18.49.0/24, sites: [lab]}
  - {name: lab-web, type: dns, address: "*.lab.corp.example", sites: [lab]}
  - {type: internet, sites: [lab]}
policies:
  - {group: engineering, resource: lab-net}
  - {group: engineering, resource: lab-web}
  - {group: engineering, resource: Internet}
`;
}

export interface Proc {
  readonly child: ChildProcess;
  out: string;
  stop(): Promise<void>;
}

/** Spawns a process (optionally through `ip netns exec`), collecting stdout+stderr. */
export function startProc(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  keepLogs(child, 'gui', basename(args[0] ?? cmd));
  const p: Proc = {
    child,
    out: '',
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => {
        child.once('exit', () => {
          resolve();
        });
      });
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(t);
    },
  };
  child.stdout.on('data', (d: Buffer) => {
    p.out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    p.out += d.toString();
  });
  return p;
}

export async function waitFor<T>(what: string, f: () => T | undefined, ms = 20_000, proc?: Proc): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${proc ? `; output:\n${proc.out.slice(-3000)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Bundles {
  readonly gateway: string;
  readonly portal: string;
  readonly gui: string;
  readonly service: string;
  dispose(): void;
}

export async function buildBundles(): Promise<Bundles> {
  const info = { version: '0.0.0-test', gitSha: 'e2e' };
  const b = await Promise.all([
    bundleApp(join(ROOT, 'apps/gateway/src/main.ts'), { ...info, binary: 'postern-gateway' }),
    bundleApp(join(ROOT, 'apps/portal/src/main.ts'), { ...info, binary: 'postern-portal' }),
    bundleApp(join(ROOT, 'apps/gui-client/src/main.ts'), { ...info, binary: 'postern-gui' }),
    bundleApp(join(ROOT, 'apps/gui-client/src/tunnel-service.ts'), { ...info, binary: 'postern-gui' }),
  ]);
  // As the release build does: native packages from node_modules, the libs' worker files beside the bundle.
  const workers: string[] = [];
  for (const libs of ['libs', 'libs/connlib']) {
    for (const lib of readdirSync(join(ROOT, libs))) {
      const src = join(ROOT, libs, lib, 'src');
      if (!existsSync(src)) continue;
      for (const f of readdirSync(src, { recursive: true })) if (String(f).endsWith('.worker.mjs')) workers.push(join(src, String(f)));
    }
  }
  for (const x of b) {
    symlinkSync(join(ROOT, 'node_modules'), join(dirname(x.file), 'node_modules'));
    for (const w of workers) copyFileSync(w, join(dirname(x.file), basename(w)));
  }
  const [gateway, portal, gui, service] = b;
  return { gateway: gateway.file, portal: portal.file, gui: gui.file, service: service.file, dispose: () => {
      for (const x of b) x.dispose();
    },
  };
}

/** Starts the portal on `host` (port chosen by the kernel); resolves with its base URL. */
export async function startPortal(bundle: string, dir: string, host: string): Promise<{ proc: Proc; url: string }> {
  const cfg = join(dir, 'portal.yaml');
  writeFileSync(cfg, portalConfig());
  const proc = startProc(process.execPath, [bundle, '--config', cfg, '--listen', `${host}:0`, '--state', ':memory:', '--log-format', 'json', '--no-watch'], process.env);
  const listen = await waitFor('the portal to listen', () => /"listen":"([^"]+)"/.exec(proc.out)?.[1], 20_000, proc);
  return { proc, url: `http://${listen}` };
}

export interface GuiDirs {
  readonly base: string;
  readonly userConfig: string;
  readonly userLogs: string;
  readonly serviceLogs: string;
  readonly serviceConfig: string;
  readonly runtime: string;
}

export function guiDirs(prefix: string): GuiDirs {
  const base = mkdtempSync(join(tmpdir(), prefix));
  const d = {
    base,
    userConfig: join(base, 'user-config'),
    userLogs: join(base, 'user-logs'),
    serviceLogs: join(base, 'service-logs'),
    serviceConfig: join(base, 'service-config'),
    runtime: join(base, 'run'),
  };
  for (const p of Object.values(d)) mkdirSync(p, { recursive: true });
  return d;
}

export function dirsEnv(d: GuiDirs): NodeJS.ProcessEnv {
  return {
    ...process.env,
    POSTERN_USER_CONFIG_DIR: d.userConfig,
    POSTERN_USER_LOG_DIR: d.userLogs,
    POSTERN_LOG_DIR: d.serviceLogs,
    POSTERN_CONFIG_DIR: d.serviceConfig,
    POSTERN_RUNTIME_DIR: d.runtime,
    POSTERN_NO_TELEMETRY: '1',
  };
}

export async function startGui(bundle: string, d: GuiDirs, args: readonly string[]): Promise<{ proc: Proc; launchUrl: string; origin: string }> {
  const proc = startProc(process.execPath, [bundle, '--no-open', '--log-format', 'json', ...args], dirsEnv(d));
  const launchUrl = await waitFor('postern-gui to print its URL', () => /postern-gui: open (\S+)/.exec(proc.out)?.[1], 20_000, proc);
  return { proc, launchUrl, origin: new URL(launchUrl).origin };
}

export async function launchBrowser(dir: string): Promise<BrowserContext> {
  const profile = join(dir, 'chromium-profile');
  mkdirSync(profile, { recursive: true });
  return chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1000, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export function cleanupDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
}
