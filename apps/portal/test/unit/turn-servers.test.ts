// "Bring your own TURN" (`turn_servers`): config validation, coturn TURN REST credentials, relay lists and reloads.
import { describe, expect, it } from 'vitest';
import { parseClientIngress, parseGatewayIngress } from '@postern/model';
import { turnRestCredentials } from '../../src/core/turn-servers';
import { EXAMPLE, Harness, KEYS, config, problems } from '../support';

const SECRET = 'north-sea-turn-secret';
const REST = `turn_servers:
  - name: coturn
    addresses: ["198.18.29.2:3478", "[fd00:29::2]:3478"]
    auth: {type: rest, secret: ${SECRET}}
`;
const STATIC = `turn_servers:
  - name: coturn-static
    addresses: ["198.18.29.3:3478"]
    auth: {type: static, username: alice, password: wonderland}
`;

describe('turn_servers config', () => {
  it('accepts REST and static servers; ids are stable per account and name', () => {
    const a = config(`${EXAMPLE}\n${REST}`);
    const b = config(`${EXAMPLE}\n${REST.replace('198.18.29.2', '198.18.29.9')}`);
    expect(a.turnServers).toHaveLength(1);
    expect(a.turnServers[0]?.id).toBe(b.turnServers[0]?.id);
    expect(a.turnServers[0]?.auth).toEqual({ type: 'rest', secret: SECRET });
    expect(config(`${EXAMPLE}\n${STATIC}`).turnServers[0]?.auth).toEqual({ type: 'static', username: 'alice', password: 'wonderland' });
    expect(config().turnServers).toEqual([]);
  });

  it('names file, line and field of bad entries', () => {
    const text = `${EXAMPLE}\n${REST.replace('"198.18.29.2:3478"', '"198.18.29.2"')}`;
    const line = text.split('\n').findIndex((l) => l.includes('"198.18.29.2"')) + 1;
    expect(problems(text)).toEqual([`portal.yaml:${String(line)}:17: turn_servers[0].addresses[0]: expected ipv4:port or [ipv6]:port`]);
    for (const bad of ['"[198.18.29.2]:3478"', '"fd00::2:3478"', '"198.18.29.2:0"', '"198.18.29.2:70000"', '"300.1.1.1:3478"', '"example.com:3478"']) {
      expect(problems(`${EXAMPLE}\n${REST.replace('"198.18.29.2:3478"', bad)}`), bad).toEqual([expect.stringMatching(/turn_servers\[0\]\.addresses\[0\]: expected ipv4:port/)]);
    }
    expect(problems(`${EXAMPLE}\n${REST.replace('"[fd00:29::2]:3478"', '"198.18.29.4:3478"')}`)).toEqual([
      expect.stringMatching(/turn_servers\[0\]\.addresses: at most one IPv4 and one IPv6 address/),
    ]);
    expect(problems(`${EXAMPLE}\n${REST.replace('[fd00:29::2]:3478', '[fd00:29::2]:3479')}`)).toEqual([expect.stringMatching(/turn_servers\[0\]\.addresses: the addresses of one TURN server must use the same port/)]);
    expect(problems(`${EXAMPLE}\n${REST.replace(SECRET, 'short')}`)).toEqual([expect.stringMatching(/turn_servers\[0\]\.auth\.secret: use a secret of at least 16/)]);
    expect(problems(`${EXAMPLE}\n${STATIC.replace('alice', 'al:ice')}`)).toEqual([expect.stringMatching(/turn_servers\[0\]\.auth\.username: no ":"/)]);
    expect(problems(`${EXAMPLE}\n${REST.replace('type: rest', 'type: oauth')}`)[0]).toMatch(/turn_servers\[0\]\.auth\.type: /);
    expect(problems(`${EXAMPLE}\n${REST}${REST.replace('turn_servers:\n', '')}`)).toEqual([expect.stringMatching(/turn_servers\[1\]\.name: duplicate TURN server "coturn"/)]);
    expect(problems(`${EXAMPLE}\n${REST.replace('    auth:', '    addresses2: []\n    auth:')}`)[0]).toMatch(/turn_servers\[0\]: Unrecognized key: "addresses2"/);
  });
});

