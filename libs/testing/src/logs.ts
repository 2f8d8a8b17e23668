// Logs of the processes e2e tests start, kept on disk so that `tools/scripts/check-secrets.mjs` can prove that no
// secret the tests used (tokens, private keys, PSKs, relay passwords) was ever written to a log.
//
//   const log = keepLogs(child, 'relay', 'postern-relay');   // child stdout+stderr -> <dir>/relay/postern-relay.log
//   registerSecret(token, 'relay token');                    // -> <dir>/secrets.txt
//
// <dir> is $POSTERN_TEST_LOGS, else <repo>/dist/test-artifacts/logs. secrets.txt holds one `label<TAB>secret`
// per line; check-secrets greps every other file under <dir> for each secret (and its URL-encoded and
// base64url forms) and fails listing file:line.
import { appendFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';

export const SECRETS_FILE = 'secrets.txt';
/** Shorter strings would match by chance (and are no secrets worth the name). */
export const MIN_SECRET_LENGTH = 8;

export class TestLogError extends Error {
  constructor(
    readonly code: 'BAD_NAME' | 'BAD_SECRET',
    message: string,
  ) {
    super(message);
    this.name = 'TestLogError';
  }
}

/** The folder every e2e log goes to. */
export function testLogDir(): string {
  const env = process.env['POSTERN_TEST_LOGS'];
  if (env !== undefined && env !== '') return resolve(env);
  return join(import.meta.dirname, '..', '..', '..', 'dist', 'test-artifacts', 'logs');
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** `<dir>/<suite>/<name>.log` (folders created); names are plain file names, never paths. */
export function logPath(suite: string, name: string): string {
  for (const part of [suite, name]) if (!NAME_RE.test(part)) throw new TestLogError('BAD_NAME', `not a plain log name: ${JSON.stringify(part)}`);
  const file = join(testLogDir(), suite, `${name}.log`);
  mkdirSync(dirname(file), { recursive: true });
  return file;
}

/** Something with the stdout/stderr of a child process (ChildProcess, or a test's own wrapper). */
export interface HasOutput {
  readonly stdout?: Readable | null;
  readonly stderr?: Readable | null;
}

/**
 * Appends the child's stdout and stderr to `<dir>/<suite>/<name>.log` (a header line marks each start, so a
 * restarted process appends). Returns the file path. The streams keep flowing to any other listeners.
 */
export function keepLogs(child: HasOutput, suite: string, name: string): string {
  const file = logPath(suite, name);
  appendFileSync(file, `--- ${new Date().toISOString()} ${name} started\n`);
  const out = createWriteStream(file, { flags: 'a' });
  let open = 0;
  for (const s of [child.stdout, child.stderr]) {
    if (!s) continue;
    open++;
    s.on('data', (b: Buffer | string) => out.write(b));
    s.once('close', () => {
      if (--open === 0) out.end();
    });
  }
  if (open === 0) out.end();
  return file;
}

/** Writes a whole log text (for output collected in memory, e.g. spawnSync results). */
export function writeLog(suite: string, name: string, text: string): string {
  const file = logPath(suite, name);
  appendFileSync(file, text.endsWith('\n') || text === '' ? text : `${text}\n`);
  return file;
}

/** Registers a secret a test uses, so that check-secrets looks for it in every log. Idempotent. */
export function registerSecret(secret: string, label = 'secret'): void {
  if (secret.length < MIN_SECRET_LENGTH) throw new TestLogError('BAD_SECRET', `a secret of ${secret.length} characters would match by chance`);
  if (/[\t\r\n]/.test(secret) || /[\t\r\n]/.test(label)) throw new TestLogError('BAD_SECRET', 'secrets and labels are single-line, without tabs');
  const dir = testLogDir();
  mkdirSync(dir, { recursive: true });
  const file = join(dir, SECRETS_FILE);
  const line = `${label}\t${secret}`;
  if (existsSync(file) && readFileSync(file, 'utf8').split('\n').includes(line)) return;
  appendFileSync(file, `${line}\n`, { mode: 0o600 });
}

/** Empties the folder's secrets list (the start of a whole-suite run does this through check-secrets --reset). */
export function resetSecrets(): void {
  const dir = testLogDir();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, SECRETS_FILE), '', { mode: 0o600 });
}
