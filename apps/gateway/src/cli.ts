// postern-gateway command line: flags and environment variables, validated with zod. Bad input -> one line, exit 2.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { CliError, collectFlags, firstIssue, parseDuration, type FlagSpec } from './flags';

export { CliError };

export interface GatewayCliConfig {
  readonly apiUrl: string;
  readonly token: string | undefined;
  readonly tokenFile: string | undefined;
  readonly id: string | undefined;
  readonly name: string | undefined;
  readonly tunThreads: number;
  readonly tunName: string;
  readonly listenPort: number;
  readonly healthCheckAddr: { host: string; port: number };
  readonly logFormat: 'human' | 'json';
  readonly logFilter: string | undefined;
  readonly noCheck: boolean;
  readonly maxPartitionTimeMs: number | undefined;
}

export const FLAGS: Readonly<Record<string, FlagSpec>> = {
  'api-url': { env: 'POSTERN_API_URL', kind: 'value' },
  'token-file': { env: 'POSTERN_TOKEN_FILE', kind: 'value' },
  id: { env: 'POSTERN_ID', kind: 'value' },
  name: { env: 'POSTERN_NAME', kind: 'value' },
  'tun-threads': { env: 'POSTERN_TUN_THREADS', kind: 'value' },
  'tun-name': { env: 'POSTERN_TUN_NAME', kind: 'value' },
  'listen-port': { env: 'POSTERN_LISTEN_PORT', kind: 'value' },
  'health-check-addr': { env: 'HEALTH_CHECK_ADDR', kind: 'value' },
  'log-format': { env: 'LOG_FORMAT', kind: 'value' },
  'log-filter': { env: 'POSTERN_LOG', kind: 'value' },
  'no-check': { env: 'POSTERN_NO_CHECK', kind: 'bool' },
  'max-partition-time': { env: 'MAX_PARTITION_TIME', kind: 'value' },
};

const hostPort = z.string().transform((s, ctx) => {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  const p = Number(m?.[2]);
  if (!m || !Number.isInteger(p) || p > 65535) {
    ctx.addIssue({ code: 'custom', message: `expected host:port, got ${s}` });
    return z.NEVER;
  }
  return { host: m[1] ?? '', port: p };
});

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
    'tun-threads': z.coerce.number().int().min(1, 'at least 1').max(16, 'at most 16').default(1),
    'tun-name': z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'at most 15 characters of [A-Za-z0-9_.-]').default('tun-postern'),
    'listen-port': z.coerce.number().int().min(0).max(65535).default(52625),
    'health-check-addr': hostPort.default({ host: '0.0.0.0', port: 8080 }),
    'log-format': z.enum(['human', 'json']).default('human'),
    'log-filter': z.string().optional(),
    'no-check': z.boolean().default(false),
    'max-partition-time': duration.optional(),
  })
  .strict();

/** Parses argv (without node and script) and the environment; throws CliError with a one-line message. */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): GatewayCliConfig {
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
    tunThreads: c['tun-threads'],
    tunName: c['tun-name'],
    listenPort: c['listen-port'],
    healthCheckAddr: c['health-check-addr'],
    logFormat: c['log-format'],
    logFilter: c['log-filter'],
    noCheck: c['no-check'],
    maxPartitionTimeMs: c['max-partition-time'],
  };
}

/**
 * The token: POSTERN_TOKEN, else --token-file, else the systemd credential `$CREDENTIALS_DIRECTORY/token`.
 * Missing -> CliError (exit 2).
 */
export function resolveToken(c: GatewayCliConfig, env: NodeJS.ProcessEnv): string {
  if (c.token !== undefined) return c.token;
  const credDir = env['CREDENTIALS_DIRECTORY'];
  const file = c.tokenFile ?? (credDir !== undefined && credDir !== '' ? join(credDir, 'token') : undefined);
  if (file === undefined) throw new CliError('missing token: set POSTERN_TOKEN, pass --token-file FILE, or provide a systemd credential named "token"');
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

export const USAGE = `usage: postern-gateway [flags]
  --api-url URL              POSTERN_API_URL     portal URL (wss://api.postern.dev)
                             POSTERN_TOKEN       gateway token (or --token-file / systemd credential "token")
  --token-file FILE          POSTERN_TOKEN_FILE  read the token from FILE
  --id ID                    POSTERN_ID          device id (default: derived from /etc/machine-id)
  --name NAME                POSTERN_NAME        name shown in the portal (default: hostname)
  --tun-threads N            POSTERN_TUN_THREADS TUN queues / worker threads (1)
  --tun-name NAME            POSTERN_TUN_NAME    TUN device name (tun-postern)
  --listen-port N            POSTERN_LISTEN_PORT UDP port for WireGuard (52625; taken -> ephemeral)
  --health-check-addr H:P    HEALTH_CHECK_ADDR   /healthz and /readyz (0.0.0.0:8080)
  --log-format human|json    LOG_FORMAT
  --log-filter FILTER        POSTERN_LOG         e.g. info,tunnel=debug (info)
  --no-check                 POSTERN_NO_CHECK    skip the root / CAP_NET_ADMIN check
  --max-partition-time DUR   MAX_PARTITION_TIME  give up after the portal is unreachable this long (forever)
  --version, --help
IP forwarding and masquerading are not done by the binary: run setup-forwarding.sh (shipped beside it).`;
