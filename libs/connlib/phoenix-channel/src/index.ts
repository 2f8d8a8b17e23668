// @postern/phoenix-channel: the portal websocket client (Phoenix channels, Firezone's v2 protocol).
export { PhoenixChannelError, type PhoenixChannelErrorCode } from './errors';
export {
  PhoenixChannelCore,
  type PhoenixChannelCoreConfig,
  type ChannelAction,
  type ChannelEvent,
  type ChannelState,
  type ChannelStats,
  JOIN_TIMEOUT_MS,
  HEARTBEAT_INTERVAL_MS,
  MAX_UNANSWERED_HEARTBEATS,
  CONNECT_TIMEOUT_MS,
} from './core';
export { type InboundDecoder, type DecodeResult, type ModelParseResult, type SafeParser } from './decode';
export { Backoff, type BackoffPolicy, type Rng, INITIAL_CONNECT_POLICY, reconnectPolicy } from './backoff';
export { type InboundFrame, type ReplyPayload, type ReplyStatus, HEARTBEAT_TOPIC, parseFrame, serializeFrame, parseReplyPayload, errorReason, displayErrorReason } from './frame';
export {
  type UserAgentParts,
  type ProblemDetails,
  type HttpFailure,
  authorizationHeaderValue,
  formatUserAgent,
  upgradeHeaders,
  parseProblemDetails,
  parseRetryAfterMs,
  classifyHttpFailure,
} from './http';
export { type PortalRole, type LoginUrlParams, buildLoginUrl, externalId, mtlsHost, baseUrl, hostAndPort, redactUrl } from './login-url';
export { PhoenixChannel, type PhoenixChannelOptions, type Reply, cryptoRng, errorChain } from './shell';
export { defaultUserAgent } from './platform';
/** A non-blocking TCP socket fd with SO_MARK set before connect (used by the portal connection and DNS over TCP). */
export { markedTcpFd } from './marked-socket';
