// Secrets never reach a log line: values under keys that name a token, password, preshared key, private key
// or secret are replaced, at any depth; `token=` in URL query strings too.

export const REDACTED = '[REDACTED]';

const SECRET_KEY_RE = /token|password|passwd|presharedkey|psk|privatekey|secret|authorization|cookie/;

/** True for object keys whose values must not be logged (case, `_` and `-` insensitive). */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY_RE.test(key.toLowerCase().replace(/[_-]/g, ''));
}

const URL_TOKEN_RE = /([?&](?:token|access_token|secret|key)=)[^&#\s]+/gi;

export function redactString(s: string): string {
  return s.includes('=') ? s.replace(URL_TOKEN_RE, `$1${REDACTED}`) : s;
}

/** A copy of `value` with secrets replaced (plain objects and arrays are walked; other objects kept). */
export function redactSecrets(value: unknown): unknown {
  return walk(value, 0);
}

/** `redactSecrets` for a log object (what pino's formatters get). */
export function redactObject(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = isSecretKey(k) ? REDACTED : walk(v, 1);
  return out;
}

function walk(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactString(value);
  if (depth > 8 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v: unknown) => walk(v, depth + 1));
  if (value instanceof Error || ArrayBuffer.isView(value) || value instanceof Date) return value;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = isSecretKey(k) ? REDACTED : walk(v, depth + 1);
  return out;
}
