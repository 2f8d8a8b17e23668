// postern-relay command line: flags and environment variables, validated with zod. Bad input -> one line, exit 2.
import { z } from 'zod';

export interface RelayCliConfig {
  readonly publicIp4: string | undefined;
  readonly publicIp6: string | undefined;
  readonly listenPort: number;
  readonly lowestPort: number;
  readonly highestPort: number;
  readonly apiUrl: string;
  readonly token: string | undefined;
  readonly healthCheckAddr: { host: string; port: number };
  readonly metricsAddr: { host: string; port: number } | undefined;
  readonly noPortal: boolean;
  readonly users: ReadonlyMap<string, string>;
  readonly realm: string;
  readonly authSecret: string | undefined;
  readonly allowedPeers: readonly string[];
  readonly deniedPeers: readonly string[];
  readonly logFormat: 'human' | 'json';
  readonly logFilter: string;
  readonly relaySocketBackend: 'auto' | 'batched' | 'dgram';
  /** With `auto`: how many relayed sockets at a time get the batched backend (a worker thread each). */
  readonly relayBatchedSockets: number;
  readonly lastChannel: number;
}

interface FlagSpec {
  readonly env?: string;
  readonly kind: 'value' | 'bool' | 'list';
}

/** Flags, with the environment variable each falls back to (Firezone's names where it has one). */
export const FLAGS: Readonly<Record<string, FlagSpec>> = {
  'public-ip4-addr': { env: 'PUBLIC_IP4_ADDR', kind: 'value' },
  'public-ip6-addr': { env: 'PUBLIC_IP6_ADDR', kind: 'value' },
  'listen-port': { env: 'LISTEN_PORT', kind: 'value' },
  'lowest-port': { env: 'LOWEST_PORT', kind: 'value' },
  'highest-port': { env: 'HIGHEST_PORT', kind: 'value' },
  'api-url': { env: 'POSTERN_API_URL', kind: 'value' },
  token: { env: 'POSTERN_TOKEN', kind: 'value' },
  'health-check-addr': { env: 'HEALTH_CHECK_ADDR', kind: 'value' },
  'metrics-addr': { env: 'METRICS_ADDR', kind: 'value' },
  'no-portal': { env: 'POSTERN_NO_PORTAL', kind: 'bool' },
  user: { kind: 'list' },
  realm: { env: 'POSTERN_REALM', kind: 'value' },
  'static-auth-secret': { env: 'POSTERN_STATIC_AUTH_SECRET', kind: 'value' },
  'allowed-peer-ip': { kind: 'list' },
  'denied-peer-ip': { kind: 'list' },
  'log-format': { env: 'LOG_FORMAT', kind: 'value' },
  'log-filter': { env: 'POSTERN_LOG', kind: 'value' },
  /** Older spelling of --log-filter, kept as an alias. */
  log: { kind: 'value' },
  'relay-socket-backend': { env: 'POSTERN_RELAY_SOCKET_BACKEND', kind: 'value' },
  'relay-batched-sockets': { env: 'POSTERN_RELAY_BATCHED_SOCKETS', kind: 'value' },
  'channel-range': { env: 'POSTERN_CHANNEL_RANGE', kind: 'value' },
};

export class CliError extends Error {
  override readonly name = 'CliError';
  readonly code = 'BAD_CLI';
}

const ipv4 = z.ipv4({ message: 'expected an IPv4 address' });
const ipv6 = z.ipv6({ message: 'expected an IPv6 address' });
const port = z.coerce.number().int().min(1).max(65535);
const hostPort = z
  .string()
  .transform((s, ctx) => {
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
    const p = Number(m?.[2]);
    if (!m || !Number.isInteger(p) || p > 65535) {
      ctx.addIssue({ code: 'custom', message: `expected host:port, got ${s}` });
      return z.NEVER;
    }
    return { host: m[1] ?? '', port: p };
  });

const Schema = z
  .object({
    'public-ip4-addr': ipv4.optional(),
    'public-ip6-addr': ipv6.optional(),
    'listen-port': port.default(3478),
    'lowest-port': port.default(49152),
    'highest-port': port.default(65535),
    'api-url': z.url({ protocol: /^(wss?|https?)$/, message: 'expected a ws(s):// or http(s):// URL' }).default('wss://api.postern.dev'),
    token: z.string().min(1).optional(),
    'health-check-addr': hostPort.default({ host: '0.0.0.0', port: 8080 }),
    'metrics-addr': hostPort.optional(),
    'no-portal': z.boolean().default(false),
    user: z
      .array(z.string().regex(/^[^:]+:.+$/, 'expected --user name:password'))
      .default([]),
    realm: z.string().min(1).default('firezone'),
    'static-auth-secret': z.string().min(1).optional(),
    'allowed-peer-ip': z.array(z.string()).default([]),
    'denied-peer-ip': z.array(z.string()).default([]),
    'log-format': z.enum(['human', 'json']).default('human'),
    'log-filter': z.string().min(1).optional(),
    log: z.string().min(1).optional(),
    'relay-socket-backend': z.enum(['auto', 'batched', 'dgram']).default('auto'),
    'relay-batched-sockets': z.coerce.number().int().min(0).max(1024).default(8),
    'channel-range': z.enum(['rfc5766', 'rfc8656']).default('rfc5766'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c['public-ip4-addr'] === undefined && c['public-ip6-addr'] === undefined) {
      ctx.addIssue({ code: 'custom', path: ['public-ip4-addr'], message: 'need --public-ip4-addr (PUBLIC_IP4_ADDR) and/or --public-ip6-addr (PUBLIC_IP6_ADDR)' });
    }
    if (c['lowest-port'] > c['highest-port']) ctx.addIssue({ code: 'custom', path: ['lowest-port'], message: 'must not exceed --highest-port' });
    if (!c['no-portal'] && c.token === undefined) ctx.addIssue({ code: 'custom', path: ['token'], message: 'need --token (POSTERN_TOKEN) to join the portal, or --no-portal' });
    if (c['no-portal'] && c.user.length === 0 && c['static-auth-secret'] === undefined) {
      ctx.addIssue({ code: 'custom', path: ['user'], message: 'with --no-portal, give at least one --user name:password or --static-auth-secret' });
    }
  });

