export { LogFilterError, LoggingError, type LoggingErrorCode } from './errors';
export {
  DEFAULT_LOG_FILTER,
  LOG_FILTER_ENV,
  LOG_FORMATS,
  LOG_LEVELS,
  LogFilter,
  logFilterText,
  parseLogFilter,
  parseLogFilterOrExit,
  parseLogFormat,
  type ExitIo,
  type LogFormat,
  type LogLevel,
} from './filter';
export { errWithSources } from './err_with_sources';
export { REDACTED, isSecretKey, redactObject, redactSecrets, redactString } from './redact';
export {
  DEFAULT_LOG_SIZE_CAP_BYTES,
  enforceLogSizeCap,
  logFileName,
  logFileTimestamp,
  prepareLogFile,
  type CapResult,
} from './files';
export { moduleLogger, setupLogging, type LogFileOptions, type LoggingHandle, type LoggingOptions } from './setup';
