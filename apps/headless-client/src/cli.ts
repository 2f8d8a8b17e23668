// postern-client command line: flags and environment variables, validated with zod. Bad input -> one line, exit 2.
import { readFileSync, statSync } from 'node:fs';
import { DNS_CONTROL_METHODS, knownDir, type DnsControlMethod } from '@postern/bin-shared';
import { z } from 'zod';
import { CliError, collectFlags, firstIssue, parseDuration, type FlagSpec } from './flags';

export { CliError };

export interface ClientCliConfig {
  readonly apiUrl: string;
  readonly token: string | undefined;
  readonly tokenFile: string | undefined;
  readonly id: string | undefined;
  readonly name: string | undefined;
  readonly tunName: string;
  readonly activateInternetResource: boolean;
  readonly dnsControl: DnsControlMethod;
  readonly check: boolean;
  readonly exit: boolean;
  readonly logFormat: 'human' | 'json';
  readonly logFilter: string | undefined;
  readonly noCheck: boolean;
  readonly maxPartitionTimeMs: number | undefined;
}

export const FLAGS: Readonly<Record<string, FlagSpec>> = {
  'api-url': { env: 'POSTERN_API_URL', kind: 'value' },
  'token-file': { env: 'POSTERN_TOKEN_PATH', kind: 'value' },
  id: { env: 'POSTERN_ID', kind: 'value' },
  name: { env: 'POSTERN_NAME', kind: 'value' },
  'tun-name': { env: 'POSTERN_TUN_NAME', kind: 'value' },
  'activate-internet-resource': { env: 'POSTERN_ACTIVATE_INTERNET_RESOURCE', kind: 'bool' },
  'dns-control': { env: 'POSTERN_DNS_CONTROL', kind: 'value' },
  check: { kind: 'bool' },
  exit: { kind: 'bool' },
  'log-format': { env: 'LOG_FORMAT', kind: 'value' },
  'log-filter': { env: 'POSTERN_LOG', kind: 'value' },
  'no-check': { env: 'POSTERN_NO_CHECK', kind: 'bool' },
  'max-partition-time': { env: 'MAX_PARTITION_TIME', kind: 'value' },
};

const duration = z.string().transform((s, ctx) => {
  const ms = parseDuration(s);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration like 30s, 15m, 24h or 7d, got ${s}` });
    return z.NEVER;
  }
  return ms;
});

const Schema = z
  .object({
    'api-url': z.url({ protocol: /^(wss?|https?)$/, message: 'expected a ws(s):// or http(s):// URL' }).default('wss://api.postern.dev'),
    'token-file': z.string().min(1).optional(),
    id: z.string().min(1).max(255).optional(),
    name: z.string().min(1).max(255).optional(),
    'tun-name': z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'at most 15 characters of [A-Za-z0-9_.-]').default('tun-postern'),
    'activate-internet-resource': z.boolean().default(false),
    'dns-control': z.enum(DNS_CONTROL_METHODS, { message: `expected one of ${DNS_CONTROL_METHODS.join(', ')}` }).default('systemd-resolved'),
    check: z.boolean().default(false),
    exit: z.boolean().default(false),
    'log-format': z.enum(['human', 'json']).default('human'),
    'log-filter': z.string().optional(),
    'no-check': z.boolean().default(false),
    'max-partition-time': duration.optional(),
  })
  .strict();

/** Parses argv (without node and script) and the environment; throws CliError with a one-line message. */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): ClientCliConfig {
  const raw = collectFlags(FLAGS, argv, env);
  const r = Schema.safeParse(raw);
  if (!r.success) throw new CliError(firstIssue(r.error.issues));
  const c = r.data;
  const token = env['POSTERN_TOKEN'];
  return {
    apiUrl: c['api-url'],
    token: token === undefined || token.trim() === '' ? undefined : token.trim(),
    tokenFile: c['token-file'],
    id: c.id,
    name: c.name,
    tunName: c['tun-name'],
    activateInternetResource: c['activate-internet-resource'],
    dnsControl: c['dns-control'],
    check: c.check,
    exit: c.exit,
    logFormat: c['log-format'],
    logFilter: c['log-filter'],
    noCheck: c['no-check'],
    maxPartitionTimeMs: c['max-partition-time'],
  };
}

export interface TokenFileChecks {
  /** Require owner root and no group/other permissions (default true). */
  readonly strict?: boolean;
}

/**
 * The token: POSTERN_TOKEN, else the token file (--token-file, default /etc/postern/token), which must be
 * owned by root and not readable by group or others (0600/0400). Missing or unsafe -> CliError (exit 2).
 */
export function resolveToken(c: ClientCliConfig, env: NodeJS.ProcessEnv, checks: TokenFileChecks = {}): string {
  if (c.token !== undefined) return c.token;
  const file = c.tokenFile ?? knownDir('tokenFile', env);
  let st;
  try {
    st = statSync(file);
  } catch {
    throw new CliError(`missing token: set POSTERN_TOKEN or put it in ${file} (root-owned, mode 0600)`);
  }
  if (checks.strict ?? true) {
    if (st.uid !== 0) throw new CliError(`the token file ${file} must be owned by root`);
    if ((st.mode & 0o077) !== 0) throw new CliError(`the token file ${file} must not be readable by group or others (chmod 600 ${file})`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the token file ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const token = text.trim();
  if (token === '') throw new CliError(`the token file ${file} is empty`);
  return token;
}

export const USAGE = `usage: postern-client [flags]
  --api-url URL              POSTERN_API_URL     portal URL (wss://api.postern.dev)
                             POSTERN_TOKEN       client token (removed from the environment at start)
  --token-file FILE          POSTERN_TOKEN_PATH  token file, root-owned, mode 0600 (/etc/postern/token)
  --id ID                    POSTERN_ID          device id (default: derived from /etc/machine-id)
  --name NAME                POSTERN_NAME        name shown in the portal (default: hostname)
  --tun-name NAME            POSTERN_TUN_NAME    TUN device name (tun-postern)
  --activate-internet-resource                   route all traffic through the Internet resource
  --dns-control METHOD       POSTERN_DNS_CONTROL systemd-resolved (default), etc-resolv-conf, disabled
  --check                                        validate the configuration and exit 0
  --exit                                         exit 0 once the tunnel is up
  --log-format human|json    LOG_FORMAT
  --log-filter FILTER        POSTERN_LOG         e.g. info,tunnel=debug (info)
  --no-check                 POSTERN_NO_CHECK    skip the root / CAP_NET_ADMIN check
  --max-partition-time DUR   MAX_PARTITION_TIME  give up after the portal is unreachable this long (forever)
  --version, --help
Signals: SIGHUP resets the connections (same authorisations); SIGINT/SIGTERM stop.`;
