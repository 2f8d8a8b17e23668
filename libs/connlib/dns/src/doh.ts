// DNS over HTTPS (RFC 8484) message helpers, transport-free: the GET form (vectors), and the POST form the
// client sends with its checks of an answer (status, content type, length, DNS message, id 0, question).
import { DnsError } from './errors';
import { formatIp, parseIp } from './ip';
import { asBuffer, decodeMessage } from './message';
import { normalizeName } from './names';

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

// ---- RFC 8484 POST (what the client sends), with typed errors ---------------------------------------------------

/** The largest DoH answer accepted: a DNS message over TCP is at most this long, and so is what askers can take. */
export const DOH_MAX_MESSAGE_BYTES = 65_535;
const DNS_HEADER_BYTES = 12;

/** Stable codes of DoH failures (each one means SERVFAIL to the asker). */
export type DohErrorCode =
  | 'INVALID_DOH_URL'
  | 'DOH_BAD_QUERY'
  | 'DOH_HTTP_STATUS'
  | 'DOH_CONTENT_TYPE'
  | 'DOH_BODY_TOO_LARGE'
  | 'DOH_BODY_TRUNCATED'
  | 'DOH_MALFORMED'
  | 'DOH_ID_MISMATCH'
  | 'DOH_QUESTION_MISMATCH'
  | 'DOH_TIMEOUT'
  | 'DOH_CONNECT'
  | 'DOH_BOOTSTRAP'
  | 'DOH_BUSY';

export class DohError extends Error {
  override readonly name = 'DohError';
  readonly code: DohErrorCode;

  constructor(code: DohErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A DoH server from its URL: where to connect and what to ask for. */
export interface DohServer {
  readonly url: string;
  /** The host name for TLS (SNI and certificate check) and the :authority, without brackets. */
  readonly host: string;
  readonly port: number;
  /** Path and query string of the URL (`/dns-query`). */
  readonly path: string;
  /** The address when the URL's host is an IP literal (no bootstrap needed). */
  readonly literal: string | undefined;
}

/** Parses a DoH URL (https only, no credentials); a DohError('INVALID_DOH_URL') otherwise. */
export function parseDohUrl(url: string): DohServer | DohError {
  let u: URL;
  try {
    u = new URL(url);
  } catch (cause) {
    return new DohError('INVALID_DOH_URL', `invalid DoH URL ${JSON.stringify(url)}`, { cause });
  }
  if (u.protocol !== 'https:' || u.hostname === '' || u.username !== '' || u.password !== '') {
    return new DohError('INVALID_DOH_URL', `a DoH URL must be https:// without credentials: ${JSON.stringify(url)}`);
  }
  const host = u.hostname.startsWith('[') && u.hostname.endsWith(']') ? u.hostname.slice(1, -1) : u.hostname;
  const p = parseIp(host);
  return { url, host, port: u.port === '' ? 443 : Number(u.port), path: `${u.pathname}${u.search}`, literal: p === undefined ? undefined : formatIp(p) };
}

/** An RFC 8484 POST: `body` is the query with id 0 (section 4.1), headers as sent. */
export interface DohPostRequest {
  readonly method: 'POST';
  readonly path: string;
  readonly authority: string;
  readonly headers: { readonly 'content-type': string; readonly accept: string; readonly 'content-length': string };
  readonly body: Uint8Array;
}

export function encodeDohPostRequest(query: Uint8Array, server: DohServer): DohPostRequest | DohError {
  if (query.byteLength < DNS_HEADER_BYTES || query.byteLength > DOH_MAX_MESSAGE_BYTES) {
    return new DohError('DOH_BAD_QUERY', `a ${String(query.byteLength)}-byte query cannot go over DoH`);
  }
  const body = withMessageId(query, 0);
  const host = server.host.includes(':') ? `[${server.host}]` : server.host;
  return {
    method: 'POST',
    path: server.path,
    authority: server.port === 443 ? host : `${host}:${String(server.port)}`,
    headers: { 'content-type': DOH_CONTENT_TYPE, accept: DOH_CONTENT_TYPE, 'content-length': String(body.byteLength) },
    body,
  };
}

/** What the IO shell got back for a DoH request. */
export interface DohHttpResponse {
  readonly status: number;
  readonly contentType: string | undefined;
  /** The content-length header, if any (undefined also when it did not parse). */
  readonly contentLength: number | undefined;
  readonly body: Uint8Array;
  /** False when the stream ended early (reset) or the shell stopped reading at the size limit. */
  readonly complete: boolean;
}

/**
 * Checks a DoH answer to `query` (as the asker's id is known: the query bytes with that id) and returns the
 * answer with that id restored, or a DohError saying what was wrong. Never throws.
 */
export function checkDohResponse(query: Uint8Array, r: DohHttpResponse): Uint8Array | DohError {
  if (r.status !== 200) return new DohError('DOH_HTTP_STATUS', `HTTP status ${String(r.status)}`);
  const type = (r.contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== DOH_CONTENT_TYPE) return new DohError('DOH_CONTENT_TYPE', `content type ${JSON.stringify(r.contentType ?? '')}, not ${DOH_CONTENT_TYPE}`);
  if (r.body.byteLength > DOH_MAX_MESSAGE_BYTES || (r.contentLength ?? 0) > DOH_MAX_MESSAGE_BYTES) {
    return new DohError('DOH_BODY_TOO_LARGE', `a body of ${String(Math.max(r.body.byteLength, r.contentLength ?? 0))} bytes (at most ${String(DOH_MAX_MESSAGE_BYTES)})`);
  }
  if (!r.complete || (r.contentLength !== undefined && r.contentLength !== r.body.byteLength)) {
    return new DohError('DOH_BODY_TRUNCATED', `${String(r.body.byteLength)} bytes of ${r.contentLength === undefined ? 'an unfinished body' : String(r.contentLength)}`);
  }
  const answer = decodeMessage(r.body);
  if (answer?.flag_qr !== true) return new DohError('DOH_MALFORMED', `a ${String(r.body.byteLength)}-byte body that is not a DNS response`);
  if (answer.id !== 0) return new DohError('DOH_ID_MISMATCH', `answer id ${String(answer.id ?? 0)}, not 0 as sent`);
  const asked = decodeMessage(query)?.questions ?? [];
  const got = answer.questions ?? [];
  const same = asked.length === got.length && asked.every((q, i) => {
      const a = got[i];
      return a !== undefined && normalizeName(a.name) === normalizeName(q.name) && a.type === q.type && (a.class ?? 'IN') === (q.class ?? 'IN');
    });
  if (!same) return new DohError('DOH_QUESTION_MISMATCH', 'the answer is for another question');
  return withMessageId(r.body, ((query[0] ?? 0) << 8) | (query[1] ?? 0));
}

/** Collects a response body up to DOH_MAX_MESSAGE_BYTES (+1, so that an oversized body is seen as such). */
export class DohBody {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  /** Adds a chunk; false when the body is now over the limit (stop reading). */
  push(chunk: Uint8Array): boolean {
    const room = DOH_MAX_MESSAGE_BYTES + 1 - this.size;
    const part = chunk.byteLength > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(part);
    this.size += part.byteLength;
    return this.size <= DOH_MAX_MESSAGE_BYTES;
  }

  get byteLength(): number {
    return this.size;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.byteLength;
    }
    return out;
  }
}
