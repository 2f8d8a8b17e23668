// The portal websocket URL: scheme, path per role, and the query parameters of portal-protocol.md.
import { createHash } from 'node:crypto';
import { PhoenixChannelError } from './errors';

export type PortalRole = 'client' | 'gateway' | 'relay';

export interface LoginUrlParams {
  readonly role: PortalRole;
  /** The portal API URL (http(s) or ws(s)); its path is kept as a prefix, its query dropped. */
  readonly apiUrl: string;
  /** Device id; sent as `external_id` = hex(sha256(id)) when it is a UUID, verbatim otherwise (client, gateway). */
  readonly deviceId?: string;
  /** Device name (the caller defaults it to the hostname). */
  readonly name?: string;
  /** X25519 public key (32 bytes, or already standard-base64): `public_key` (client, gateway). */
  readonly publicKey?: Uint8Array | string;
  /** Relay: listen port and public addresses. */
  readonly port?: number;
  readonly ipv4?: string;
  readonly ipv6?: string;
  readonly deviceSerial?: string;
  readonly deviceUuid?: string;
  readonly identifierForVendor?: string;
  readonly firebaseInstallationId?: string;
  /** The client presents a TLS client certificate: requires https/wss and the API host's mTLS counterpart. */
  readonly certificate?: boolean;
  /** mTLS host for a self-hosted portal (Firezone: FIREZONE_MTLS_HOST; Postern: POSTERN_MTLS_HOST). */
  readonly mtlsHostOverride?: string | undefined;
}

const UUID_RE = /^(?:urn:uuid:)?\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?$/;

/** `external_id` for a device id: hex(sha256(id)) when it parses as a UUID, else the id itself. */
export function externalId(deviceId: string): string {
  return UUID_RE.test(deviceId) ? createHash('sha256').update(deviceId).digest('hex') : deviceId;
}

function parseUrl(text: string): URL | PhoenixChannelError {
  try {
    return new URL(text);
  } catch (e: unknown) {
    return new PhoenixChannelError('INVALID_URL', `invalid portal URL`, { cause: e });
  }
}

/** The mTLS counterpart of a managed API host; an override names it for any other host (blank = unset). */
export function mtlsHost(apiUrl: string, override: string | undefined): string | PhoenixChannelError {
  const url = parseUrl(apiUrl);
  if (url instanceof PhoenixChannelError) return url;
  switch (url.hostname) {
    case 'api.firez.one':
      return 'mtls.firez.one';
    case 'api.firezone.dev':
      return 'mtls.firezone.dev';
  }
  const o = override?.trim();
  if (o) return o;
  return new PhoenixChannelError('CERTIFICATE_NOT_SUPPORTED', `no mTLS host is known for ${url.hostname}; set POSTERN_MTLS_HOST`);
}

/** Builds the websocket URL for a role. Errors: INVALID_URL, INSECURE_URL_WITH_CERTIFICATE, CERTIFICATE_NOT_SUPPORTED. */
export function buildLoginUrl(p: LoginUrlParams): URL | PhoenixChannelError {
  const url = parseUrl(p.apiUrl);
  if (url instanceof PhoenixChannelError) return url;
  const scheme = url.protocol.slice(0, -1);
  if (p.certificate === true) {
    if (scheme !== 'https' && scheme !== 'wss') {
      return new PhoenixChannelError('INSECURE_URL_WITH_CERTIFICATE', `scheme ${scheme} cannot present a client certificate; use https or wss`);
    }
    const host = mtlsHost(p.apiUrl, p.mtlsHostOverride);
    if (host instanceof PhoenixChannelError) return host;
    url.hostname = host;
  }
  let ws: string;
  if (scheme === 'http' || scheme === 'ws') ws = 'ws';
  else if (scheme === 'https' || scheme === 'wss') ws = 'wss';
  else return new PhoenixChannelError('INVALID_URL', `invalid scheme ${scheme}; only http(s) and ws(s) are allowed`);
  // URL refuses to switch between special and non-special schemes in place; rebuild instead.
  const out = new URL(`${ws}://${url.host}`);
  const prefix = url.pathname.replace(/\/+$/, '');
  out.pathname = `${prefix}/${p.role}${p.role === 'relay' ? '' : '/v2'}/websocket`;
  const q = out.searchParams;
  if (p.deviceId !== undefined && p.role !== 'relay') q.append('external_id', externalId(p.deviceId));
  if (p.name !== undefined) q.append('name', p.name);
  if (p.ipv4 !== undefined) q.append('ipv4', p.ipv4);
  if (p.ipv6 !== undefined) q.append('ipv6', p.ipv6);
  if (p.port !== undefined) q.append('port', String(p.port));
  if (p.deviceSerial !== undefined) q.append('device_serial', p.deviceSerial);
  if (p.deviceUuid !== undefined) q.append('device_uuid', p.deviceUuid);
  if (p.identifierForVendor !== undefined) q.append('identifier_for_vendor', p.identifierForVendor);
  if (p.firebaseInstallationId !== undefined) q.append('firebase_installation_id', p.firebaseInstallationId);
  if (p.publicKey !== undefined && p.role !== 'relay') {
    q.append('public_key', typeof p.publicKey === 'string' ? p.publicKey : Buffer.from(p.publicKey).toString('base64'));
  }
  return out;
}

/** Scheme, host and port only (`wss://api.firez.one/`). */
export function baseUrl(url: URL | string): string {
  const u = typeof url === 'string' ? new URL(url) : url;
  return `${u.protocol}//${u.host}/`;
}

/** Host and port (default 443 when the URL has none). */
export function hostAndPort(url: URL): { readonly host: string; readonly port: number } {
  return { host: url.hostname, port: url.port === '' ? 443 : Number(url.port) };
}

/** The URL with any `token` query value replaced, safe to log. */
export function redactUrl(url: URL | string): string {
  const u = new URL(typeof url === 'string' ? url : url.href);
  if (u.searchParams.has('token')) u.searchParams.set('token', 'REDACTED');
  if (u.password !== '') u.password = 'REDACTED';
  return u.href;
}
