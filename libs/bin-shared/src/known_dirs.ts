// Where Postern keeps its files. Linux paths follow the FHS/XDG layout; every one can be overridden by an
// environment variable so that tests (and unusual installs) never touch the real system directories.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BinSharedError, UnsupportedPlatformError } from './errors';

export type Env = Readonly<Record<string, string | undefined>>;

/** Environment variables that override each directory (absolute paths). */
export const KNOWN_DIRS_ENV = {
  serviceConfig: 'POSTERN_CONFIG_DIR',
  serviceLogs: 'POSTERN_LOG_DIR',
  runtime: 'POSTERN_RUNTIME_DIR',
  userConfig: 'POSTERN_USER_CONFIG_DIR',
  userLogs: 'POSTERN_USER_LOG_DIR',
  tokenFile: 'POSTERN_TOKEN_PATH',
} as const;

export interface KnownDirs {
  /** Service (root) state: device id, settings. Linux `/var/lib/postern/config`. */
  readonly serviceConfig: string;
  /** Service logs. Linux `/var/log/postern`. */
  readonly serviceLogs: string;
  /** Runtime files: the IPC socket. Linux `/run/postern`. */
  readonly runtime: string;
  /** Per-user config of the GUI. Linux `$XDG_CONFIG_HOME/postern` (default `~/.config/postern`). */
  readonly userConfig: string;
  /** Per-user logs of the GUI. Linux `$XDG_CACHE_HOME/postern/logs` (default `~/.cache/postern/logs`). */
  readonly userLogs: string;
  /** The headless client's / gateway's token file. Linux `/etc/postern/token`. */
  readonly tokenFile: string;
}

export type KnownDir = keyof KnownDirs;

function linuxDefault(dir: KnownDir, env: Env): string {
  switch (dir) {
    case 'serviceConfig':
      return '/var/lib/postern/config';
    case 'serviceLogs':
      return '/var/log/postern';
    case 'runtime':
      return '/run/postern';
    case 'userConfig':
      return join(nonEmpty(env['XDG_CONFIG_HOME']) ?? join(home(env), '.config'), 'postern');
    case 'userLogs':
      return join(nonEmpty(env['XDG_CACHE_HOME']) ?? join(home(env), '.cache'), 'postern', 'logs');
    case 'tokenFile':
      return '/etc/postern/token';
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function home(env: Env): string {
  const h = nonEmpty(env['HOME']) ?? homedir();
  if (h === '') throw new BinSharedError('KNOWN_DIR_UNAVAILABLE', 'cannot find the home directory: set HOME');
  return h;
}

/** One known directory: the env override if set, else the platform default. */
export function knownDir(dir: KnownDir, env: Env = process.env, platform: string = process.platform): string {
  const override = nonEmpty(env[KNOWN_DIRS_ENV[dir]]);
  if (override !== undefined) return override;
  if (platform !== 'linux') throw new UnsupportedPlatformError(`known_dirs (${dir})`, platform);
  return linuxDefault(dir, env);
}

/** All known directories at once. */
export function knownDirs(env: Env = process.env, platform: string = process.platform): KnownDirs {
  return {
    serviceConfig: knownDir('serviceConfig', env, platform),
    serviceLogs: knownDir('serviceLogs', env, platform),
    runtime: knownDir('runtime', env, platform),
    userConfig: knownDir('userConfig', env, platform),
    userLogs: knownDir('userLogs', env, platform),
    tokenFile: knownDir('tokenFile', env, platform),
  };
}

/** The tunnel service's IPC socket: `<runtime>/tunnel.sock`. */
export function ipcSocketPath(env: Env = process.env, platform: string = process.platform): string {
  return join(knownDir('runtime', env, platform), 'tunnel.sock');
}
