// postern-client: entrypoint only (CLI, checks, logging, start). The tunnel is @postern/tunnel's ClientState
// driven by its Tunnel loop (./client); TUN addresses, routes and DNS go through @postern/bin-shared.
//
// Start-up order (issue 11: set-up time): this module and what it imports statically are the light part of the
// bundle (CLI, logging, TUN, UDP socket). The data plane starts opening first (./data-plane: its worker threads
// start up on the other core), then ./client (portal, tunnel, model: most of the bundle's module initialisation)
// is loaded with import(), which esbuild keeps lazy in the bundle. Before all of that, ./process-settings
// re-executes node with the data plane's V8 flags when it was started without them.
import './process-settings';
import { buildInfo, checkNetAdmin, versionLine } from '@postern/bin-shared';
import { errWithSources, parseLogFilterOrExit, setupLogging } from '@postern/logging';
import { CliError, parseCli, resolveToken, USAGE, type ClientCliConfig } from './cli';
import { openDataPlane } from './data-plane';

const info = buildInfo('postern-client');
const args = process.argv.slice(2);
if (args.includes('--version') || args.includes('-V')) {
  console.log(versionLine(info));
  process.exit(0);
}
if (args.includes('--help') || args.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}

// The token must not leak to child processes (resolvectl) or /proc/<pid>/environ readers.
const env = { ...process.env };
delete process.env['POSTERN_TOKEN'];

let cfg: ClientCliConfig;
let token: string;
try {
  cfg = parseCli(args, env);
  if (!cfg.noCheck && !cfg.check) checkNetAdmin(info.binary);
  token = resolveToken(cfg, env);
} catch (err) {
  if (err instanceof CliError) {
    console.error(`${info.binary}: ${err.message}`);
    process.exit(2);
  }
  console.error(`${info.binary}: ${err instanceof Error ? errWithSources(err) : String(err)}`);
  process.exit(1);
}
delete env['POSTERN_TOKEN'];
if (cfg.check) {
  console.log(`${info.binary}: configuration is valid`);
  process.exit(0);
}

async function start(c: ClientCliConfig, tokenValue: string): Promise<number> {
  const filter = parseLogFilterOrExit(info.binary, c.logFilter);
  const logging = setupLogging({ format: c.logFormat, filter, name: info.binary });
  logging.logger.info(versionLine(info));
  const dataPlane = openDataPlane(c, logging.logger);
  const { runClient } = await import('./client');
  return runClient({ cfg: c, token: tokenValue, info, logging, dataPlane });
}

start(cfg, token).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`${info.binary}: ${err instanceof Error ? errWithSources(err) : String(err)}`);
    process.exit(1);
  },
);
