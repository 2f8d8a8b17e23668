export { OFFICIAL_API_URLS, environmentForApiUrl, type TelemetryEnvironment } from './environment';
export { TelemetryError, type TelemetryErrorCode } from './errors';
export { ReportLimiter } from './dedup';
export {
  DEDUP_WINDOW_MS,
  NO_TELEMETRY_ENV,
  OFFICIAL_DSNS,
  TELEMETRY_DSN_ENV,
  sentryRequested,
  Telemetry,
  telemetryDisabledByEnv,
  telemetryPlan,
  type Severity,
  type TelemetryComponent,
  type TelemetryStartOptions,
  type TelemetryState,
} from './telemetry';
