// Command line of postern-portal (zod-validated).
import { parseArgs } from 'node:util';
import { z } from 'zod';

export const USAGE = `usage:
  postern-portal --config <portal.yaml> [--listen host:port] [--state <file.sqlite|:memory:>]
                 [--log <filter>] [--log-format human|json] [--no-watch]
  postern-portal check-config --config <portal.yaml>
  postern-portal hash-token <token>          prints sha256:<hex> for token_hash fields
  postern-portal hash-password [password]    prints scrypt$... (reads stdin when no argument)
  postern-portal --version
environment: POSTERN_PORTAL_CONFIG, POSTERN_PORTAL_LISTEN, POSTERN_PORTAL_STATE, POSTERN_LOG`;

const RunSchema = z.object({
  command: z.enum(['run', 'check-config', 'hash-token', 'hash-password', 'version', 'help']),
  config: z.string().min(1).optional(),
  listen: z.string().min(1).optional(),
  state: z.string().min(1).optional(),
  log: z.string().optional(),
  logFormat: z.enum(['human', 'json']).default('human'),
  watch: z.boolean().default(true),
  rest: z.array(z.string()),
});
export type Cli = z.infer<typeof RunSchema>;

export function parseCli(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Cli {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      listen: { type: 'string' },
      state: { type: 'string' },
      log: { type: 'string' },
      'log-format': { type: 'string' },
      'no-watch': { type: 'boolean' },
      version: { type: 'boolean', short: 'V' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [first, ...rest] = positionals;
  const command = values.version ? 'version' : values.help ? 'help' : (first ?? 'run');
  const cli = RunSchema.parse({
    command,
    config: values.config ?? env['POSTERN_PORTAL_CONFIG'],
    listen: values.listen ?? env['POSTERN_PORTAL_LISTEN'],
    state: values.state ?? env['POSTERN_PORTAL_STATE'],
    log: values.log,
    logFormat: values['log-format'],
    watch: !values['no-watch'],
    rest,
  });
  if ((cli.command === 'run' || cli.command === 'check-config') && cli.config === undefined) {
    throw new z.ZodError([{ code: 'custom', path: ['config'], message: '--config <file> is required', input: undefined }]);
  }
  return cli;
}
