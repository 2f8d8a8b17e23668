// pino setup: human (pino-pretty as an in-process stream; no transports, which spawn workers that break in
// esbuild bundles) or JSON output, per-module levels from a LogFilter, an optional log file (JSON lines),
// redaction of secrets.
import { createWriteStream, type WriteStream } from 'node:fs';
import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { enforceLogSizeCap, prepareLogFile, DEFAULT_LOG_SIZE_CAP_BYTES } from './files';
import { LogFilter, type LogFormat } from './filter';
import { REDACTED, redactObject, redactString } from './redact';

export interface LogFileOptions {
  readonly dir: string;
  /** File name base, e.g. "tunnel-service". */
  readonly base: string;
  /** Other log dirs that share the size cap (e.g. the GUI's). */
  readonly capDirs?: readonly string[];
  /** Default 100 MB. */
  readonly capBytes?: number;
}

export interface LoggingOptions {
  readonly format: LogFormat;
  /** A parsed filter or its text. Default `info`. */
  readonly filter?: LogFilter | string;
  /** Name bound into every line (`name` field), e.g. the binary. */
  readonly name?: string;
  readonly file?: LogFileOptions;
  /** Where the console output goes; default stdout (tests pass a stream). */
  readonly destination?: NodeJS.WritableStream;
  /** Colours in human format; default: destination is a TTY. */
  readonly colorize?: boolean;
}

export interface LoggingHandle {
  readonly logger: Logger;
  readonly filter: LogFilter;
  /** Path of the log file being written, if any. */
  readonly filePath: string | undefined;
  /** A child logger with `module` bound and the level the filter gives that module. */
  module(name: string): Logger;
  /** Flushes and closes the log file. */
  close(): Promise<void>;
}

/** A child logger for `module` (nested under the parent's module: `tunnel` + `dns` -> `tunnel.dns`). */
export function moduleLogger(parent: Logger, module: string): Logger {
  const parentModule: unknown = parent.bindings()['module'];
  const full = typeof parentModule === 'string' && parentModule !== '' ? `${parentModule}.${module}` : module;
  return parent.child({ module: full });
}

/** Secret-named keys redacted in child-logger bindings (log objects are covered by `isSecretKey`). */
const CHILD_SECRET_KEYS = ['token', 'api_token', 'password', 'psk', 'preshared_key', 'presharedKey', 'private_key', 'privateKey', 'secret', 'stamp_secret', 'stampSecret', 'authorization', 'relay_password'] as const;

function redactArgs<T extends unknown[]>(args: T): T {
  for (let i = 0; i < args.length; i++) if (typeof args[i] === 'string') args[i] = redactString(String(args[i]));
  return args;
}

function redactError(err: unknown): unknown {
  const out: unknown = err instanceof Error ? pino.stdSerializers.err(err) : err;
  if (typeof out !== 'object' || out === null) return typeof out === 'string' ? redactString(out) : out;
  return redactObject({ ...out });
}

export function setupLogging(opts: LoggingOptions): LoggingHandle {
  const filter = opts.filter instanceof LogFilter ? opts.filter : LogFilter.parse(opts.filter ?? 'info');
  const dest = opts.destination ?? process.stdout;
  const console: DestinationStream =
    opts.format === 'human'
      ? pretty({
          colorize: opts.colorize ?? ('isTTY' in dest && dest.isTTY),
          destination: dest,
          sync: true,
          translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
          ignore: 'pid,hostname,name',
          messageFormat: '{if module}{module}: {end}{msg}',
        })
      : dest;

  let filePath: string | undefined;
  let fileStream: WriteStream | undefined;
  const streams: pino.StreamEntry[] = [{ level: 'trace', stream: console }];
  if (opts.file) {
    filePath = prepareLogFile(opts.file.dir, opts.file.base);
    enforceLogSizeCap([opts.file.dir, ...(opts.file.capDirs ?? [])], opts.file.capBytes ?? DEFAULT_LOG_SIZE_CAP_BYTES, [filePath]);
    fileStream = createWriteStream(filePath, { flags: 'a', mode: 0o640 });
    streams.push({ level: 'trace', stream: fileStream });
  }

  const logger = pino(
    {
      level: filter.defaultLevel,
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      base: opts.name !== undefined ? { name: opts.name } : {},
      formatters: {
        log: (obj) => redactObject(obj),
        bindings: (b) => redactObject(b),
      },
      // Message strings and error texts may carry URLs with `token=`; formatters do not see them.
      hooks: {
        logMethod(args, method) {
          method.apply(this, redactArgs(args));
        },
      },
      serializers: { err: redactError },
      // pino skips the bindings formatter for child loggers; its own redaction covers their bindings.
      redact: { paths: [...CHILD_SECRET_KEYS], censor: REDACTED },
      onChild: (child) => {
        const m: unknown = child.bindings()['module'];
        if (typeof m === 'string') child.level = filter.levelFor(m);
      },
    },
    streams.length === 1 ? console : pino.multistream(streams),
  );

  return {
    logger,
    filter,
    filePath,
    module: (name) => moduleLogger(logger, name),
    close: () =>
      new Promise<void>((resolve) => {
        logger.flush();
        if (fileStream) {
          fileStream.end(() => {
            resolve();
          });
        } else {
          resolve();
        }
      }),
  };
}

