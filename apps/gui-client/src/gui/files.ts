// The GUI's files in the user's config dir: the sign-in token (mode 0600, written atomically) with the account
// it belongs to, and the user's settings. Contents are validated when read.
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { ZipEntry } from './zip';

const SessionFileSchema = z
  .object({
    token: z.string().min(1).max(4096),
    accountSlug: z.string().max(200).optional(),
    actorName: z.string().max(1000).optional(),
  })
  .strict();
export type SignedInSession = z.infer<typeof SessionFileSchema>;

export class TokenStore {
  readonly file: string;
  constructor(private readonly dir: string) {
    this.file = join(dir, 'session.json');
  }

  load(): SignedInSession | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const r = SessionFileSchema.safeParse(JSON.parse(text));
      return r.success ? r.data : undefined;
    } catch {
      return undefined;
    }
  }

  save(s: SignedInSession): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${String(process.pid)}.tmp`;
    writeFileSync(tmp, JSON.stringify(s) + '\n', { mode: 0o600 });
    chmodSync(tmp, 0o600); // the umask cannot widen it, but be explicit
    renameSync(tmp, this.file);
  }

  clear(): void {
    try {
      unlinkSync(this.file);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    }
  }

  mode(): number | undefined {
    try {
      return statSync(this.file).mode & 0o777;
    } catch {
      return undefined;
    }
  }
}

/** The log files of some dirs as zip entries (`<prefix>/<file>`); unreadable ones are listed in a note. */
export function collectLogs(dirs: readonly { readonly dir: string; readonly prefix: string }[]): ZipEntry[] {
  const out: ZipEntry[] = [];
  const problems: string[] = [];
  for (const { dir, prefix } of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      problems.push(`${dir}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    for (const n of names.sort()) {
      if (!n.endsWith('.log')) continue;
      const p = join(dir, n);
      try {
        const st = statSync(p);
        if (!st.isFile()) continue;
        out.push({ name: `${prefix}/${n}`, data: readFileSync(p), mtime: st.mtime });
      } catch (err) {
        problems.push(`${p}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  if (problems.length > 0) out.push({ name: 'export-problems.txt', data: Buffer.from(problems.join('\n') + '\n') });
  return out;
}
