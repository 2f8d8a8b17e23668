// Log files for services: `<dir>/<base>.<YYYY-MM-DD-HH-MM-SS>.log` plus a `<base>.latest` symlink to the
// newest, and a size cap across log directories enforced by deleting the oldest files.
import { mkdirSync, readdirSync, renameSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { LoggingError } from './errors';

export const DEFAULT_LOG_SIZE_CAP_BYTES = 100 * 1024 * 1024;

/** `YYYY-MM-DD-HH-MM-SS` in UTC. */
export function logFileTimestamp(date: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return (
    `${date.getUTCFullYear()}-${p(date.getUTCMonth() + 1)}-${p(date.getUTCDate())}-` +
    `${p(date.getUTCHours())}-${p(date.getUTCMinutes())}-${p(date.getUTCSeconds())}`
  );
}

export function logFileName(base: string, date: Date): string {
  return `${base}.${logFileTimestamp(date)}.log`;
}

/**
 * Creates `dir` (0750) and returns the path of a new log file for `base`, pointing `<base>.latest` at it
 * (replaced atomically). The file itself is created by whoever opens it.
 */
export function prepareLogFile(dir: string, base: string, now: Date = new Date()): string {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    let name = logFileName(base, now);
    for (let i = 1; exists(join(dir, name)); i++) name = `${base}.${logFileTimestamp(now)}-${i}.log`;
    const latest = join(dir, `${base}.latest`);
    const tmp = `${latest}.${process.pid}.tmp`;
    try {
      unlinkSync(tmp);
    } catch {
      // no leftover
    }
    symlinkSync(name, tmp);
    renameSync(tmp, latest);
    return join(dir, name);
  } catch (err) {
    throw new LoggingError('LOG_FILE_FAILED', `cannot prepare a log file in ${dir}`, { cause: err });
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

export interface CapResult {
  readonly totalBytes: number;
  readonly deleted: readonly string[];
}

/**
 * Deletes the oldest `*.log` files across `dirs` until their total size is at most `capBytes`.
 * Files in `keep` (the ones being written) are never deleted.
 */
export function enforceLogSizeCap(
  dirs: readonly string[],
  capBytes: number = DEFAULT_LOG_SIZE_CAP_BYTES,
  keep: readonly string[] = [],
): CapResult {
  const files: { path: string; size: number; mtimeMs: number }[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.endsWith('.log')) continue;
      const path = join(dir, name);
      try {
        const st = statSync(path);
        if (st.isFile()) files.push({ path, size: st.size, mtimeMs: st.mtimeMs });
      } catch {
        // vanished meanwhile
      }
    }
  }
  let total = files.reduce((s, f) => s + f.size, 0);
  const deleted: string[] = [];
  const kept = new Set(keep);
  files.sort((a, b) => a.mtimeMs - b.mtimeMs || a.path.localeCompare(b.path));
  for (const f of files) {
    if (total <= capBytes) break;
    if (kept.has(f.path)) continue;
    try {
      unlinkSync(f.path);
      total -= f.size;
      deleted.push(f.path);
    } catch {
      // cannot delete (permissions): leave it
    }
  }
  return { totalBytes: total, deleted };
}
