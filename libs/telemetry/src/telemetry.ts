// Telemetry through @sentry/node: environment from the portal URL, release `<component>@<version>`, the git
// SHA as a tag, an off switch, the same message at most once per 5 minutes, sessions that the app starts and
// ends (the GUI tunnel service scopes one to a connected GUI). Sentry is process-global: one Telemetry per
// process.
import * as Sentry from '@sentry/node';
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

export class Telemetry {
  private current: TelemetryState | undefined;
  private readonly limiter = new ReportLimiter(DEDUP_WINDOW_MS);
  private log: Logger | undefined;

  /** `now` is a monotonic clock in ms (for the 5-minute dedup window). */
  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Starts (or restarts, e.g. for a new portal URL) reporting. Never throws for a disabled setup. */
  start(opts: TelemetryStartOptions): TelemetryState {
    this.log = opts.logger;
    const plan = telemetryPlan(opts);
    const { dsn, ...state } = plan;
    if (this.current?.enabled === true) void Sentry.close(0);
    this.current = state;
    if (!plan.enabled || dsn === undefined) {
      this.log?.debug({ environment: state.environment, reason: state.reason }, 'telemetry off');
      return state;
    }
    try {
      Sentry.initWithoutDefaultIntegrations({
        dsn,
        environment: state.environment,
        release: state.release,
        integrations: [Sentry.linkedErrorsIntegration({ limit: 32 }), Sentry.nodeContextIntegration()],
        tracesSampleRate: 0,
        // no tracing here; and the injection hooks need a package that esbuild bundles do not carry
        enableRuntimeChannelInjection: false,
      });
    } catch (err) {
      throw new TelemetryError('TELEMETRY_START_FAILED', 'cannot start telemetry', { cause: err });
    }
    Sentry.setTag('git_sha', opts.gitSha);
    Sentry.setTag('component', opts.component);
    this.log?.debug({ environment: state.environment, release: state.release }, 'telemetry on');
    return state;
  }

  get state(): TelemetryState | undefined {
    return this.current;
  }

  private get on(): boolean {
    return this.current?.enabled === true;
  }

  setTag(key: string, value: string): void {
    if (this.on) Sentry.setTag(key, value);
  }

  /** The account (from the portal's init) as a tag. */
  setAccount(slug: string | undefined): void {
    if (this.on) Sentry.setTag('account_slug', slug);
  }

  /** The device id as the Sentry user id (no other user data is sent). */
  setDeviceId(id: string | undefined): void {
    if (this.on) Sentry.setUser(id === undefined ? null : { id });
  }

  /** Reports an error with its whole cause chain; the same chain at most once per 5 minutes. */
  captureError(err: unknown, context?: Readonly<Record<string, unknown>>): void {
    if (!this.on) return;
    const chain = errWithSources(err);
    if (!this.limiter.allow(`error:${chain}`, this.now())) return;
    Sentry.captureException(err, { extra: { ...context, error_chain: chain } });
  }

  captureMessage(message: string, level: Severity = 'error'): void {
    if (!this.on) return;
    if (!this.limiter.allow(`message:${level}:${message}`, this.now())) return;
    Sentry.captureMessage(message, level);
  }

  /** Starts a release-health session (the tunnel service: while a GUI is connected). */
  startSession(): void {
    if (!this.on) return;
    Sentry.startSession();
    Sentry.captureSession();
  }

  /** Ends the current session ("exited"). */
  endSession(): void {
    if (!this.on) return;
    Sentry.endSession();
  }

  flush(timeoutMs = 2000): Promise<boolean> {
    return this.on ? Sentry.flush(timeoutMs) : Promise.resolve(true);
  }

  /** Ends the session, flushes and stops reporting. */
  async stop(timeoutMs = 2000): Promise<void> {
    if (!this.on) return;
    this.endSession();
    this.current = undefined;
    try {
      await Sentry.close(timeoutMs);
    } catch (err) {
      this.log?.debug({ err }, 'telemetry did not flush in time');
    }
  }
}
