// postern-tunnel-service command line (zod-validated; bad input -> one line, exit 2).
import { DNS_CONTROL_METHODS, type DnsControlMethod } from '@postern/bin-shared';
import { z } from 'zod';
import { CliError, collectFlags, firstIssue, type FlagSpec } from '../flags';

export interface ServiceCliConfig {
  readonly tunName: string;
  readonly dnsControl: DnsControlMethod;
  readonly logFormat: 'human' | 'json';
  readonly logFilter: string | undefined;
  readonly noCheck: boolean;
  readonly mockTunnel: boolean;
  readonly noTelemetry: boolean;
  readonly telemetryDsn: string | undefined;
}

const FLAGS: Readonly<Record<string, FlagSpec>> = {
  'tun-name': { env: 'POSTERN_TUN_NAME', kind: 'value' },
  'dns-control': { env: 'POSTERN_DNS_CONTROL', kind: 'value' },
  'log-format': { env: 'LOG_FORMAT', kind: 'value' },
  'log-filter': { env: 'POSTERN_LOG', kind: 'value' },
  'no-check': { env: 'POSTERN_NO_CHECK', kind: 'bool' },
  'mock-tunnel': { kind: 'bool' },
  'no-telemetry': { env: 'POSTERN_NO_TELEMETRY', kind: 'bool' },
  'telemetry-dsn': { env: 'POSTERN_TELEMETRY_DSN', kind: 'value' },
};

const Schema = z
  .object({
    'tun-name': z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'at most 15 characters of [A-Za-z0-9_.-]').default('tun-postern'),
    'dns-control': z.enum(DNS_CONTROL_METHODS, { message: `expected one of ${DNS_CONTROL_METHODS.join(', ')}` }).default('systemd-resolved'),
    'log-format': z.enum(['human', 'json']).default('human'),
    'log-filter': z.string().optional(),
    'no-check': z.boolean().default(false),
    'mock-tunnel': z.boolean().default(false),
    'no-telemetry': z.boolean().default(false),
    'telemetry-dsn': z.url().optional(),
  })
  .strict();

export function parseServiceCli(argv: readonly string[], env: NodeJS.ProcessEnv): ServiceCliConfig {
  const r = Schema.safeParse(collectFlags(FLAGS, argv, env));
  if (!r.success) throw new CliError(firstIssue(r.error.issues));
  const c = r.data;
  return {
    tunName: c['tun-name'],
    dnsControl: c['dns-control'],
    logFormat: c['log-format'],
    logFilter: c['log-filter'],
    noCheck: c['no-check'],
    mockTunnel: c['mock-tunnel'],
    noTelemetry: c['no-telemetry'],
    telemetryDsn: c['telemetry-dsn'],
  };
}

export const SERVICE_USAGE = `usage: postern-tunnel-service [flags]   (runs as root; systemd: postern-tunnel-service.service)
  --tun-name NAME            POSTERN_TUN_NAME      TUN device name (tun-postern)
  --dns-control METHOD       POSTERN_DNS_CONTROL   systemd-resolved (default), etc-resolv-conf, disabled
  --log-format human|json    LOG_FORMAT
  --log-filter FILTER        POSTERN_LOG           overrides the GUI's log filter setting
  --no-check                 POSTERN_NO_CHECK      skip the root / CAP_NET_ADMIN check
  --mock-tunnel                                    a fake in-process session (no TUN, no root; development)
  --no-telemetry             POSTERN_NO_TELEMETRY
  --telemetry-dsn DSN        POSTERN_TELEMETRY_DSN
  --version, --help
Files: IPC socket <POSTERN_RUNTIME_DIR or /run/postern>/tunnel.sock (0660, group postern-client),
logs in POSTERN_LOG_DIR (/var/log/postern), settings and device id in POSTERN_CONFIG_DIR (/var/lib/postern/config).`;
