// Connection brokering: request_authorization -> policy -> gateway choice -> PSK + ICE credentials ->
// create_authorization -> the gateway's authorization_created -> authorization_created to the client.
import { deriveIceCredentials, derivePresharedKey, type FailReason, type RequestAuthorization } from '@postern/model';
import { gatewayResource, isAllowed, type ResourceInfo } from '../config/compile';
import { mintIngestToken } from './ingest-token';
import { randomToken } from './rng';
import { activeKey, type ClientConn, type GatewayConn, type Pending, type State } from './state';
import { log, toClient, toGateway } from './views';

/** How long a gateway may take to acknowledge create_authorization before we try another. */
export const PENDING_TIMEOUT_MS = 20_000;

export function onlineGateways(state: State, resource: ResourceInfo): GatewayConn[] {
  const sites = new Set(resource.sites.map((s) => s.id));
  const out: GatewayConn[] = [];
  for (const connId of state.gateways.values()) {
    const g = state.conns.get(connId);
    if (g?.role === 'gateway' && g.joined && sites.has(g.siteId)) out.push(g);
  }
  return out;
}

export function gatewayLoad(state: State, gatewayId: string): number {
  let n = 0;
  for (const a of state.active.values()) if (a.gatewayId === gatewayId) n++;
  for (const p of state.pending.values()) if (p.gatewayId === gatewayId) n++;
  return n;
}

/** Prefer gateways the client is already connected to; else the least loaded; ties broken at random. */
export function chooseGateway(state: State, candidates: readonly GatewayConn[], preferred: readonly string[]): GatewayConn | undefined {
  const pref = candidates.filter((g) => preferred.includes(g.device.id));
  const pool = pref.length > 0 ? pref : candidates;
  if (pool.length === 0) return undefined;
  const loads = pool.map((g) => gatewayLoad(state, g.device.id));
  const min = Math.min(...loads);
  const ties = pool.filter((_, i) => loads[i] === min);
  return ties[state.rng.nextU32() % ties.length];
}

export function failAuthorization(state: State, client: ClientConn | undefined, resourceId: string, reason: FailReason): void {
  state.counters.authorizationsFailed[reason] = (state.counters.authorizationsFailed[reason] ?? 0) + 1;
  if (client) toClient(state, client, { event: 'authorization_creation_failed', payload: { resource_id: resourceId, reason } });
}

export function requestAuthorization(state: State, client: ClientConn, req: RequestAuthorization, nowMs: number): void {
  const resource = state.cfg.resources.get(req.resource_id);
  if (!resource) { failAuthorization(state, client, req.resource_id, 'not_found'); return; }
  const user = state.cfg.users.get(client.email);
  // A resource the client may not see is answered exactly like one that does not exist (Firezone: not_found).
  if (!user || !isAllowed(state.cfg, user, resource.id)) { failAuthorization(state, client, req.resource_id, 'not_found'); return; }
  const gateway = chooseGateway(state, onlineGateways(state, resource), req.connected_gateway_ids);
  if (!gateway) { failAuthorization(state, client, resource.id, 'offline'); return; }
  startAuthorization(state, client, resource, gateway, new Set([gateway.device.id]), req.connected_gateway_ids, nowMs);
}

