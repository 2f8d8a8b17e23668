// Telemetry through @sentry/node: environment from the portal URL, release `<component>@<version>`, the git
// SHA as a tag, an off switch, the same message at most once per 5 minutes, sessions that the app starts and
// ends (the GUI tunnel service scopes one to a connected GUI). Sentry is process-global: one Telemetry per
// process.
import type * as SentryNode from '@sentry/node';
import { errWithSources } from '@postern/logging';
import type { Logger } from 'pino';
import { ReportLimiter } from './dedup';
import { environmentForApiUrl, type TelemetryEnvironment } from './environment';
import { TelemetryError } from './errors';

export const NO_TELEMETRY_ENV = 'POSTERN_NO_TELEMETRY';
export const TELEMETRY_DSN_ENV = 'POSTERN_TELEMETRY_DSN';
/** The same message is reported at most once per this many milliseconds. */
export const DEDUP_WINDOW_MS = 5 * 60 * 1000;

/** Components with a built-in DSN (used for the official portals only). */
export type TelemetryComponent = 'gateway' | 'headless-client' | 'gui-client' | 'tunnel-service' | 'relay' | 'portal';

/**
 * Built-in DSNs per component, used only when the portal is an official one (production/staging).
 * Placeholders on Postern's placeholder domain until a hosted Sentry exists.
 */
export const OFFICIAL_DSNS: Readonly<Record<TelemetryComponent, string>> = {
  gateway: 'https://0a1b2c3d4e5f60718293a4b5c6d7e8f9@sentry.postern.dev/2',
  'headless-client': 'https://1b2c3d4e5f60718293a4b5c6d7e8f90a@sentry.postern.dev/3',
  'gui-client': 'https://2c3d4e5f60718293a4b5c6d7e8f90a1b@sentry.postern.dev/4',
  'tunnel-service': 'https://2c3d4e5f60718293a4b5c6d7e8f90a1b@sentry.postern.dev/4',
  relay: 'https://3d4e5f60718293a4b5c6d7e8f90a1b2c@sentry.postern.dev/5',
  portal: 'https://4e5f60718293a4b5c6d7e8f90a1b2c3d@sentry.postern.dev/6',
};

export interface TelemetryStartOptions {
  readonly component: TelemetryComponent;
  readonly version: string;
  readonly gitSha: string;
  /** The portal URL; decides the environment. */
  readonly apiUrl: string;
  /** Explicit DSN (flag); else POSTERN_TELEMETRY_DSN from `env`. Required to send anything on-prem. */
  readonly dsn?: string;
  /** `--no-telemetry`; POSTERN_NO_TELEMETRY in `env` also disables. */
  readonly noTelemetry?: boolean;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly logger?: Logger;
}

export interface TelemetryState {
  readonly enabled: boolean;
  readonly environment: TelemetryEnvironment;
  readonly release: string;
  /** Why nothing is sent, when disabled. */
  readonly reason?: 'no-telemetry' | 'on-prem-without-dsn';
}

