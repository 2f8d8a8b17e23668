// The whole GUI client for real, as root: postern-portal on a veth address, postern-tunnel-service inside a
// network namespace (real TUN, routes, netlink network notifier), postern-gui on 127.0.0.1 and Chromium.
// The namespace's link is down when the service is asked to connect: it waits for the network and connects
// by itself once the link comes up. Then a GUI crash (SIGKILL): the next GUI sees the session as it is; a
// raw client sends malformed frames and gets Error replies while the service stays up.
// Namespace `pgui-svc`, veth pgui-h (host, 198.18.48.1/24) <-> pgui-n (namespace, 198.18.48.2/24).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTERN_ROUTE_TABLE } from '@postern/bin-shared';
import { Netns, removeLeftovers, run } from '@postern/testing';
import { IpcClient } from '../../src/ipc/client';
import type { ServiceToGui } from '../../src/ipc/messages';
import { ARTIFACTS, buildBundles, cleanupDir, dirsEnv, EMAIL, guiDirs, launchBrowser, PASSWORD, startGui, startPortal, startProc, waitFor, type Bundles, type GuiDirs, type Proc } from './support';

const isRoot = process.getuid?.() === 0;
const NS = 'pgui-svc';
const TUN = 'pgui-tun0';
const ROUTE_TABLE = String(POSTERN_ROUTE_TABLE);

function removeHostLink(): void {
  try {
    execFileSync('ip', ['link', 'del', 'pgui-h'], { stdio: 'ignore' });
  } catch {
    // not there: nothing to remove
  }
}

let bundles: Bundles;
let dirs: GuiDirs;
let ns: Netns;
let portal: { proc: Proc; url: string };
let service: Proc;
let gui: { proc: Proc; launchUrl: string; origin: string };
let browser: BrowserContext;
const cleanups: (() => Promise<void> | void)[] = [];
let page: Page;

const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(ARTIFACTS, `real-${name}.png`), fullPage: true });
const status = (): Promise<string | null> => page.locator('#status').textContent();

