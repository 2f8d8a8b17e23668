// postern-gui command line (zod-validated; bad input -> one line, exit 2).
import { z } from 'zod';
import { CliError, collectFlags, firstIssue, type FlagSpec } from '../flags';

export interface GuiCliConfig {
  readonly mockTunnel: boolean;
  readonly open: 'browser' | 'app' | 'none';
  readonly browser: string | undefined;
  readonly port: number;
  readonly portalUrl: string | undefined;
  readonly logFormat: 'human' | 'json';
  readonly logFilter: string | undefined;
  readonly noTelemetry: boolean;
  readonly telemetryDsn: string | undefined;
}

const FLAGS: Readonly<Record<string, FlagSpec>> = {
  'mock-tunnel': { env: 'POSTERN_GUI_MOCK_TUNNEL', kind: 'bool' },
  'no-open': { kind: 'bool' },
  app: { kind: 'bool' },
  browser: { env: 'POSTERN_GUI_BROWSER', kind: 'value' },
  port: { env: 'POSTERN_GUI_PORT', kind: 'value' },
  'portal-url': { env: 'POSTERN_PORTAL_URL', kind: 'value' },
  'log-format': { env: 'LOG_FORMAT', kind: 'value' },
  'log-filter': { env: 'POSTERN_LOG', kind: 'value' },
  'no-telemetry': { env: 'POSTERN_NO_TELEMETRY', kind: 'bool' },
  'telemetry-dsn': { env: 'POSTERN_TELEMETRY_DSN', kind: 'value' },
};

const Schema = z
  .object({
    'mock-tunnel': z.boolean().default(false),
    'no-open': z.boolean().default(false),
    app: z.boolean().default(false),
    browser: z.string().min(1).optional(),
    port: z.coerce.number().int().min(0).max(65535).default(0),
    'portal-url': z.url({ protocol: /^https?$/, message: 'expected an http(s):// URL' }).optional(),
    'log-format': z.enum(['human', 'json']).default('human'),
    'log-filter': z.string().optional(),
    'no-telemetry': z.boolean().default(false),
    'telemetry-dsn': z.url().optional(),
  })
  .strict();

export function parseGuiCli(argv: readonly string[], env: NodeJS.ProcessEnv): GuiCliConfig {
  const r = Schema.safeParse(collectFlags(FLAGS, argv, env));
  if (!r.success) throw new CliError(firstIssue(r.error.issues));
  const c = r.data;
  return {
    mockTunnel: c['mock-tunnel'],
    open: c['no-open'] ? 'none' : c.app ? 'app' : 'browser',
    browser: c.browser,
    port: c.port,
    portalUrl: c['portal-url'],
    logFormat: c['log-format'],
    logFilter: c['log-filter'],
    noTelemetry: c['no-telemetry'],
    telemetryDsn: c['telemetry-dsn'],
  };
}

export const GUI_USAGE = `usage: postern-gui [flags]   (runs as the user; needs postern-tunnel-service unless --mock-tunnel)
  --mock-tunnel              POSTERN_GUI_MOCK_TUNNEL  the UI against an in-process fake service (no root)
  --no-open                                           do not open a browser; just print the URL
  --app                                               open chromium --app=<url> instead of xdg-open
  --browser CMD              POSTERN_GUI_BROWSER      command to open the URL with (default xdg-open)
  --port N                   POSTERN_GUI_PORT         port on 127.0.0.1 (default: any free port)
  --portal-url URL           POSTERN_PORTAL_URL       portal URL until one is saved in the settings
  --log-format human|json    LOG_FORMAT
  --log-filter FILTER        POSTERN_LOG              overrides the log filter setting for the GUI
  --no-telemetry             POSTERN_NO_TELEMETRY
  --telemetry-dsn DSN        POSTERN_TELEMETRY_DSN
  --version, --help
The UI is served on http://127.0.0.1:<port>/ with a per-run secret: open the printed URL.
Files: session token <POSTERN_USER_CONFIG_DIR or ~/.config/postern>/session.json (0600), settings.json there,
logs in POSTERN_USER_LOG_DIR (~/.cache/postern/logs); the service socket is <POSTERN_RUNTIME_DIR>/tunnel.sock.`;
