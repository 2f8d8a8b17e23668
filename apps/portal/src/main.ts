// postern-portal: entrypoint only (CLI, wiring, IO shell).
import { buildInfo, versionLine } from '@postern/bin-shared';
import { errWithSources, parseLogFilterOrExit, setupLogging } from '@postern/logging';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { PortalApp } from './app';
import { USAGE, parseCli, type Cli } from './cli';
import { ConfigError, loadConfigFile } from './config/load';
import { hashPassword, hashToken } from './core/secrets';

const info = buildInfo('postern-portal');

function fail(message: string, code = 2): never {
  process.stderr.write(`${info.binary}: ${message}\n`);
  process.exit(code);
}

let cli: Cli;
try {
  cli = parseCli(process.argv.slice(2), process.env);
} catch (err) {
  fail(`${err instanceof z.ZodError ? err.issues.map((i) => i.message).join('; ') : errWithSources(err)}\n${USAGE}`);
}

switch (cli.command) {
  case 'version':
    console.log(versionLine(info));
    process.exit(0);
    break;
  case 'help':
    console.log(USAGE);
    process.exit(0);
    break;
  case 'hash-token': {
    const token = cli.rest[0];
    if (!token) fail('hash-token needs a token argument');
    console.log(hashToken(token));
    process.exit(0);
    break;
  }
  case 'hash-password': {
    const password = cli.rest[0] ?? readFileSync(0, 'utf8').replace(/\r?\n$/, '');
    if (!password) fail('hash-password needs a password (argument or stdin)');
    console.log(hashPassword(password));
    process.exit(0);
    break;
  }
  case 'check-config':
    try {
      loadConfigFile(cli.config ?? '');
      console.log(`${cli.config ?? ''}: ok`);
      process.exit(0);
    } catch (err) {
      if (err instanceof ConfigError) fail(err.problems.join('\n'), 1);
      throw err;
    }
    break;
  case 'run':
    await run(cli);
    break;
}

async function run(opts: Cli): Promise<void> {
  const filter = parseLogFilterOrExit(info.binary, opts.log);
  const logging = setupLogging({ format: opts.logFormat, filter, name: info.binary });
  const logger = logging.logger;
  const app = new PortalApp({ configPath: opts.config ?? '', logger, listen: opts.listen, statePath: opts.state, watch: opts.watch });
  try {
    await app.start();
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) logger.error(p);
      await logging.close();
      fail(err.message, 1);
    }
    logger.fatal(`cannot start: ${errWithSources(err)}`);
    await logging.close();
    process.exit(1);
  }
  logger.info(versionLine(info));
  process.on('SIGHUP', () => {
    app.reload('SIGHUP');
  });
  const stop = (signal: string): void => {
    logger.info({ signal }, 'shutting down');
    app
      .stop()
      .then(() => logging.close())
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        process.stderr.write(`${errWithSources(err)}\n`);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => { stop('SIGTERM'); });
  process.on('SIGINT', () => { stop('SIGINT'); });
}
