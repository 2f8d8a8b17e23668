// Log filter directives in the style of Rust's env_logger / tracing EnvFilter: `info,tunnel=debug,wire=trace`.
// A bare level sets the default; `module=level` sets a module and, unless overridden, its submodules
// (`tunnel` covers `tunnel.dns`). Module names: letters, digits, `_`, `-`, separated by `.` or `::`.
import { LogFilterError, LoggingError } from './errors';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const DEFAULT_LOG_FILTER = 'info';
export const LOG_FILTER_ENV = 'POSTERN_LOG';

export const LOG_FORMATS = ['human', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const ALIASES: Readonly<Record<string, LogLevel>> = { off: 'silent', warning: 'warn', err: 'error' };
const LEVEL_RANK: Readonly<Record<LogLevel, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
const MODULE_RE = /^[A-Za-z0-9_-]+((\.|::)[A-Za-z0-9_-]+)*$/;

export class LogFilter {
  private constructor(
    readonly defaultLevel: LogLevel,
    /** module (normalised to `.` separators) -> level */
    readonly modules: ReadonlyMap<string, LogLevel>,
    readonly source: string,
  ) {}

  /** Parses directives; throws LogFilterError (code INVALID_LOG_FILTER) naming the bad part. */
  static parse(directives: string): LogFilter {
    let def: LogLevel = 'info';
    const modules = new Map<string, LogLevel>();
    for (const raw of directives.split(',')) {
      const part = raw.trim();
      if (part === '') continue;
      const eq = part.indexOf('=');
      if (eq < 0) {
        const level = toLevel(part);
        if (level === undefined) {
          if (MODULE_RE.test(part)) modules.set(normalise(part), 'trace'); // `tunnel` alone: everything of it
          else throw new LogFilterError(part, 'expected a level or module=level');
          continue;
        }
        def = level;
        continue;
      }
      const module = part.slice(0, eq).trim();
      const levelText = part.slice(eq + 1).trim();
      if (!MODULE_RE.test(module)) throw new LogFilterError(part, `"${module}" is not a module name`);
      const level = toLevel(levelText);
      if (level === undefined) throw new LogFilterError(part, `"${levelText}" is not a level (${LOG_LEVELS.join(', ')}, off)`);
      modules.set(normalise(module), level);
    }
    return new LogFilter(def, modules, directives);
  }

  /** The level of a module: its own directive, else its closest parent's, else the default. */
  levelFor(module: string | undefined): LogLevel {
    if (module === undefined) return this.defaultLevel;
    let m = normalise(module);
    for (;;) {
      const l = this.modules.get(m);
      if (l !== undefined) return l;
      const dot = m.lastIndexOf('.');
      if (dot < 0) return this.defaultLevel;
      m = m.slice(0, dot);
    }
  }

  /** The most verbose level any directive enables. */
  minLevel(): LogLevel {
    let min: LogLevel = this.defaultLevel;
    for (const l of this.modules.values()) if (LEVEL_RANK[l] < LEVEL_RANK[min]) min = l;
    return min;
  }

  toString(): string {
    return [this.defaultLevel, ...[...this.modules].map(([m, l]) => `${m}=${l}`)].join(',');
  }
}

function toLevel(text: string): LogLevel | undefined {
  const t = text.toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(t)) return LOG_LEVELS.find((l) => l === t);
  return ALIASES[t];
}

function normalise(module: string): string {
  return module.replaceAll('::', '.');
}

export function parseLogFilter(directives: string): LogFilter {
  return LogFilter.parse(directives);
}

/** The filter text to use: the flag if given, else POSTERN_LOG, else `info`. */
export function logFilterText(flag: string | undefined, env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (flag !== undefined && flag !== '') return flag;
  const fromEnv = env[LOG_FILTER_ENV];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_LOG_FILTER;
}

export function parseLogFormat(value: string): LogFormat {
  if (value === 'human' || value === 'json') return value;
  throw new LoggingError('INVALID_LOG_FORMAT', `--log-format must be human or json (got ${value})`);
}

export interface ExitIo {
  readonly stderr: { write(text: string): unknown };
  readonly exit: (code: number) => never;
}

/**
 * For apps: parses the filter (flag, else POSTERN_LOG, else info); on an invalid filter writes
 * `<binary>: invalid log filter directive "...": reason` as one line to stderr and exits with code 2.
 */
export function parseLogFilterOrExit(
  binary: string,
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
  io: ExitIo = { stderr: process.stderr, exit: (code) => process.exit(code) },
): LogFilter {
  try {
    return LogFilter.parse(logFilterText(flag, env));
  } catch (err) {
    if (err instanceof LoggingError) {
      io.stderr.write(`${binary}: ${err.message}\n`);
      return io.exit(2);
    }
    throw err;
  }
}

export const LOG_LEVEL_RANK = LEVEL_RANK;
