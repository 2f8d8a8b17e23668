// `flow_logs_ingest_token`: current Firezone clients and gateways require an HS256 JWT with these claims
// on every authorization. Postern does not collect flow logs (`upload_interval_secs: 0`), so
// `uploads_enabled` is false; the token only satisfies the peers' parser.
import { createHmac } from 'node:crypto';

export interface IngestClaims {
  readonly accountId: string;
  readonly role: 'initiator' | 'responder';
  readonly initiatorDeviceId: string;
  readonly responderDeviceId: string;
  readonly authorizationId: string;
  readonly policyId: string;
  readonly resourceId: string;
  readonly resourceName: string;
  readonly actorId: string;
  readonly actorName: string;
  readonly actorEmail: string;
  readonly nowUnix: number;
  readonly expiresAtUnix: number;
}

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const iso = (unix: number): string => new Date(unix * 1000).toISOString().replace(/\.\d{3}Z$/, '.000000Z');

export function mintIngestToken(c: IngestClaims, secret: Uint8Array): string {
  const header = b64url({ alg: 'HS256', typ: 'JWT' });
  const claims = b64url({
    account_id: c.accountId,
    iat: c.nowUnix,
    exp: c.expiresAtUnix,
    uploads_enabled: false,
    role: c.role,
    initiator_device_id: c.initiatorDeviceId,
    responder_device_id: c.responderDeviceId,
    policy_authorization_id: c.authorizationId,
    policy_id: c.policyId,
    resource_id: c.resourceId,
    resource_name: c.resourceName,
    initiator_actor_id: c.actorId,
    initiator_actor_name: c.actorName,
    initiator_actor_email: c.actorEmail,
    authorized_at: iso(c.nowUnix),
    authorization_expires_at: iso(c.expiresAtUnix),
  });
  const signature = createHmac('sha256', secret).update(`${header}.${claims}`).digest('base64url');
  return `${header}.${claims}.${signature}`;
}
