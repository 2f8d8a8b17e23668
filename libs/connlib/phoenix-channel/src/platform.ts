// The User-Agent of this machine: `<os>/<os version> <component>/<version> (<arch>; <kernel>)`.
import { readFileSync } from 'node:fs';
import { arch, release, type } from 'node:os';
import { formatUserAgent } from './http';

function osRelease(): { name: string; version: string } {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    const get = (k: string): string | undefined => {
      const m = new RegExp(`^${k}=("?)(.*)\\1$`, 'm').exec(text);
      return m?.[2];
    };
    return { name: get('NAME') ?? type(), version: get('VERSION_ID') ?? release() };
  } catch {
    // no os-release (not Linux, or a minimal container): fall back to the kernel's name
    return { name: type(), version: release() };
  }
}

/** The User-Agent for `component` (`gateway`, `headless-client`, `gui-client`, `relay`) at `version`. */
export function defaultUserAgent(component: string, version: string): string {
  const os = osRelease();
  return formatUserAgent({ os: os.name, osVersion: os.version, component, version, arch: arch(), kernel: release() });
}