describe.skipIf(!isRoot)('postern-gui + postern-tunnel-service + portal, for real', () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    removeLeftovers('pgui');
    removeHostLink();
    bundles = await buildBundles();
    cleanups.push(() => {
      bundles.dispose();
    });
    dirs = guiDirs('pgui-real-');
    cleanups.push(() => {
      cleanupDir(dirs.base);
    });
    ns = await Netns.create(NS);
    cleanups.push(() => ns.destroy());
    await run('ip', ['link', 'add', 'pgui-h', 'type', 'veth', 'peer', 'name', 'pgui-n', 'netns', NS]);
    await run('ip', ['addr', 'add', '198.18.48.1/24', 'dev', 'pgui-h']);
    await run('ip', ['link', 'set', 'pgui-h', 'up']);
    // pgui-n stays down, without an address: no network in the namespace yet.
    portal = await startPortal(bundles.portal, dirs.base, '198.18.48.1');
    cleanups.push(() => portal.proc.stop());
    service = startProc('ip', ['netns', 'exec', NS, process.execPath, bundles.service, '--tun-name', TUN, '--dns-control', 'disabled', '--log-format', 'json', '--log-filter', 'debug'], dirsEnv(dirs));
    cleanups.push(async () => {
      if (process.env['PGUI_DEBUG'] !== undefined) process.stdout.write(`--- service output ---\n${service.out}\n`);
      await service.stop();
    });
    await waitFor('the IPC socket', () => (existsSync(join(dirs.runtime, 'tunnel.sock')) ? true : undefined), 20_000, service);
    gui = await startGui(bundles.gui, dirs, ['--portal-url', portal.url]);
    cleanups.push(() => gui.proc.stop()); // the GUI running at the end (the test replaces it)
    browser = await launchBrowser(dirs.base);
    cleanups.push(() => browser.close());
    page = browser.pages()[0] ?? (await browser.newPage());
  }, 120_000);

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    removeHostLink();
    removeLeftovers('pgui');
  });

  it('signs in; with the network down the service waits, and connects by itself when it comes back', async () => {
    await page.goto(gui.launchUrl);
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    await shot('01-signed-out');
    await page.click('#sign-in');
    await page.waitForURL(`${portal.url}/sign_in?**`);
    await page.fill('input[name=email]', EMAIL);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${gui.origin}/`);
    await expect.poll(status, { timeout: 10_000 }).toBe('WaitingForNetwork');
    await shot('02-waiting-for-network');
    await ns.exec('ip', ['addr', 'add', '198.18.48.2/24', 'dev', 'pgui-n']);
    await ns.exec('ip', ['link', 'set', 'pgui-n', 'up']);
    await expect.poll(status, { timeout: 20_000 }).toBe('Connected');
    await expect.poll(() => page.locator('#resources tbody tr').count(), { timeout: 10_000 }).toBe(2);
    expect(await page.locator('tr[data-resource=lab-net] .address').textContent()).toBe('198.18.49.0/24');
    const routes = await ns.exec('ip', ['route', 'show', 'table', ROUTE_TABLE]);
    expect(routes).toContain(`198.18.49.0/24 dev ${TUN}`);
    await shot('03-connected');
  });

  it('toggles the Internet resource: default routes through the TUN appear', async () => {
    await page.check('#internet');
    await expect.poll(async () => ns.exec('ip', ['route', 'show', 'table', ROUTE_TABLE]), { timeout: 10_000 }).toMatch(new RegExp(`^default dev ${TUN}`, 'm'));
    await page.uncheck('#internet');
    await expect.poll(async () => ns.exec('ip', ['route', 'show', 'table', ROUTE_TABLE]), { timeout: 10_000 }).not.toMatch(/^default/m);
  });

  it('changes settings: the service stores the log filter', async () => {
    await page.fill('#log-filter', 'debug');
    await page.click('#save-settings');
    await expect.poll(() => page.locator('#notice').textContent()).toBe('Settings saved.');
    await expect.poll(() => JSON.parse(readFileSync(join(dirs.serviceConfig, 'settings.json'), 'utf8')) as unknown).toMatchObject({ logFilter: 'debug', authUrl: portal.url });
    await shot('04-settings');
  });

  it('survives a GUI crash; refuses malformed frames and stays up; the next GUI sees the session', async () => {
    gui.proc.child.kill('SIGKILL');
    await gui.proc.stop();
    // A raw client: garbage gets an Error reply, the connection and the service stay.
    const got: ServiceToGui[] = [];
    const raw = await waitForClient(join(dirs.runtime, 'tunnel.sock'), got);
    await expect.poll(() => got.find((m) => m.type === 'Hello')).toMatchObject({ state: 'Connected' });
    const h = Buffer.alloc(4);
    h.writeUInt32BE(5);
    raw.sendRaw(Buffer.concat([h, Buffer.from('{bad}')]));
    await expect.poll(() => got.find((m) => m.type === 'Error')).toMatchObject({ code: 'MALFORMED_FRAME' });
    raw.close();
    await new Promise((r) => setTimeout(r, 300));

    gui = await startGui(bundles.gui, dirs, ['--portal-url', portal.url]);
    await page.goto(gui.launchUrl);
    await expect.poll(status, { timeout: 10_000 }).toBe('Connected');
    await expect.poll(() => page.locator('#resources tbody tr').count()).toBe(2);
    await shot('05-after-gui-crash');
  });

  it('signs out: the session stops and the routes go', async () => {
    await page.click('#sign-out');
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    await expect.poll(status).toBe('Idle');
    await expect.poll(async () => ns.exec('ip', ['route', 'show', 'table', ROUTE_TABLE]), { timeout: 10_000 }).not.toContain(TUN);
    await shot('06-signed-out');
    expect(service.child.exitCode).toBeNull();
  });
});

async function waitForClient(path: string, got: ServiceToGui[]): Promise<IpcClient> {
  // The service notices the killed GUI's socket closing; until then a new client is refused.
  for (let i = 0; i < 50; i++) {
    got.length = 0;
    const c = await IpcClient.connect(path, { onMessage: (m) => got.push(m), onClose: () => undefined });
    await new Promise((r) => setTimeout(r, 100));
    if (got.some((m) => m.type === 'Hello')) return c;
    c.close();
  }
  throw new Error('the service kept refusing new clients');
}
