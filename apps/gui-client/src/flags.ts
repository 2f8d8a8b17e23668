// A small argv + environment collector shared in shape by the Postern apps: `--flag value`, `--flag=value`,
// booleans, each flag falling back to its environment variable. Validation is the caller's zod schema.
export interface FlagSpec {
  readonly env?: string;
  readonly kind: 'value' | 'bool';
}

export class CliError extends Error {
  override readonly name = 'CliError';
  readonly code = 'BAD_CLI';
}

export function collectFlags(flags: Readonly<Record<string, FlagSpec>>, argv: readonly string[], env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) throw new CliError(`unexpected argument ${arg}`);
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const spec = flags[name];
    if (spec === undefined) throw new CliError(`unknown flag --${name}`);
    if (spec.kind === 'bool') {
      if (eq >= 0) throw new CliError(`--${name} takes no value`);
      out[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined) throw new CliError(`--${name} needs a value`);
    out[name] = value;
  }
  for (const [name, spec] of Object.entries(flags)) {
    if (out[name] !== undefined || spec.env === undefined) continue;
    const v = env[spec.env];
    if (v === undefined || v === '') continue;
    out[name] = spec.kind === 'bool' ? /^(1|true|yes)$/i.test(v) : v;
  }
  return out;
}

/** The first zod issue as `--flag: message`. */
export function firstIssue(issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[]): string {
  const issue = issues[0];
  const flag = issue?.path[0];
  return flag === undefined ? (issue?.message ?? 'invalid arguments') : `--${String(flag)}: ${issue?.message ?? 'invalid'}`;
}

/** `30s`, `15m`, `24h`, `7d` or plain seconds -> milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (m === null) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit] ?? 1000;
  return n * factor;
}
