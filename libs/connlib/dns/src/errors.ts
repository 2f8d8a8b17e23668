/** Stable error codes of `@postern/dns`. Sans-IO entry points return results instead of throwing; these are
 * thrown only by constructors/parsers given invalid configuration. */
export type DnsErrorCode =
  | 'INVALID_PATTERN'
  | 'INVALID_IP'
  | 'PROXY_IPS_EXHAUSTED'
  | 'INVALID_DOH_URL'
  | 'INVALID_ARGUMENT'
  // DNS over TCP to an upstream (tcp-upstream.ts): reported as events, never thrown
  | 'TCP_UPSTREAM_BAD_QUERY'
  | 'TCP_UPSTREAM_BUSY'
  | 'TCP_UPSTREAM_MALFORMED'
  | 'TCP_UPSTREAM_UNSOLICITED'
  | 'TCP_UPSTREAM_CLOSED'
  | 'TCP_UPSTREAM_TIMEOUT';

export class DnsError extends Error {
  override readonly name = 'DnsError';
  readonly code: DnsErrorCode;

  constructor(code: DnsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
