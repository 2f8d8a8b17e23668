// Advanced settings (portal URLs, log filter): defaults, and a JSON file validated on read.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AdvancedSettingsSchema, type AdvancedSettings } from '../ipc/messages';

export const DEFAULT_SETTINGS: AdvancedSettings = {
  authUrl: 'https://app.postern.dev',
  apiUrl: 'wss://api.postern.dev',
  logFilter: 'info',
};

/** The websocket URL for a portal given as http(s): same host, ws(s) scheme. */
export function apiUrlFromPortalUrl(portalUrl: string): string {
  const u = new URL(portalUrl);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString().replace(/\/$/, '');
}

/** Reads settings; a missing or invalid file gives the defaults (and the reason). */
export function loadSettings(file: string, defaults: AdvancedSettings = DEFAULT_SETTINGS): { settings: AdvancedSettings; problem?: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { settings: defaults };
  }
  try {
    const r = AdvancedSettingsSchema.safeParse(JSON.parse(text));
    if (r.success) return { settings: r.data };
    return { settings: defaults, problem: `${file}: ${r.error.issues[0]?.message ?? 'invalid'}` };
  } catch (err) {
    return { settings: defaults, problem: `${file}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

export function saveSettings(file: string, settings: AdvancedSettings, mode = 0o644): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(settings, null, 2) + '\n', { mode });
  renameSync(tmp, file);
}