function startAuthorization(
  state: State,
  client: ClientConn,
  resource: ResourceInfo,
  gateway: GatewayConn,
  tried: Set<string>,
  connectedGatewayIds: readonly string[],
  nowMs: number,
): void {
  const ref = randomToken(state.rng);
  const psk = derivePresharedKey({
    clientPskBase: client.device.pskBase,
    gatewayPskBase: gateway.device.pskBase,
    clientId: client.device.id,
    gatewayId: gateway.device.id,
    clientPublicKey: client.publicKey,
    gatewayPublicKey: gateway.publicKey,
  });
  const ice = deriveIceCredentials({
    clientId: client.device.id,
    clientPublicKey: client.publicKey,
    gatewayId: gateway.device.id,
    gatewayPublicKey: gateway.publicKey,
  });
  const nowUnix = Math.floor(nowMs / 1000);
  const expiresAtUnix = client.tokenExpiresAtMs !== undefined ? Math.floor(client.tokenExpiresAtMs / 1000) : undefined;
  const user = state.cfg.users.get(client.email);
  const token = (role: 'initiator' | 'responder'): string =>
    mintIngestToken(
      {
        accountId: state.cfg.account.id,
        role,
        initiatorDeviceId: client.device.id,
        responderDeviceId: gateway.device.id,
        authorizationId: ref,
        policyId: resource.id,
        resourceId: resource.id,
        resourceName: resource.name,
        actorId: user?.id ?? client.email,
        actorName: user?.name ?? client.email,
        actorEmail: client.email,
        nowUnix,
        expiresAtUnix: expiresAtUnix ?? nowUnix + 86_400,
      },
      state.ingestSecret,
    );
  toGateway(state, gateway, {
    event: 'create_authorization',
    payload: {
      ref,
      resource: gatewayResource(resource),
      client: { id: client.device.id, public_key: client.publicKey, preshared_key: psk, ipv4: client.device.ipv4, ipv6: client.device.ipv6 },
      client_ice_credentials: ice.client,
      gateway_ice_credentials: ice.gateway,
      expires_at: expiresAtUnix ?? null,
      flow_logs_ingest_token: token('responder'),
    },
  });
  const pending: Pending = {
    ref,
    clientId: client.device.id,
    resourceId: resource.id,
    gatewayId: gateway.device.id,
    tried,
    startedMs: nowMs,
    connectedGatewayIds,
    clientPayload: {
      resource_id: resource.id,
      gateway_id: gateway.device.id,
      site_id: gateway.siteId,
      gateway_public_key: gateway.publicKey,
      gateway_ipv4: gateway.device.ipv4,
      gateway_ipv6: gateway.device.ipv6,
      preshared_key: psk,
      client_ice_credentials: ice.client,
      gateway_ice_credentials: ice.gateway,
      flow_logs_ingest_token: token('initiator'),
    },
  };
  state.pending.set(ref, pending);
  log(state, 'debug', 'create_authorization sent', { ref, client_id: client.device.id, gateway_id: gateway.device.id, resource_id: resource.id });
}

function clientConn(state: State, clientId: string): ClientConn | undefined {
  const connId = state.clients.get(clientId);
  const c = connId === undefined ? undefined : state.conns.get(connId);
  return c?.role === 'client' && c.joined ? c : undefined;
}

/** The gateway set up the connection: tell the client. */
export function gatewayAuthorized(state: State, gateway: GatewayConn, ref: string): void {
  const pending = state.pending.get(ref);
  if (!pending || pending.gatewayId !== gateway.device.id) {
    log(state, 'debug', 'authorization_created for an unknown ref', { gateway_id: gateway.device.id });
    return;
  }
  state.pending.delete(ref);
  const client = clientConn(state, pending.clientId);
  const resource = state.cfg.resources.get(pending.resourceId);
  const user = client ? state.cfg.users.get(client.email) : undefined;
  if (!client || !resource || !user || !isAllowed(state.cfg, user, resource.id)) {
    // Policy went away (or the client left) while the gateway set up: revoke what it just allowed.
    toGateway(state, gateway, { event: 'reject_access', payload: { client_id: pending.clientId, resource_id: pending.resourceId } });
    if (client) failAuthorization(state, client, pending.resourceId, resource ? 'forbidden' : 'not_found');
    return;
  }
  state.active.set(activeKey(pending.clientId, gateway.device.id, resource.id), {
    clientId: pending.clientId,
    gatewayId: gateway.device.id,
    resourceId: resource.id,
    email: client.email,
    resourceJson: JSON.stringify(gatewayResource(resource)),
  });
  state.counters.authorizationsCreated++;
  toClient(state, client, { event: 'authorization_created', payload: pending.clientPayload });
}

/** Moves a pending authorization to another gateway of the site, or fails it as offline. */
export function failover(state: State, pending: Pending, nowMs: number): void {
  state.pending.delete(pending.ref);
  const client = clientConn(state, pending.clientId);
  const resource = state.cfg.resources.get(pending.resourceId);
  if (!client) return;
  if (!resource) { failAuthorization(state, client, pending.resourceId, 'not_found'); return; }
  const candidates = onlineGateways(state, resource).filter((g) => !pending.tried.has(g.device.id));
  const next = chooseGateway(state, candidates, pending.connectedGatewayIds);
  if (!next) { failAuthorization(state, client, resource.id, 'offline'); return; }
  log(state, 'info', 'failing over authorization to another gateway', { from: pending.gatewayId, to: next.device.id });
  pending.tried.add(next.device.id);
  startAuthorization(state, client, resource, next, pending.tried, pending.connectedGatewayIds, nowMs);
}

export function expirePending(state: State, nowMs: number): void {
  for (const p of [...state.pending.values()]) if (nowMs - p.startedMs >= PENDING_TIMEOUT_MS) failover(state, p, nowMs);
}
