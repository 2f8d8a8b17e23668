// PLACEHOLDER implementation; API is final
import type { Logger } from 'pino';
import type { TelemetryEnvironment } from './environment';

export const NO_TELEMETRY_ENV = 'POSTERN_NO_TELEMETRY';
export const TELEMETRY_DSN_ENV = 'POSTERN_TELEMETRY_DSN';
/** The same message is reported at most once per this many milliseconds. */
export const DEDUP_WINDOW_MS = 5 * 60 * 1000;

/** Components with a built-in DSN (used for the official portals only). */
export type TelemetryComponent = 'gateway' | 'headless-client' | 'gui-client' | 'tunnel-service' | 'relay' | 'portal';

export interface TelemetryStartOptions {
  readonly component: TelemetryComponent;
  readonly version: string;
  readonly gitSha: string;
  /** The portal URL; decides the environment. */
  readonly apiUrl: string;
  /** Explicit DSN (flag/POSTERN_TELEMETRY_DSN); required to send anything on-prem. */
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

export class Telemetry {
  /** `now` is a monotonic clock in ms (for the 5-minute dedup window). */
  constructor(private readonly now: () => number = () => performance.now()) {}
  start(_opts: TelemetryStartOptions): TelemetryState {
    void this.now;
    throw new Error('not implemented');
  }
  get state(): TelemetryState | undefined {
    return undefined;
  }
  setTag(_key: string, _value: string): void {}
  setAccount(_slug: string | undefined): void {}
  setDeviceId(_id: string | undefined): void {}
  captureError(_err: unknown, _context?: Readonly<Record<string, unknown>>): void {}
  captureMessage(_message: string, _level?: 'info' | 'warning' | 'error'): void {}
  startSession(): void {}
  endSession(): void {}
  flush(_timeoutMs?: number): Promise<boolean> {
    return Promise.resolve(true);
  }
  stop(_timeoutMs?: number): Promise<void> {
    return Promise.resolve();
  }
}
