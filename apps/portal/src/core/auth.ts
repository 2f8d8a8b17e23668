// Who is connecting: token (hashed, compared with the config and the issued tokens) + query parameters.
import { isKey32, type Key } from '@postern/model';
import { isIP } from 'node:net';
import { uuidFromName, hashToken } from './secrets';
import type { State } from './state';

export interface ConnectQuery {
  readonly external_id?: string | undefined;
  readonly name?: string | undefined;
  readonly public_key?: string | undefined;
  readonly ipv4?: string | undefined;
  readonly ipv6?: string | undefined;
  readonly port?: string | undefined;
}

export type Identity =
  | { role: 'client'; tokenHash: string; email: string; tokenExpiresAtMs: number | undefined; externalId: string; name: string; publicKey: Key }
  | { role: 'gateway'; tokenHash: string; siteId: string; externalId: string; name: string; publicKey: Key }
  | { role: 'relay'; tokenHash: string; name: string; relayId: string; ipv4: string | undefined; ipv6: string | undefined; port: number };

export type AuthResult =
  | { ok: true; identity: Identity }
  | { ok: false; status: 400 | 401; code: 'missing_token' | 'invalid_token' | 'invalid_params'; detail: string };

const unauthorized = (code: 'missing_token' | 'invalid_token', detail: string): AuthResult => ({ ok: false, status: 401, code, detail });
const badRequest = (detail: string): AuthResult => ({ ok: false, status: 400, code: 'invalid_params', detail });

/** The user a client token acts as, if the token is valid now. */
export function clientTokenUser(state: State, tokenHash: string, nowMs: number): { email: string; expiresAtMs: number | undefined } | undefined {
  const configured = state.cfg.clientTokens.get(tokenHash);
  if (configured) return state.cfg.users.has(configured.email) ? { email: configured.email, expiresAtMs: undefined } : undefined;
  const issued = state.store.getToken(tokenHash);
  if (!issued || issued.expiresAtMs <= nowMs || !state.cfg.users.has(issued.email)) return undefined;
  return { email: issued.email, expiresAtMs: issued.expiresAtMs };
}

export function authenticate(state: State, role: 'client' | 'gateway' | 'relay', token: string | undefined, q: ConnectQuery, nowMs: number): AuthResult {
  if (token === undefined || token === '') return unauthorized('missing_token', 'Missing token');
  const tokenHash = hashToken(token.replace(/\s+/g, ''));
  if (role === 'relay') {
    const relay = state.cfg.relayTokens.get(tokenHash);
    if (!relay) return unauthorized('invalid_token', 'Invalid token');
    const ipv4 = q.ipv4 && isIP(q.ipv4) === 4 ? q.ipv4 : undefined;
    const ipv6 = q.ipv6 && isIP(q.ipv6) === 6 ? q.ipv6 : undefined;
    if (!ipv4 && !ipv6) return badRequest('a relay needs an ipv4 or ipv6 query parameter');
    const port = q.port === undefined ? 3478 : Number(q.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return badRequest('invalid port');
    const relayId = uuidFromName(`relay:${relay.name}:${ipv4 ?? ''}:${ipv6 ?? ''}:${port}`);
    return { ok: true, identity: { role, tokenHash, name: relay.name, relayId, ipv4, ipv6, port } };
  }
  const externalId = q.external_id;
  const publicKey = q.public_key;
  if (role === 'client') {
    const user = clientTokenUser(state, tokenHash, nowMs);
    if (!user) return unauthorized('invalid_token', 'Invalid token');
    if (!externalId || !publicKey || !isKey32(publicKey)) return badRequest('external_id and public_key (base64 of 32 bytes) are required');
    return { ok: true, identity: { role, tokenHash, email: user.email, tokenExpiresAtMs: user.expiresAtMs, externalId, name: q.name ?? externalId, publicKey } };
  }
  const gateway = state.cfg.gatewayTokens.get(tokenHash);
  if (!gateway) return unauthorized('invalid_token', 'Invalid token');
  if (!externalId || !publicKey || !isKey32(publicKey)) return badRequest('external_id and public_key (base64 of 32 bytes) are required');
  return { ok: true, identity: { role, tokenHash, siteId: gateway.siteId, externalId, name: q.name ?? gateway.name ?? externalId, publicKey } };
}
