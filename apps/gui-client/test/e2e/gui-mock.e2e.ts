// The web UI in Chromium against a real postern-portal (sign-in page) and the in-process fake tunnel service
// (--mock-tunnel): sign in, resources, copy address, Internet toggle, settings, export logs, sign out.
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, buildBundles, cleanupDir, EMAIL, guiDirs, launchBrowser, PASSWORD, startGui, startPortal, type Bundles, type GuiDirs, type Proc } from './support';

let bundles: Bundles;
let dirs: GuiDirs;
let portal: { proc: Proc; url: string };
let gui: { proc: Proc; launchUrl: string; origin: string };
let browser: BrowserContext;
let page: Page;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  bundles = await buildBundles();
  cleanups.push(() => {
    bundles.dispose();
  });
  dirs = guiDirs('pgui-mock-');
  cleanups.push(() => {
    cleanupDir(dirs.base);
  });
  portal = await startPortal(bundles.portal, dirs.base, '127.0.0.1');
  cleanups.push(() => portal.proc.stop());
  gui = await startGui(bundles.gui, dirs, ['--mock-tunnel', '--portal-url', portal.url]);
  cleanups.push(() => gui.proc.stop());
  browser = await launchBrowser(dirs.base);
  cleanups.push(() => browser.close());
  page = browser.pages()[0] ?? (await browser.newPage());
});

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(ARTIFACTS, `mock-${name}.png`), fullPage: true });

describe('postern-gui --mock-tunnel in Chromium', () => {
  it('refuses the UI without the per-run secret', async () => {
    const r = await page.goto(`${gui.origin}/`);
    expect(r?.status()).toBe(403);
  });

  it('signs in through the portal page and shows the resources', async () => {
    await page.goto(gui.launchUrl);
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    await expect.poll(() => page.locator('#portal-url').inputValue()).toBe(portal.url);
    await shot('01-signed-out');
    await page.click('#sign-in');
    await page.waitForURL(`${portal.url}/sign_in?**`);
    await page.fill('input[name=email]', EMAIL);
    await page.fill('input[name=password]', PASSWORD);
    await shot('02-portal-sign-in');
    await page.click('button[type=submit]');
    await page.waitForURL(`${gui.origin}/`);
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 10_000 }).toBe('Connected');
    await expect.poll(() => page.locator('#resources tbody tr').count()).toBe(2);
    expect(await page.locator('#who').textContent()).toBe('Signed in as Alice (pgui)');
    expect(await page.locator('tr[data-resource=lab-net] .address').textContent()).toBe('198.18.27.0/24');
    expect(await page.locator('tr[data-resource=lab-net] .site-status').textContent()).toBe('Online');
    const session = join(dirs.userConfig, 'session.json');
    expect(statSync(session).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(session, 'utf8'))).toMatchObject({ accountSlug: 'pgui', actorName: 'Alice' });
    await shot('03-resources');
  });

  it('copies an address', async () => {
    await page.click('tr[data-resource=lab-web] button.copy');
    await expect.poll(() => page.evaluate('window.lastCopied')).toBe('*.lab.corp.example');
  });

  it('toggles the Internet resource', async () => {
    await page.check('#internet');
    await expect.poll(async () => (await (await page.request.get(`${gui.origin}/api/state`)).json()) as { internetResourceActive: boolean }).toMatchObject({ internetResourceActive: true });
    await page.waitForTimeout(700); // a poll re-renders: the box stays checked
    expect(await page.isChecked('#internet')).toBe(true);
    await shot('04-internet-on');
  });

  it('changes settings', async () => {
    await page.fill('#log-filter', 'debug,gui=trace');
    await page.click('#save-settings');
    await expect.poll(() => page.locator('#notice').textContent()).toBe('Settings saved.');
    const saved = JSON.parse(readFileSync(join(dirs.userConfig, 'settings.json'), 'utf8')) as { logFilter: string; authUrl: string; apiUrl: string };
    expect(saved).toEqual({ authUrl: portal.url, apiUrl: portal.url.replace('http:', 'ws:'), logFilter: 'debug,gui=trace' });
    await page.fill('#log-filter', 'info,=bad=');
    await page.click('#save-settings');
    await expect.poll(() => page.locator('#error').textContent()).toMatch(/log filter/i);
    await shot('05-settings');
  });

  it('exports the logs as a zip', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-logs')]);
    const file = join(ARTIFACTS, 'mock-logs.zip');
    await download.saveAs(file);
    const zip = readFileSync(file);
    expect(zip.readUInt32LE(0)).toBe(0x04034b50);
    expect(zip.toString('latin1')).toContain('gui/gui.');
  });

  it('shows the version and signs out', async () => {
    expect(await page.locator('#about-text').textContent()).toContain('postern-gui 0.0.0-test');
    await page.click('#sign-out');
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    await expect.poll(() => page.locator('#status').textContent()).toBe('Idle');
    expect(() => statSync(join(dirs.userConfig, 'session.json'))).toThrow();
    await shot('06-signed-out-again');
  });
});
