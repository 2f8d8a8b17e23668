// A new configuration: revoke what it no longer allows, push what changed. Connections stay open
// unless their token went away.
import { DISCONNECT_EVENT, encodeFrame } from '@postern/model';
import { clientResource, gatewayResource, isAllowed, visibleResources, type CompiledConfig } from '../config/compile';
import { clientTokenUser } from './auth';
import { failAuthorization } from './broker';
import type { ClientConn, Conn, State } from './state';
import { turnServerChanges, turnServerRelays } from './turn-servers';
import { clientInterface, joinedDevices, log, relaysPresence, toClient, toGateway, turnExpiry } from './views';

function closeConn(state: State, conn: Conn, code: number, reason: string): void {
  state.outbox.push({ kind: 'close', connId: conn.connId, code, reason });
}

export function applyConfig(state: State, cfg: CompiledConfig, nowMs: number): void {
  const turn = turnServerChanges(state.cfg.turnServers, cfg.turnServers);
  state.cfg = cfg;
  // 1. Tokens that went away.
  for (const conn of [...state.conns.values()]) {
    if (conn.role === 'client') {
      const user = clientTokenUser(state, conn.tokenHash, nowMs);
      if (!user || user.email !== conn.email) {
        state.outbox.push({ kind: 'send', connId: conn.connId, text: encodeFrame({ topic: 'client', event: DISCONNECT_EVENT, payload: { reason: 'token_expired' }, ref: null }) });
        closeConn(state, conn, 4001, 'token revoked');
      }
    } else if (conn.role === 'gateway') {
      if (cfg.gatewayTokens.get(conn.tokenHash)?.siteId !== conn.siteId) closeConn(state, conn, 4001, 'token revoked');
    } else if (!cfg.relayTokens.has(conn.tokenHash)) {
      closeConn(state, conn, 4001, 'token revoked');
    }
  }
  // 1b. External TURN servers added, removed or changed: every device hears it (relays_presence).
  if (turn.gone.length > 0 || turn.added.length > 0) {
    const expires = turnExpiry(state, nowMs);
    for (const d of joinedDevices(state)) relaysPresence(state, d, turn.gone, turnServerRelays(turn.added, d.publicKey, expires));
  }
  // 2. Clients: resources created, updated, deleted; interface changes.
  for (const conn of state.conns.values()) if (conn.role === 'client' && conn.joined) pushClientChanges(state, conn);
  // 3. Gateways: revoke authorizations the config no longer allows; push changed resource descriptions.
  const updated = new Set<string>();
  for (const [key, a] of state.active) {
    const resource = cfg.resources.get(a.resourceId);
    const user = cfg.users.get(a.email);
    const gwConnId = state.gateways.get(a.gatewayId);
    const gw = gwConnId === undefined ? undefined : state.conns.get(gwConnId);
    const gwSite = gw?.role === 'gateway' ? gw.siteId : undefined;
    const allowed = resource !== undefined && user !== undefined && isAllowed(cfg, user, resource.id) && (gwSite === undefined || resource.sites.some((s) => s.id === gwSite));
    if (!allowed) {
      state.active.delete(key);
      log(state, 'info', 'access revoked by configuration', { client_id: a.clientId, resource_id: a.resourceId });
      if (gw?.role === 'gateway') toGateway(state, gw, { event: 'reject_access', payload: { client_id: a.clientId, resource_id: a.resourceId } });
      continue;
    }
    const json = JSON.stringify(gatewayResource(resource));
    if (json !== a.resourceJson) {
      a.resourceJson = json;
      if (gw?.role === 'gateway' && !updated.has(`${a.gatewayId}|${a.resourceId}`)) {
        updated.add(`${a.gatewayId}|${a.resourceId}`);
        toGateway(state, gw, { event: 'resource_updated', payload: gatewayResource(resource) });
      }
    }
  }
  // 4. Pending requests for what is no longer allowed.
  for (const [ref, p] of state.pending) {
    const resource = cfg.resources.get(p.resourceId);
    const clientConnId = state.clients.get(p.clientId);
    const client = clientConnId === undefined ? undefined : state.conns.get(clientConnId);
    if (client?.role !== 'client') continue;
    const user = cfg.users.get(client.email);
    if (resource && user && isAllowed(cfg, user, resource.id)) continue;
    state.pending.delete(ref);
    failAuthorization(state, client, p.resourceId, resource ? 'forbidden' : 'not_found');
  }
}

function pushClientChanges(state: State, conn: ClientConn): void {
  const user = state.cfg.users.get(conn.email);
  const now = new Map((user ? visibleResources(state.cfg, user) : []).map((r) => [r.id, clientResource(r)]));
  for (const [id, r] of now) {
    const json = JSON.stringify(r);
    if (conn.visible.get(id) !== json) toClient(state, conn, { event: 'resource_created_or_updated', payload: r });
    conn.visible.set(id, json);
  }
  for (const id of [...conn.visible.keys()]) {
    if (now.has(id)) continue;
    conn.visible.delete(id);
    toClient(state, conn, { event: 'resource_deleted', payload: id });
  }
  const iface = clientInterface(state, conn);
  const json = JSON.stringify(iface);
  if (json !== conn.interfaceJson) {
    conn.interfaceJson = json;
    toClient(state, conn, { event: 'config_changed', payload: { interface: iface } });
  }
}
