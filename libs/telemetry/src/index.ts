export { OFFICIAL_API_URLS, environmentForApiUrl, type TelemetryEnvironment } from './environment';
export { TelemetryError, type TelemetryErrorCode } from './errors';
export {
  DEDUP_WINDOW_MS,
  NO_TELEMETRY_ENV,
  TELEMETRY_DSN_ENV,
  Telemetry,
  telemetryDisabledByEnv,
  type TelemetryComponent,
  type TelemetryStartOptions,
  type TelemetryState,
} from './telemetry';
