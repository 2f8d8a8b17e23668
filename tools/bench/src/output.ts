// Writes results.json, results.md and results.png (an SVG rendered by Debian's chromium through playwright-core).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { toMarkdown, toSvg, type Results } from './aggregate';

export async function writeOutputs(r: Results, dir: string): Promise<{ png: string | null; md: string }> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'results.json'), JSON.stringify(r, null, 2) + '\n');
  const md = toMarkdown(r);
  writeFileSync(join(dir, 'results.md'), md);
  const svg = toSvg(r);
  writeFileSync(join(dir, 'results.svg'), svg);
  const png = join(dir, 'results.png');
  const browser = await chromium.launch({ executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    await page.setContent(`<html><body style="margin:0">${svg}</body></html>`);
    const el = await page.$('svg');
    if (el === null) return { png: null, md };
    await el.screenshot({ path: png });
  } finally {
    await browser.close();
  }
  return { png, md };
}
