/** Stable codes of every error this package reports. */
export type PhoenixChannelErrorCode =
  // fatal: the channel stops
  | 'INVALID_TOKEN' // 401 invalid_token/missing_token, or `disconnect` token_expired: sign-in required
  | 'AUTHENTICATION_FAILED' // other 401s
  | 'LOGIN_FAILED' // error reply to phx_join
  | 'MAX_RETRIES_REACHED' // initial 15 s or max partition time exhausted
  // hiccups: the channel reconnects
  | 'HTTP_STATUS' // non-401 failure of the websocket upgrade
  | 'CONNECT_FAILED' // TCP/TLS/DNS failure
  | 'MARK_FAILED' // the SO_MARK socket could not be made (e.g. no CAP_NET_ADMIN): a hiccup, retried
  | 'CONNECT_TIMEOUT'
  | 'JOIN_TIMEOUT'
  | 'HEARTBEAT_TIMEOUT'
  | 'PORTAL_CLOSED' // phx_close
  | 'SOCKET_CLOSED' // websocket closed by the peer
  | 'SOCKET_ERROR'
  | 'RECONNECT_REQUESTED' // connect() while connected
  // skipped input: counted, never fatal
  | 'GARBAGE_FRAME'
  | 'UNKNOWN_EVENT' // an event the decoder does not know
  | 'INVALID_PAYLOAD' // a known event whose payload does not validate
  | 'IGNORED_MESSAGE' // a known event the decoder deliberately skips (e.g. an unknown resource type)
  | 'UNMATCHED_REPLY'
  | 'PHX_ERROR'
  // API misuse / local
  | 'NOT_CONNECTED'
  | 'REQUEST_ABORTED'
  | 'REQUEST_TIMEOUT'
  | 'CLOSED'
  // login URL
  | 'INVALID_URL'
  | 'INSECURE_URL_WITH_CERTIFICATE'
  | 'CERTIFICATE_NOT_SUPPORTED';

export class PhoenixChannelError extends Error {
  override readonly name = 'PhoenixChannelError';
  constructor(
    readonly code: PhoenixChannelErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** True when the user must sign in again (the token is invalid or expired); never retried. */
  get requiresSignIn(): boolean {
    return this.code === 'INVALID_TOKEN';
  }
}