/** True if POSTERN_NO_TELEMETRY is set to anything but "", "0" or "false". */
export function telemetryDisabledByEnv(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const v = env[NO_TELEMETRY_ENV];
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/** Decides what `start` does, without side effects. */
export function telemetryPlan(opts: TelemetryStartOptions): TelemetryState & { dsn?: string } {
  const env = opts.env ?? process.env;
  const environment = environmentForApiUrl(opts.apiUrl);
  const release = `${opts.component}@${opts.version}`;
  if (opts.noTelemetry === true || telemetryDisabledByEnv(env)) return { enabled: false, environment, release, reason: 'no-telemetry' };
  const explicit = opts.dsn ?? (env[TELEMETRY_DSN_ENV] !== '' ? env[TELEMETRY_DSN_ENV] : undefined);
  const dsn = explicit ?? (environment === 'on-prem' ? undefined : OFFICIAL_DSNS[opts.component]);
  if (dsn === undefined) return { enabled: false, environment, release, reason: 'on-prem-without-dsn' };
  return { enabled: true, environment, release, dsn };
}

export type Severity = 'info' | 'warning' | 'error';

type SentryApi = typeof SentryNode;

let loading: Promise<SentryApi> | undefined;
let requested = false;
/**
 * @sentry/node is large (loading it took ~0.6 s of CPU here, unbundled): it is loaded on the first `start`
 * that enables telemetry, never when telemetry is off (start-up time, issue 11).
 */
function loadSentry(): Promise<SentryApi> {
  requested = true;
  loading ??= import('@sentry/node');
  return loading;
}

/** True once some Telemetry was started with reporting on in this process (then @sentry/node is loaded). */
export function sentryRequested(): boolean {
  return requested;
}

export class Telemetry {
  private current: TelemetryState | undefined;
  private readonly limiter = new ReportLimiter(DEDUP_WINDOW_MS);
  private log: Logger | undefined;
  /** Sentry, once loaded and initialised for the current `start`. */
  private sentry: SentryApi | undefined;
  /** Calls made after `start` while Sentry loads: run right after its init, in order (nothing is lost). */
  private pending: ((sentry: SentryApi) => void)[] = [];
  private ready: Promise<void> = Promise.resolve();
  private generation = 0;

  /** `now` is a monotonic clock in ms (for the 5-minute dedup window). */
  constructor(private readonly now: () => number = () => performance.now()) {}

  /**
   * Starts (or restarts, e.g. for a new portal URL) reporting. Never throws. When reporting is on, Sentry is
   * loaded and initialised asynchronously; what is reported meanwhile is sent after its init. A failing init
   * is logged (TELEMETRY_START_FAILED) and reporting stays off.
   */
  start(opts: TelemetryStartOptions): TelemetryState {
    this.log = opts.logger;
    const plan = telemetryPlan(opts);
    const { dsn, ...state } = plan;
    const generation = ++this.generation;
    if (this.sentry !== undefined) this.sentry.close(0).catch(() => false);
    this.sentry = undefined;
    this.current = state;
    if (!plan.enabled || dsn === undefined) {
      this.pending = [];
      this.log?.debug({ environment: state.environment, reason: state.reason }, 'telemetry off');
      return state;
    }
    this.ready = loadSentry().then(
      (sentry) => {
        if (generation !== this.generation) return;
        try {
          sentry.initWithoutDefaultIntegrations({
            dsn,
            environment: state.environment,
            release: state.release,
            integrations: [sentry.linkedErrorsIntegration({ limit: 32 }), sentry.nodeContextIntegration()],
            tracesSampleRate: 0,
            // no tracing here; and the injection hooks need a package that esbuild bundles do not carry
            enableRuntimeChannelInjection: false,
          });
        } catch (err) {
          this.startFailed(generation, err);
          return;
        }
        sentry.setTag('git_sha', opts.gitSha);
        sentry.setTag('component', opts.component);
        this.sentry = sentry;
        for (const op of this.pending.splice(0)) op(sentry);
        this.log?.debug({ environment: state.environment, release: state.release }, 'telemetry on');
      },
      (err: unknown) => {
        this.startFailed(generation, err);
      },
    );
    return state;
  }

  private startFailed(generation: number, err: unknown): void {
    if (generation !== this.generation) return;
    this.pending = [];
    this.current = this.current === undefined ? undefined : { ...this.current, enabled: false };
    const e = new TelemetryError('TELEMETRY_START_FAILED', 'cannot start telemetry', { cause: err });
    this.log?.warn({ code: e.code }, errWithSources(e));
  }

  get state(): TelemetryState | undefined {
    return this.current;
  }

  private get on(): boolean {
    return this.current?.enabled === true;
  }

  /** Runs `op` against Sentry now, or right after its init while it loads. */
  private call(op: (sentry: SentryApi) => void): void {
    if (!this.on) return;
    if (this.sentry !== undefined) op(this.sentry);
    else this.pending.push(op);
  }

  setTag(key: string, value: string): void {
    this.call((s) => {
      s.setTag(key, value);
    });
  }

  /** The account (from the portal's init) as a tag. */
  setAccount(slug: string | undefined): void {
    this.call((s) => {
      s.setTag('account_slug', slug);
    });
  }

  /** The device id as the Sentry user id (no other user data is sent). */
  setDeviceId(id: string | undefined): void {
    this.call((s) => {
      s.setUser(id === undefined ? null : { id });
    });
  }

  /** Reports an error with its whole cause chain; the same chain at most once per 5 minutes. */
  captureError(err: unknown, context?: Readonly<Record<string, unknown>>): void {
    if (!this.on) return;
    const chain = errWithSources(err);
    if (!this.limiter.allow(`error:${chain}`, this.now())) return;
    this.call((s) => {
      s.captureException(err, { extra: { ...context, error_chain: chain } });
    });
  }

  captureMessage(message: string, level: Severity = 'error'): void {
    if (!this.on) return;
    if (!this.limiter.allow(`message:${level}:${message}`, this.now())) return;
    this.call((s) => {
      s.captureMessage(message, level);
    });
  }

  /** Starts a release-health session (the tunnel service: while a GUI is connected). */
  startSession(): void {
    this.call((s) => {
      s.startSession();
      s.captureSession();
    });
  }

  /** Ends the current session ("exited"). */
  endSession(): void {
    this.call((s) => {
      s.endSession();
    });
  }

  /** Waits for Sentry's init (if it is loading), then flushes. */
  async flush(timeoutMs = 2000): Promise<boolean> {
    if (!this.on) return true;
    await this.ready;
    return this.sentry === undefined ? true : this.sentry.flush(timeoutMs);
  }

  /** Ends the session, flushes and stops reporting (after Sentry's init, if it is loading). */
  async stop(timeoutMs = 2000): Promise<void> {
    if (!this.on) return;
    this.endSession();
    this.current = undefined;
    await this.ready;
    const sentry = this.sentry;
    this.sentry = undefined;
    this.pending = [];
    if (sentry === undefined) return;
    try {
      await sentry.close(timeoutMs);
    } catch (err) {
      this.log?.debug({ err }, 'telemetry did not flush in time');
    }
  }
}