describe('coturn TURN REST credentials', () => {
  it('match `openssl dgst -sha1 -hmac <secret> -binary | base64` (coturn --use-auth-secret)', () => {
    // printf '%s' '1750604800:someuser' | openssl dgst -sha1 -hmac 'north-sea-turn-secret' -binary | base64
    expect(turnRestCredentials(SECRET, 'someuser', 1_750_604_800)).toEqual({ username: '1750604800:someuser', password: 'eIrDozxM92QOrSJGigm/c5uCit0=' });
  });
});

describe('relay lists with turn_servers', () => {
  it('hand every device per-device, expiring REST credentials for each address, next to joined postern-relays', () => {
    const h = new Harness(`${EXAMPLE}\n${REST}`);
    h.relay();
    const { init } = h.client();
    expect(parseClientIngress({ event: 'init', payload: init }).kind).toBe('message');
    const expires = Math.floor(h.now / 1000) + 7 * 24 * 3600;
    const ext = (init.relays as { id: string; addr: string; username: string; password: string; expires_at: number }[]).filter((r) => r.id === h.core.config.turnServers[0]?.id);
    expect(ext.map((r) => r.addr)).toEqual(['198.18.29.2:3478', '[fd00:29::2]:3478']);
    // the REST id is the device's Firezone salt: base64_nopad(sha256(public key))
    const username = `${String(expires)}:vWv9RfZkTOa8lNJGVhSPK65JoOhjM2b5vyNIV8CU2zE`;
    for (const r of ext) expect(r).toMatchObject({ username, password: turnRestCredentials(SECRET, 'vWv9RfZkTOa8lNJGVhSPK65JoOhjM2b5vyNIV8CU2zE', expires).password, expires_at: expires });
    expect(init.relays).toHaveLength(3); // one postern-relay (IPv4) + two coturn addresses
    const gw = h.gateway();
    expect(parseGatewayIngress({ event: 'init', payload: gw.init }).kind).toBe('message');
    const gwExt = (gw.init.relays as { id: string; username: string }[]).filter((r) => r.id === h.core.config.turnServers[0]?.id);
    expect(gwExt).toHaveLength(2);
    expect(gwExt[0]?.username).not.toBe(username); // another device, another username
  });

  it('hand static credentials as configured', () => {
    const h = new Harness(`${EXAMPLE}\n${STATIC}`);
    const { init } = h.client('c', KEYS.client2);
    expect(init.relays).toEqual([{ type: 'turn', id: h.core.config.turnServers[0]?.id, addr: '198.18.29.3:3478', username: 'alice', password: 'wonderland', expires_at: Math.floor(h.now / 1000) + 7 * 24 * 3600 }]);
  });

  it('announce TURN servers added, changed and removed by a reload (relays_presence) to clients and gateways', () => {
    const h = new Harness(EXAMPLE);
    const { conn: client } = h.client();
    const gw = h.gateway();
    h.take(client);
    h.take(gw.conn);
    h.core.reconfigure(config(`${EXAMPLE}\n${REST}`), h.now);
    h.flush();
    const id = h.core.config.turnServers[0]?.id;
    const [added] = h.take(client);
    expect(added?.event).toBe('relays_presence');
    expect(added?.payload.disconnected_ids).toEqual([]);
    expect(added?.payload.connected.map((r: { id: string }) => r.id)).toEqual([id, id]);
    expect(parseClientIngress(added ?? { event: '' }).kind).toBe('message');
    expect(h.take(gw.conn).map((f) => f.event)).toEqual(['relays_presence']);
    // the same config again: nothing to say
    h.core.reconfigure(config(`${EXAMPLE}\n${REST}`), h.now);
    h.flush();
    expect(h.take(client)).toEqual([]);
    // a new secret: the old entry goes, the new one comes
    h.core.reconfigure(config(`${EXAMPLE}\n${REST.replace(SECRET, `${SECRET}-2`)}`), h.now);
    h.flush();
    const [changed] = h.take(client);
    expect(changed?.payload.disconnected_ids).toEqual([id]);
    expect(changed?.payload.connected).toHaveLength(2);
    h.core.reconfigure(config(EXAMPLE), h.now);
    h.flush();
    expect(h.take(client)).toEqual([{ topic: 'client', event: 'relays_presence', payload: { disconnected_ids: [id], connected: [] }, ref: null }]);
    expect(h.closed.size).toBe(0);
  });
});
