// What the service handler needs of a connlib session, so the real one (TUN, routes, DNS, portal) and the
// in-process fake (`--mock-tunnel`, tests) are interchangeable.
import type { IpcResource } from '../ipc/messages';

export interface SessionStartOptions {
  readonly token: string;
  readonly apiUrl: string;
  readonly deviceId: string;
  readonly internetResourceActive: boolean;
}

/** What a running session reports. */
export interface SessionSink {
  /** Joined the portal (the tunnel is configured). */
  connected(): void;
  resources(resources: readonly IpcResource[]): void;
  allGatewaysOffline(): void;
  /** The session ended by itself. */
  failed(error: string, requiresSignIn: boolean): void;
}

export interface RunningSession {
  setInternetResourceActive(active: boolean): void;
  /** Network or DNS changed: new connections, re-read resolvers, reconnect the portal. */
  reset(): void;
  stop(): Promise<void>;
}

export type SessionStartErrorCode = 'NO_NETWORK' | 'INVALID_TOKEN' | 'START_FAILED';

export class SessionStartError extends Error {
  override readonly name = 'SessionStartError';
  constructor(
    readonly code: SessionStartErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface SessionBackend {
  /** Starts a session; throws SessionStartError (`NO_NETWORK` when there is no route to the portal). */
  start(opts: SessionStartOptions, sink: SessionSink): Promise<RunningSession>;
}

/** Network / DNS change sources, as bin-shared's notifiers (resolve true per change, false once closed). */
export interface ChangeSource {
  notified(): Promise<boolean>;
  close(): Promise<void>;
}

/** Telemetry as the handler uses it (the real one is @postern/telemetry's Telemetry). */
export interface TelemetryPort {
  start(opts: { component: 'tunnel-service'; version: string; gitSha: string; apiUrl: string }): { environment: string };
  setAccount(slug: string | undefined): void;
  setDeviceId(id: string | undefined): void;
  startSession(): void;
  stop(): Promise<void>;
}
