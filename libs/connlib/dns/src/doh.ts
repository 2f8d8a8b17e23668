// DNS over HTTPS (RFC 8484) message helpers, transport-free: build the GET request for a query, check and
// decode a response body.
import { DnsError } from './errors';
import { asBuffer, decodeMessage } from './message';

export const DOH_CONTENT_TYPE = 'application/dns-message';

export interface DohGetRequest {
  readonly method: 'GET';
  readonly url: string;
  readonly host: string;
  readonly path: string;
  /** The query string without '?', `dns=<base64url>`. */
  readonly query: string;
  readonly headers: { readonly accept: string };
}

/** The host of a DoH server URL; throws DnsError('INVALID_DOH_URL') for anything but an https URL. */
export function dohHost(serverUrl: string): string {
  let u: URL;
  try {
    u = new URL(serverUrl);
  } catch (cause) {
    throw new DnsError('INVALID_DOH_URL', `invalid DoH URL ${JSON.stringify(serverUrl)}`, { cause });
  }
  if (u.protocol !== 'https:' || u.hostname === '') {
    throw new DnsError('INVALID_DOH_URL', `DoH URL must be https: ${JSON.stringify(serverUrl)}`);
  }
  return u.hostname;
}

/** RFC 8484 section 4.1: the query with id 0 (cache friendly), base64url without padding, in `dns=`. */
export function encodeDohGetRequest(query: Uint8Array, serverUrl: string): DohGetRequest {
  const host = dohHost(serverUrl);
  const u = new URL(serverUrl);
  const body = new Uint8Array(query);
  if (body.byteLength >= 2) {
    body[0] = 0;
    body[1] = 0;
  }
  const param = `dns=${asBuffer(body).toString('base64url')}`;
  u.search = u.search ? `${u.search.slice(1)}&${param}` : param;
  return { method: 'GET', url: u.toString(), host, path: u.pathname, query: u.search.slice(1), headers: { accept: DOH_CONTENT_TYPE } };
}

export type DohResponseResult =
  | { readonly kind: 'ok'; readonly message: Uint8Array }
  | { readonly kind: 'error'; readonly reason: 'status' | 'content-type' | 'malformed' };

/** Checks an HTTP response to a DoH request; `ok` carries the DNS message (to pass on with the asker's id). */
export function decodeDohResponse(status: number, contentType: string | undefined, body: Uint8Array): DohResponseResult {
  if (status !== 200) return { kind: 'error', reason: 'status' };
  if ((contentType ?? '').split(';')[0]?.trim().toLowerCase() !== DOH_CONTENT_TYPE) return { kind: 'error', reason: 'content-type' };
  if (!decodeMessage(body)?.flag_qr) return { kind: 'error', reason: 'malformed' };
  return { kind: 'ok', message: body };
}

/** A copy of `message` with its id replaced (DoH answers carry id 0). */
export function withMessageId(message: Uint8Array, id: number): Uint8Array {
  const out = new Uint8Array(message);
  if (out.byteLength >= 2) {
    out[0] = (id >> 8) & 0xff;
    out[1] = id & 0xff;
  }
  return out;
}
