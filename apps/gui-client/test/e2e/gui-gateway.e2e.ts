// The full path, as root: Chromium -> postern-gui -> postern-tunnel-service (namespace pgui-svc, real TUN) ->
// WireGuard -> postern-gateway (namespace pgui-gw) -> a resource address; postern-portal on the host side.
// A bridge in namespace pgui-lan joins them: host veth pgui-h 198.18.48.1 (portal), pgui-svc 198.18.48.2,
// pgui-gw 198.18.48.3; the resource address 198.18.49.1 is on pgui-gw's loopback.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, registerSecret, removeLeftovers, run } from '@postern/testing';
import { ARTIFACTS, buildBundles, cleanupDir, dirsEnv, EMAIL, guiDirs, launchBrowser, PASSWORD, ROOT, startGui, startPortal, startProc, waitFor, type Bundles, type GuiDirs, type Proc } from './support';

const isRoot = process.getuid?.() === 0;
const GATEWAY_TOKEN = 'postern-demo-gateway-token'; // its hash is in support.ts's portal config
registerSecret(GATEWAY_TOKEN, 'gui e2e gateway token');

function removeHostLink(): void {
  try {
    execFileSync('ip', ['link', 'del', 'pgui-h'], { stdio: 'ignore' });
  } catch {
    // not there: nothing to remove
  }
}

let bundles: Bundles;
let dirs: GuiDirs;
let svc: Netns;
let gw: Netns;
let portal: { proc: Proc; url: string };
let service: Proc;
let gateway: Proc;
let gui: { proc: Proc; launchUrl: string; origin: string };
let browser: BrowserContext;
let page: Page;
const cleanups: (() => Promise<void> | void)[] = [];

async function attach(veth: string, ns: string, inner: string, addr: string): Promise<void> {
  await run('ip', ['link', 'add', veth, 'netns', 'pgui-lan', 'type', 'veth', 'peer', 'name', inner, 'netns', ns]);
  await run('ip', ['-n', 'pgui-lan', 'link', 'set', veth, 'master', 'br0', 'up']);
  await run('ip', ['-n', ns, 'addr', 'add', addr, 'dev', inner]);
  await run('ip', ['-n', ns, 'link', 'set', inner, 'up']);
}

describe.skipIf(!isRoot)('postern-gui through a real tunnel to a gateway', () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    removeLeftovers('pgui');
    removeHostLink();
    bundles = await buildBundles();
    cleanups.push(() => {
      bundles.dispose();
    });
    dirs = guiDirs('pgui-gw-');
    cleanups.push(() => {
      cleanupDir(dirs.base);
    });
    const lan = await Netns.create('pgui-lan');
    cleanups.push(() => lan.destroy());
    svc = await Netns.create('pgui-svc');
    cleanups.push(() => svc.destroy());
    gw = await Netns.create('pgui-gw');
    cleanups.push(() => gw.destroy());
    await lan.exec('ip', ['link', 'add', 'br0', 'type', 'bridge']);
    await lan.exec('ip', ['link', 'set', 'br0', 'up']);
    await run('ip', ['link', 'add', 'pgui-h', 'type', 'veth', 'peer', 'name', 'v-host', 'netns', 'pgui-lan']);
    await lan.exec('ip', ['link', 'set', 'v-host', 'master', 'br0', 'up']);
    await run('ip', ['addr', 'add', '198.18.48.1/24', 'dev', 'pgui-h']);
    await run('ip', ['link', 'set', 'pgui-h', 'up']);
    await attach('v-svc', 'pgui-svc', 'wan0', '198.18.48.2/24');
    await attach('v-gw', 'pgui-gw', 'wan0', '198.18.48.3/24');
    await gw.exec('ip', ['addr', 'add', '198.18.49.1/32', 'dev', 'lo']);
    await gw.exec('bash', [join(ROOT, 'apps/gateway/packaging/setup-forwarding.sh'), 'up']);

    portal = await startPortal(bundles.portal, dirs.base, '198.18.48.1');
    cleanups.push(() => portal.proc.stop());
    const gwEnv = { ...dirsEnv(dirs), POSTERN_TOKEN: GATEWAY_TOKEN, POSTERN_CONFIG_DIR: join(dirs.base, 'gw-config') };
    gateway = startProc('ip', ['netns', 'exec', 'pgui-gw', process.execPath, bundles.gateway, '--api-url', portal.url.replace('http:', 'ws:'), '--tun-name', 'pgui-gtun', '--log-format', 'json', '--health-check-addr', '127.0.0.1:8080'], gwEnv);
    cleanups.push(async () => {
      if (process.env['PGUI_DEBUG'] !== undefined) process.stdout.write(`--- gateway ---\n${gateway.out.slice(-5000)}\n`);
      await gateway.stop();
    });
    await waitFor('the gateway to configure its TUN', () => (gateway.out.includes('"TUN configured"') ? true : undefined), 30_000, gateway);
    service = startProc('ip', ['netns', 'exec', 'pgui-svc', process.execPath, bundles.service, '--tun-name', 'pgui-tun0', '--dns-control', 'disabled', '--log-format', 'json'], dirsEnv(dirs));
    cleanups.push(async () => {
      if (process.env['PGUI_DEBUG'] !== undefined) process.stdout.write(`--- service ---\n${service.out.slice(-5000)}\n`);
      await service.stop();
    });
    await waitFor('the IPC socket', () => (existsSync(join(dirs.runtime, 'tunnel.sock')) ? true : undefined), 20_000, service);
    gui = await startGui(bundles.gui, dirs, ['--portal-url', portal.url]);
    cleanups.push(() => gui.proc.stop());
    browser = await launchBrowser(dirs.base);
    cleanups.push(() => browser.close());
    page = browser.pages()[0] ?? (await browser.newPage());
  }, 120_000);

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    removeHostLink();
    removeLeftovers('pgui');
  });

  it('signs in in the browser, reaches the resource through the gateway, and shows the site online', async () => {
    await page.goto(gui.launchUrl);
    await page.click('#sign-in');
    await page.waitForURL(`${portal.url}/sign_in?**`);
    await page.fill('input[name=email]', EMAIL);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${gui.origin}/`);
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 15_000 }).toBe('Connected');
    await waitFor(
      'a ping through the tunnel',
      () => {
        try {
          execFileSync('ip', ['netns', 'exec', 'pgui-svc', 'ping', '-c', '1', '-W', '1', '198.18.49.1'], { stdio: 'ignore' });
          return true;
        } catch {
          return undefined;
        }
      },
      30_000,
      service,
    );
    await expect.poll(() => page.locator('tr[data-resource=lab-net] .site-status').textContent(), { timeout: 10_000 }).toBe('Online');
    await page.screenshot({ path: join(ARTIFACTS, 'gateway-01-resource-online.png'), fullPage: true });
    expect(service.out).toMatch(/"connected to gateway"/);
  });
});
