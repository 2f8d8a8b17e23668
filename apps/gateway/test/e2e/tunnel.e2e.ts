// End to end in network namespaces: the real portal, two gateways of one site and a headless client (release
// builds), resources on a LAN behind the gateways. Needs root.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApps, curl, DIST, hashToken, ROOT, waitFor, World, writeConfig, type Proc } from './world';

const isRoot = process.getuid?.() === 0;
const TOKENS = { gw1: 'e2e-gateway-one-token', gw2: 'e2e-gateway-two-token', client: 'e2e-client-token' };
const API = 'ws://198.18.24.2:8080';

describe.runIf(isRoot)('tunnel end to end (portal, gateways, client in namespaces)', () => {
  let world: World;
  let dir: string;
  let config: string;
  let hashes: { gw1: string; gw2: string; client: string };
  const gateways = new Map<string, Proc>();
  let client: Proc;

  const startGateway = (name: 'gw1' | 'gw2'): Proc => {
    const p = world.spawn(`ptn-${name}`, process.execPath, [join(DIST, 'gateway/main.js'), '--log-format', 'json', '--health-check-addr', '127.0.0.1:8080'], {
      POSTERN_API_URL: API,
      POSTERN_TOKEN: TOKENS[name],
      POSTERN_ID: `e2e-${name}`,
      POSTERN_CONFIG_DIR: join(dir, name),
    });
    gateways.set(name, p);
    return p;
  };

  beforeAll(async () => {
    buildApps(['portal', 'gateway', 'headless-client']);
    dir = mkdtempSync(join(tmpdir(), 'postern-ptn-'));
    config = join(dir, 'portal.yaml');
    hashes = { gw1: hashToken(TOKENS.gw1), gw2: hashToken(TOKENS.gw2), client: hashToken(TOKENS.client) };
    writeConfig(config, { ...hashes, policies: ['lab', 'web'] });
    world = await World.create();
    const http = join(ROOT, 'scripts/demo/http-server.mjs');
    for (const [host, port] of [['198.18.25.10', '80'], ['198.18.25.20', '8080'], ['198.18.25.20', '8081'], ['198.18.26.10', '80']] as const) {
      world.spawn('ptn-srv', process.execPath, [http, host, port]);
    }
    const portal = world.spawn('ptn-portal', process.execPath, [join(DIST, 'portal/main.js'), '--config', config, '--state', ':memory:', '--log-format', 'json']);
    await waitFor('the portal', async () => (await curl(world.get('ptn-portal'), 'http://198.18.24.2:8080/healthz', 1)).ok, 20_000, 200).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${portal.output}`);
    });
    for (const gw of ['ptn-gw1', 'ptn-gw2']) await world.get(gw).exec('bash', [join(ROOT, 'apps/gateway/packaging/setup-forwarding.sh'), 'up']);
    const gw1 = startGateway('gw1');
    await waitFor('gateway 1 to configure its TUN', () => gw1.output.includes('"TUN configured"'));
    client = world.spawn('ptn-cl', process.execPath, [join(DIST, 'headless-client/main.js'), '--dns-control', 'disabled', '--log-format', 'json'], {
      POSTERN_API_URL: API,
      POSTERN_TOKEN: TOKENS.client,
      POSTERN_ID: 'e2e-client',
      POSTERN_CONFIG_DIR: join(dir, 'client'),
    });
    await waitFor('the client to configure its TUN', () => client.output.includes('"TUN configured"'));
  }, 300_000);

  afterAll(async () => {
    if (process.env['POSTERN_E2E_DUMP'] === '1') for (const p of world.procs) console.log(p.child.spawnargs.slice(3, 6).join(' '), '\n', p.output.slice(-6000));
    await world.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reaches a CIDR resource through the tunnel', async () => {
    const cl = world.get('ptn-cl');
    let r = await curl(cl, 'http://198.18.25.10/');
    for (let i = 0; i < 3 && !r.ok; i++) r = await curl(cl, 'http://198.18.25.10/');
    expect(r.error).toBe('');
    expect(r.body).toMatch(/Hello from the lab network/);
    expect(r.body).toMatch(/from 198\.18\.25\.[12]/); // masqueraded by the gateway
    expect(client.output).toMatch(/"connected to gateway"/);
    // the gateway's health check says ready once it has joined the portal
    expect((await curl(world.get('ptn-gw1'), 'http://127.0.0.1:8080/readyz')).body).toBe('ready\n');
  });

  it('the gateway and the client carry traffic with their process settings (re-executed at start, same pid)', () => {
    const proc = (p: Proc, file: 'cmdline' | 'environ'): string[] => readFileSync(`/proc/${String(p.child.pid)}/${file}`, 'utf8').split('\0');
    const gw1 = gateways.get('gw1') as Proc;
    const gw = proc(gw1, 'cmdline');
    expect(gw).toEqual(expect.arrayContaining(['--max-semi-space-size=2', '--no-memory-reducer']));
    expect(gw.indexOf('--no-memory-reducer')).toBeLessThan(gw.findIndex((a) => a.endsWith('gateway/main.js')));
    expect(proc(gw1, 'environ')).toContain('MALLOC_ARENA_MAX=2');
    // installed, the entries' #! lines give node the same flags (no re-exec)
    expect(readFileSync(join(DIST, 'gateway/main.js'), 'utf8').split('\n', 1)[0]).toBe('#!/usr/bin/env -S node --max-semi-space-size=2 --no-memory-reducer');
    expect(readFileSync(join(DIST, 'headless-client/main.js'), 'utf8').split('\n', 1)[0]).toBe('#!/usr/bin/env -S node --no-memory-reducer');
    const cl = proc(client, 'cmdline');
    expect(cl).toContain('--no-memory-reducer');
    expect(cl.indexOf('--no-memory-reducer')).toBeLessThan(cl.findIndex((a) => a.endsWith('headless-client/main.js')));
    // every thread of both (workers included) runs under SCHED_BATCH (3): field 41 of /proc/<pid>/task/<tid>/stat
    const policies = (p: Proc): number[] => {
      const dir = `/proc/${String(p.child.pid)}/task`;
      return readdirSync(dir).map((t) => {
        const stat = readFileSync(`${dir}/${t}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
      });
    };
    for (const p of [gw1, client]) {
      const all = policies(p);
      expect(all.length).toBeGreaterThan(8); // node's threads and the data plane's workers
      expect(all.filter((x) => x !== 3)).toEqual([]);
    }
  });

  it('cannot reach a CIDR resource it is not authorised for', async () => {
    const r = await curl(world.get('ptn-cl'), 'http://198.18.26.10/', 2);
    expect(r.ok).toBe(false);
  });

  it('enforces filters: the allowed port works, another port gets ICMP prohibited at once', async () => {
    const cl = world.get('ptn-cl');
    const allowed = await curl(cl, 'http://198.18.25.20:8080/');
    expect(allowed.error).toBe('');
    expect(allowed.body).toMatch(/198\.18\.25\.20:8080/);
    const start = performance.now();
    const refused = await curl(cl, 'http://198.18.25.20:8081/', 3);
    expect(refused.ok).toBe(false);
    expect(refused.error).toMatch(/No route to host|Failed to connect/);
    expect(performance.now() - start).toBeLessThan(2_000); // refused by ICMP, not a timeout
  });

  it('SIGHUP on the client resets connections without losing the authorisation', async () => {
    const before = (client.output.match(/"connected to gateway"/g) ?? []).length;
    client.child.kill('SIGHUP');
    await waitFor('the client to log the reset', () => client.output.includes('SIGHUP: resetting connections'));
    await waitFor('traffic after SIGHUP', async () => (await curl(world.get('ptn-cl'), 'http://198.18.25.10/', 2)).ok, 15_000, 200);
    await waitFor('a new handshake', () => (client.output.match(/"connected to gateway"/g) ?? []).length > before, 10_000);
  });

  it('a network change (the client moves to another address) reconnects without losing the authorisation', async () => {
    const cl = world.get('ptn-cl');
    const resets = (client.output.match(/network changed: resetting connections/g) ?? []).length;
    await cl.exec('ip', ['addr', 'del', '198.18.24.6/24', 'dev', 'wan0']);
    await cl.exec('ip', ['addr', 'add', '198.18.24.16/24', 'dev', 'wan0']);
    await waitFor('the client to notice', () => (client.output.match(/network changed: resetting connections/g) ?? []).length > resets, 10_000);
    await waitFor('traffic from the new address', async () => (await curl(cl, 'http://198.18.25.10/', 2)).ok, 20_000, 200);
  });

  it('reject_access (policy removed from the config file) cuts traffic within a second', async () => {
    const cl = world.get('ptn-cl');
    expect((await curl(cl, 'http://198.18.25.10/')).ok).toBe(true);
    writeConfig(config, { ...hashes, policies: ['web'] });
    const elapsed = await waitFor('traffic to stop', async () => !(await curl(cl, 'http://198.18.25.10/', 0.5)).ok, 5_000, 50);
    expect(elapsed).toBeLessThan(1_500); // the portal's file watcher debounce is included
    // still allowed: the other resource
    expect((await curl(cl, 'http://198.18.25.20:8080/')).ok).toBe(true);
    writeConfig(config, { ...hashes, policies: ['lab', 'web'] });
    await waitFor('access back after the policy returns', async () => (await curl(cl, 'http://198.18.25.10/', 1)).ok, 10_000, 200);
  });

  it('fails over to the second gateway of the site when the first stops', async () => {
    const gw2 = startGateway('gw2');
    await waitFor('gateway 2 to configure its TUN', () => gw2.output.includes('"TUN configured"'));
    const cl = world.get('ptn-cl');
    expect((await curl(cl, 'http://198.18.25.10/')).ok).toBe(true);
    const gw1 = gateways.get('gw1');
    gw1?.child.kill('SIGTERM');
    await waitFor('gateway 1 to stop', () => gw1?.child.exitCode !== null, 15_000);
    const elapsed = await waitFor('traffic through gateway 2', async () => {
      const r = await curl(cl, 'http://198.18.25.10/', 2);
      return r.ok && r.body.includes('from 198.18.25.2');
    }, 20_000, 200);
    expect(elapsed).toBeLessThan(10_000);
    expect(client.output).toMatch(/"gateway disconnected"/);
  });

  it('fails over when the serving gateway is killed without a Goodbye (idle timeout)', async () => {
    const gw1 = startGateway('gw1');
    await waitFor('gateway 1 to configure its TUN again', () => gw1.output.includes('"TUN configured"'));
    const cl = world.get('ptn-cl');
    expect((await curl(cl, 'http://198.18.25.10/')).body).toMatch(/from 198\.18\.25\.2/);
    gateways.get('gw2')?.child.kill('SIGKILL');
    const elapsed = await waitFor('traffic through gateway 1', async () => {
      const r = await curl(cl, 'http://198.18.25.10/', 1);
      return r.ok && r.body.includes('from 198.18.25.1');
    }, 40_000, 500);
    expect(elapsed).toBeLessThan(30_000);
  });

  it('--exit: a second client exits 0 once its tunnel is up', async () => {
    const p = world.spawn('ptn-cl', process.execPath, [join(DIST, 'headless-client/main.js'), '--dns-control', 'disabled', '--exit', '--tun-name', 'tun-exit'], {
      POSTERN_API_URL: API,
      POSTERN_TOKEN: TOKENS.client,
      POSTERN_ID: 'e2e-client-exit',
      POSTERN_CONFIG_DIR: join(dir, 'client-exit'),
    });
    const code = await new Promise<number | null>((resolve) => p.child.once('exit', resolve));
    expect(p.output).toMatch(/tunnel is up \(--exit\)/);
    expect(code).toBe(0);
  });
});
