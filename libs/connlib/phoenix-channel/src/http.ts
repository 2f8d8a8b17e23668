// The HTTP side of the websocket upgrade: auth header, User-Agent, problem details (RFC 9457), Retry-After.
import { PhoenixChannelError } from './errors';
import { isRecord } from './frame';

/** `Bearer <token>` with all whitespace removed (a token can never inject a header line). */
export function authorizationHeaderValue(token: string): string {
  return `Bearer ${token.replace(/\s/g, '')}`;
}

export interface UserAgentParts {
  readonly os: string;
  readonly osVersion: string;
  /** `gateway`, `headless-client`, `gui-client` or `relay`. */
  readonly component: string;
  readonly version: string;
  readonly arch: string;
  readonly kernel: string;
}

/** `<os>/<os version> <component>/<version> (<arch>; <kernel>)`, non-ASCII characters stripped. */
export function formatUserAgent(p: UserAgentParts): string {
  return `${p.os}/${p.osVersion} ${p.component}/${p.version} (${p.arch}; ${p.kernel})`.replace(/[^\x20-\x7e]/g, '');
}

/** Headers of the websocket upgrade request; no X-Authorization without a token. */
export function upgradeHeaders(token: string | undefined, userAgent: string): Record<string, string> {
  const h: Record<string, string> = { 'User-Agent': userAgent.replace(/[^\x20-\x7e]/g, '') };
  if (token !== undefined) h['X-Authorization'] = authorizationHeaderValue(token);
  return h;
}

export interface ProblemDetails {
  readonly code: string | null;
  readonly detail: string | null;
  readonly title: string | null;
  readonly status: number | null;
}

/** Problem details of an `application/problem+json` body (media type case-insensitive), else undefined. */
export function parseProblemDetails(contentType: string | null | undefined, body: string): ProblemDetails | undefined {
  if (contentType == null) return undefined;
  const media = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  if (media !== 'application/problem+json') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    // malformed body: no problem details (fixture problem_details_malformed_json)
    return undefined;
  }
  if (!isRecord(json)) return undefined;
  const str = (k: string): string | null => (typeof json[k] === 'string' ? json[k] : null);
  return { code: str('code'), detail: str('detail'), title: str('title'), status: typeof json['status'] === 'number' ? json['status'] : null };
}

/**
 * Retry-After (RFC 9110 §10.2.3) in milliseconds: delta-seconds, or an HTTP-date relative to `wallNowMs`
 * (past dates clamp to 0). Undefined when unparseable.
 */
export function parseRetryAfterMs(value: string | null | undefined, wallNowMs: number): number | undefined {
  if (value == null) return undefined;
  const v = value.trim();
  if (/^[0-9]+$/.test(v)) {
    const secs = Number(v);
    return Number.isSafeInteger(secs) ? secs * 1000 : undefined;
  }
  if (!/[a-zA-Z]{3},?\s+\d{1,2}\s+[a-zA-Z]{3}\s+\d{4}\s+\d{2}:\d{2}:\d{2}/.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - wallNowMs) / 1000) * 1000);
}

/** What the shell tells the core about a failed upgrade (the edge converts headers into this). */
export interface HttpFailure {
  readonly status: number;
  readonly problem?: ProblemDetails | undefined;
  readonly retryAfterMs?: number | undefined;
}

/** Fatal for 401 (sign-in required with invalid_token/missing_token), otherwise a retryable hiccup. */
export function classifyHttpFailure(f: HttpFailure): { readonly fatal: boolean; readonly error: PhoenixChannelError } {
  if (f.status === 401) {
    const code = f.problem?.code;
    if (code === 'invalid_token' || code === 'missing_token') {
      return { fatal: true, error: new PhoenixChannelError('INVALID_TOKEN', `The portal rejected the token (${code}); sign in again`) };
    }
    const detail = f.problem?.detail ?? 'no reason provided';
    return { fatal: true, error: new PhoenixChannelError('AUTHENTICATION_FAILED', `Failed to authenticate with portal: ${detail}`) };
  }
  const retry = f.retryAfterMs !== undefined ? ` (Retry-After ${Math.round(f.retryAfterMs / 1000)} s)` : '';
  return { fatal: false, error: new PhoenixChannelError('HTTP_STATUS', `portal answered the websocket upgrade with HTTP ${f.status}${retry}`) };
}
