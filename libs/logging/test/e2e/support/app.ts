// A minimal app as the real ones use the logging lib: --log-format, --log-filter / POSTERN_LOG, exit code 2.
import { errWithSources, parseLogFilterOrExit, parseLogFormat, setupLogging } from '../../../src/index';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const filter = parseLogFilterOrExit('demo-app', flag('--log-filter'));
const dir = flag('--log-dir');
const h = setupLogging({
  format: parseLogFormat(flag('--log-format') ?? 'human'),
  filter,
  colorize: false,
  name: 'demo-app',
  ...(dir !== undefined ? { file: { dir, base: 'demo' } } : {}),
});
h.module('tunnel').debug({ token: 'tok-123' }, 'tunnel up');
h.module('portal').info('connected');
h.logger.error(errWithSources(new Error('outer', { cause: new Error('root') })));
await h.close();