/** Splits argv into flag values (`--flag value`, `--flag=value`, booleans, repeatable lists) and fills from env. */
function collect(argv: readonly string[], env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) throw new CliError(`unexpected argument ${arg}`);
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const spec = FLAGS[name];
    if (!spec) throw new CliError(`unknown flag --${name}`);
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
    if (spec.kind === 'list') out[name] = [...((out[name] as string[] | undefined) ?? []), value];
    else out[name] = value;
  }
  for (const [name, spec] of Object.entries(FLAGS)) {
    if (out[name] !== undefined || spec.env === undefined) continue;
    const v = env[spec.env];
    if (v === undefined || v === '') continue;
    out[name] = spec.kind === 'bool' ? /^(1|true|yes)$/i.test(v) : v;
  }
  return out;
}

/** Parses argv (without node and script) and the environment; throws CliError with a one-line message. */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): RelayCliConfig {
  const raw = collect(argv, env);
  const r = Schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const flag = issue?.path[0];
    throw new CliError(flag === undefined ? (issue?.message ?? 'invalid arguments') : `--${String(flag)}: ${issue?.message ?? 'invalid'}`);
  }
  const c = r.data;
  const users = new Map<string, string>();
  for (const u of c.user) {
    const i = u.indexOf(':');
    users.set(u.slice(0, i), u.slice(i + 1));
  }
  return {
    publicIp4: c['public-ip4-addr'],
    publicIp6: c['public-ip6-addr'],
    listenPort: c['listen-port'],
    lowestPort: c['lowest-port'],
    highestPort: c['highest-port'],
    apiUrl: c['api-url'],
    token: c.token,
    healthCheckAddr: c['health-check-addr'],
    metricsAddr: c['metrics-addr'],
    noPortal: c['no-portal'],
    users,
    realm: c.realm,
    authSecret: c['static-auth-secret'],
    allowedPeers: c['allowed-peer-ip'],
    deniedPeers: c['denied-peer-ip'],
    logFormat: c['log-format'],
    logFilter: c['log-filter'] ?? c.log ?? 'info',
    relaySocketBackend: c['relay-socket-backend'],
    relayBatchedSockets: c['relay-batched-sockets'],
    lastChannel: c['channel-range'] === 'rfc8656' ? 0x4fff : 0x7fff,
  };
}

export const USAGE = `usage: postern-relay [flags]
  --public-ip4-addr IP      PUBLIC_IP4_ADDR      public IPv4 address (relayed addresses)
  --public-ip6-addr IP      PUBLIC_IP6_ADDR      public IPv6 address
  --listen-port N           LISTEN_PORT          STUN/TURN port (3478)
  --lowest-port N           LOWEST_PORT          relayed port range start (49152)
  --highest-port N          HIGHEST_PORT         relayed port range end (65535)
  --api-url URL             POSTERN_API_URL      portal URL (wss://api.postern.dev)
  --token TOKEN             POSTERN_TOKEN        relay token for the portal
  --health-check-addr H:P   HEALTH_CHECK_ADDR    /healthz and /readyz (0.0.0.0:8080)
  --metrics-addr H:P        METRICS_ADDR         Prometheus /metrics (off)
  --no-portal               POSTERN_NO_PORTAL    run as a plain TURN server
  --user NAME:PASSWORD                           static long-term user (repeatable)
  --realm REALM             POSTERN_REALM        realm (firezone)
  --static-auth-secret S    POSTERN_STATIC_AUTH_SECRET  coturn REST shared secret
  --allowed-peer-ip CIDR                         allow relaying to a special range (repeatable)
  --denied-peer-ip CIDR                          deny relaying to a range (repeatable)
  --log-format human|json   LOG_FORMAT
  --log-filter FILTER       POSTERN_LOG          log filter, e.g. info,relay=debug (info); --log is an alias
  --relay-socket-backend auto|batched|dgram      backend of the relayed sockets (auto: batched for the
                                                 first --relay-batched-sockets at a time, then dgram)
  --relay-batched-sockets N POSTERN_RELAY_BATCHED_SOCKETS  batched relayed sockets with auto (8; 0 = dgram)
  --channel-range rfc5766|rfc8656                channel numbers 0x4000-0x7FFF (default) or 0x4000-0x4FFF
  --version`;
