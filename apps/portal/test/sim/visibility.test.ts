// The portal never tells a client about resources or gateways it may not see.
import { describe, expect, it } from 'vitest';
import { hashToken } from '../../src/core/secrets';
import { EXAMPLE, Harness, KEYS, type Frame } from '../support';

const BOB_TOKEN = 'postern-test-bob-client-token';
/** The example plus a secret resource for an `ops` group (alice is not in it) and bob in `ops` only. */
const TEXT = EXAMPLE.replace('groups:\n', 'groups:\n  - name: ops\n')
  .replace('sites:\n  - name: lab\n', 'sites:\n  - name: lab\n  - name: vault-site\n')
  .replace('gateways:\n', 'gateways:\n  - site: vault-site\n    name: vault-gateway\n    token_hash: ' + hashToken('postern-test-vault-gateway-token') + '\n')
  .replace('users:\n', 'users:\n  - email: bob@example.com\n    name: Bob\n    groups: [ops]\n')
  .replace('clients:\n', `clients:\n  - user: bob@example.com\n    name: bob-laptop\n    token_hash: ${hashToken(BOB_TOKEN)}\n`)
  .replace('policies:', '  - name: vault\n    type: cidr\n    address: 10.66.0.0/16\n    sites: [vault-site]\npolicies:\n  - group: ops\n    resource: vault')
  .replace('policies:\n  - group: ops\n    resource: vault', 'policies:\n  - group: ops\n    resource: vault');

function authorize(h: Harness, conn: number, resourceId: string): void {
  h.send(conn, { topic: 'client', event: 'request_authorization', payload: { resource_id: resourceId, connected_gateway_ids: [] }, ref: 1 });
}

const strip = (frames: Frame[]): unknown[] => frames.map((f) => ({ ...f, payload: { ...f.payload, resource_id: 'X' } }));

describe('visibility', () => {
  it('lists only the resources of the user: alice never sees vault, bob sees only vault', () => {
    const h = new Harness(TEXT);
    const alice = h.client();
    const bob = h.client('bob-device', KEYS.client2, BOB_TOKEN);
    const names = (init: { resources: { name: string }[] }): string[] => init.resources.map((r) => r.name).sort();
    expect(names(alice.init)).toEqual(['lab-net', 'lab-web']);
    expect(names(bob.init)).toEqual(['vault']);
    expect(JSON.stringify(alice.init)).not.toContain('10.66.');
  });

  it('answers a hidden resource exactly like a missing one, and tells no gateway', () => {
    const h = new Harness(TEXT);
    const vaultGw = h.gateway('vault-gw', KEYS.gw2);
    const { conn } = h.client();
    h.take(vaultGw.conn);
    authorize(h, conn, h.resourceId('vault'));
    const hidden = h.take(conn);
    authorize(h, conn, '11111111-2222-4333-8444-555555555555');
    const missing = h.take(conn);
    expect(hidden.map((f) => [f.event, f.payload.reason])).toEqual([['authorization_creation_failed', 'not_found']]);
    expect(strip(hidden)).toEqual(strip(missing));
    expect(JSON.stringify(hidden)).not.toContain(vaultGw.id);
    expect(h.take(vaultGw.conn)).toEqual([]);
    expect(h.core.stats().authorizationsPending).toBe(0);
  });

  it('never relays candidates to a gateway the client has no authorization with', () => {
    const h = new Harness(TEXT);
    const vaultGw = h.gateway('vault-gw', KEYS.gw2);
    const { conn } = h.client();
    h.take(vaultGw.conn);
    for (const event of ['new_gateway_ice_candidates', 'invalidate_gateway_ice_candidates']) {
      h.send(conn, { topic: 'client', event, payload: { gateway_id: vaultGw.id, candidates: ['candidate:1 1 udp 1 198.18.0.2 1 typ host'] }, ref: 2 });
    }
    expect(h.take(vaultGw.conn)).toEqual([]);
  });

  it("a gateway cannot reach another site's clients or acknowledge another gateway's authorization", () => {
    const h = new Harness(TEXT);
    const labGw = h.gateway();
    const vaultGw = h.gateway('vault-gw', KEYS.gw2);
    const { conn } = h.client();
    authorize(h, conn, h.resourceId('lab-net'));
    const create = h.take(labGw.conn).find((f) => f.event === 'create_authorization');
    const clientId = h.core.deviceOf(conn)?.id ?? '';
    expect(create?.payload.client.id).toBe(clientId);
    h.take(conn);
    // The vault gateway tries to acknowledge lab's pending authorization and to push candidates to the client.
    h.send(vaultGw.conn, { topic: 'gateway', event: 'authorization_created', payload: { ref: create?.payload.ref }, ref: 3 });
    h.send(vaultGw.conn, { topic: 'gateway', event: 'broadcast_ice_candidates', payload: { client_ids: [clientId], candidates: ['candidate:1 1 udp 1 10.66.0.1 1 typ host'] }, ref: 4 });
    expect(h.take(conn)).toEqual([]);
    expect(h.core.stats()).toMatchObject({ authorizationsPending: 1, authorizationsActive: 0 });
    // The vault gateway's own init says nothing of the lab site or its client.
    expect(JSON.stringify(vaultGw.init)).not.toContain('198.18.27.');
  });
});
