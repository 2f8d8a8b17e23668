// A Postern deployment behind real NATs for the NAT-traversal e2e (netns prefix psn, 198.18.32.0/20):
//
//   psn-inet: bridge br0 = the "internet", 198.18.32.0/24
//     ├── psn-portal 198.18.32.2   postern-portal
//     ├── psn-rl1    198.18.32.3   postern-relay #1
//     ├── psn-rl2    198.18.32.4   postern-relay #2
//     ├── psn-nata   198.18.32.10  router NAT-A (nft masquerade) ── LAN A 198.18.33.0/24 ── psn-cl 198.18.33.2 (client)
//     └── psn-natb   198.18.32.11  router NAT-B (nft masquerade) ── LAN B 198.18.34.0/24 ── psn-gw 198.18.34.2 (gateway)
//   psn-gw ── resource LAN 198.18.35.0/24 ── psn-srv 198.18.35.10 (HTTP :80, iperf3 -s)
//
// Nothing on the internet side has a route to the private LANs: the client and the gateway reach each other
// only through the NATs' mappings (hole punching) or through a relay. The apps are the release bundles
// (dist/apps/*), run as real processes. The NAT kind is chosen per world: `eim` = plain masquerade (keeps the
// source port when it is free: endpoint-independent mapping for UDP), `symmetric` = masquerade with
// `random,fully-random` (a new random port per destination).
import { execFileSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { bundleApp, keepLogs, Netns, registerSecret, removeLeftovers, run } from '@postern/testing';

export const ROOT = join(import.meta.dirname, '../../../..');
/** Private copies of the release bundles: other suites rebuild dist/apps/* while this one runs. */
export const DIST = join(ROOT, 'dist/test/psn-apps');
export const PREFIX = 'psn';
export const PORTAL_IP = '198.18.32.2';
export const RELAY_IPS = ['198.18.32.3', '198.18.32.4'] as const;
export const NAT_A_WAN = '198.18.32.10';
export const NAT_B_WAN = '198.18.32.11';
export const CLIENT_IP = '198.18.33.2';
export const GATEWAY_IP = '198.18.34.2';
export const SERVER_IP = '198.18.35.10';
export const RELAY_PORT = 3478;
export const METRICS_PORT = 9090;
const API = `ws://${PORTAL_IP}:8080`;
const TOKENS = { gateway: 'psn-gateway-token', client: 'psn-client-token', relay1: 'psn-relay-one-token', relay2: 'psn-relay-two-token' };

export type NatKind = 'eim' | 'symmetric';

export interface Proc {
  readonly child: ChildProcess;
  readonly output: string;
  readonly exited: Promise<number | null>;
}

/** Release builds of `apps` (tools/scripts/build-app.mjs), copied to DIST. */
export function buildApps(apps: readonly string[]): void {
  rmSync(DIST, { recursive: true, force: true });
  for (const app of apps) {
    execFileSync(process.execPath, [join(ROOT, 'tools/scripts/build-app.mjs')], { cwd: join(ROOT, 'apps', app), stdio: 'pipe' });
    cpSync(join(ROOT, 'dist/apps', app), join(DIST, app), { recursive: true });
  }
}

export async function waitFor(what: string, f: () => boolean | Promise<boolean>, timeoutMs = 20_000, stepMs = 100): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await f()) return performance.now() - start;
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/**
 * The nft ruleset of a NAT router: forward LAN -> WAN, only replies back in, masquerade on the WAN side.
 * Unsolicited packets from the WAN to the router itself are dropped in `input`, before conntrack confirms
 * them (as a home router's firewall does): otherwise each punched packet that arrives before the local side
 * has sent leaves an unreplied conntrack entry whose tuple then clashes with the local side's own mapping,
 * and masquerade moves that mapping to another port (the NAT would turn symmetric for that flow).
 * Counters: bytes leaving the WAN towards the other NAT (`direct`: the hole-punched path), and WireGuard
 * datagrams towards the relays (`relay_wg`), either wrapped in ChannelData to the TURN port (our own
 * allocation: channel 0x4000-0x7FFF, then a WireGuard header = type 1-4 and three zero bytes) or plain to a
 * relayed port (the peer's allocation). ICE checks through the relays are STUN and do not count.
 */
export function natRuleset(kind: NatKind, otherWan: string): string {
  const flags = kind === 'symmetric' ? ' random,fully-random' : '';
  const relays = RELAY_IPS.join(', ');
  return `table ip psn-nat {
  counter direct {}
  counter relay_wg {}
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "wan0" ct state new drop
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    oifname "wan0" ip daddr ${otherWan} counter name "direct"
    oifname "wan0" ip daddr { ${relays} } udp dport ${String(RELAY_PORT)} @th,64,2 1 @th,96,8 1-4 @th,104,24 0 counter name "relay_wg"
    oifname "wan0" ip daddr { ${relays} } udp dport != ${String(RELAY_PORT)} @th,64,8 1-4 @th,72,24 0 counter name "relay_wg"
    ct state established,related accept
    iifname "lan0" oifname "wan0" accept
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" masquerade${flags}
  }
}
`;
}

export interface Mapping {
  readonly local: number;
  readonly mapped: readonly (string | null)[];
}

export interface WorldOptions {
  /** Extra postern-relay arguments (e.g. a static `--user` for TURN clients that have no portal credentials). */
  readonly relayExtraArgs?: readonly string[];
}

export class NatWorld {
  readonly ns = new Map<string, Netns>();
  readonly procs: Proc[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), 'postern-psn-'));
  private probe: { file: string; dispose: () => void } | undefined;
  readonly relays: (Proc | undefined)[] = [undefined, undefined];

  private constructor(
    readonly kind: NatKind,
    private readonly opts: WorldOptions,
  ) {}

  /** Namespaces, links, NAT rules and the resource server; no Postern process yet. */
  static async create(kind: NatKind, opts: WorldOptions = {}): Promise<NatWorld> {
    removeLeftovers(PREFIX);
    const w = new NatWorld(kind, opts);
    try {
      for (const n of ['psn-inet', 'psn-portal', 'psn-rl1', 'psn-rl2', 'psn-nata', 'psn-natb', 'psn-cl', 'psn-gw', 'psn-srv']) w.ns.set(n, await Netns.create(n));
      await run('ip', ['-n', 'psn-inet', 'link', 'add', 'br0', 'type', 'bridge']);
      await run('ip', ['-n', 'psn-inet', 'link', 'set', 'br0', 'up']);
      const wan: [string, string, string][] = [
        ['psn-portal', PORTAL_IP, 'v-portal'],
        ['psn-rl1', RELAY_IPS[0], 'v-rl1'],
        ['psn-rl2', RELAY_IPS[1], 'v-rl2'],
        ['psn-nata', NAT_A_WAN, 'v-nata'],
        ['psn-natb', NAT_B_WAN, 'v-natb'],
      ];
      for (const [ns, addr, veth] of wan) {
        await run('ip', ['link', 'add', veth, 'netns', 'psn-inet', 'type', 'veth', 'peer', 'name', 'wan0', 'netns', ns]);
        await run('ip', ['-n', 'psn-inet', 'link', 'set', veth, 'master', 'br0', 'up']);
        await w.up(ns, 'wan0', `${addr}/24`);
      }
      await w.lan('psn-nata', '198.18.33.1/24', 'psn-cl', `${CLIENT_IP}/24`);
      await w.lan('psn-natb', '198.18.34.1/24', 'psn-gw', `${GATEWAY_IP}/24`);
      await w.lan('psn-gw', '198.18.35.1/24', 'psn-srv', `${SERVER_IP}/24`);
      await run('ip', ['-n', 'psn-cl', 'route', 'add', 'default', 'via', '198.18.33.1']);
      await run('ip', ['-n', 'psn-gw', 'route', 'add', 'default', 'via', '198.18.34.1']);
      for (const [router, otherWan] of [['psn-nata', NAT_B_WAN], ['psn-natb', NAT_A_WAN]] as const) {
        await w.get(router).exec('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
        const file = join(w.dir, `${router}.nft`);
        writeFileSync(file, natRuleset(kind, otherWan));
        await w.get(router).exec('nft', ['-f', file]);
      }
      const http = join(ROOT, 'scripts/demo/http-server.mjs');
      w.spawn('psn-srv', process.execPath, [http, SERVER_IP, '80']);
      w.spawn('psn-srv', 'iperf3', ['-s', '-B', SERVER_IP]);
      return w;
    } catch (err) {
      await w.destroy();
      throw err;
    }
  }

  private async up(ns: string, dev: string, addr: string): Promise<void> {
    await run('ip', ['-n', ns, 'addr', 'add', addr, 'dev', dev]);
    await run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  }

  /** A veth `lan0` (router side) <-> `eth0` (host side). */
  private async lan(router: string, routerAddr: string, host: string, hostAddr: string): Promise<void> {
    await run('ip', ['link', 'add', 'lan0', 'netns', router, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host]);
    await this.up(router, 'lan0', routerAddr);
    await this.up(host, 'eth0', hostAddr);
  }

  get(name: string): Netns {
    const n = this.ns.get(name);
    if (n === undefined) throw new Error(`no namespace ${name}`);
    return n;
  }

  /** A process in `ns` with extra environment variables; its output is collected, it dies with the world. */
  spawn(ns: string, cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Proc {
    const child = this.get(ns).spawn(cmd, args, { env: { ...process.env, ...env } });
    keepLogs(child, 'nat', `${ns}-${basename(cmd)}`);
    let output = '';
    child.stdout?.on('data', (b: Buffer) => (output += b.toString('utf8')));
    child.stderr?.on('data', (b: Buffer) => (output += b.toString('utf8')));
    const p: Proc = {
      child,
      get output() {
        return output;
      },
      exited: new Promise((resolve) => child.once('exit', (code) => { resolve(code); })),
    };
    this.procs.push(p);
    return p;
  }

  /** A BINDING from one socket of `ns` to both relays: the NAT's mapping per destination. */
  async stunMappings(ns: string): Promise<Mapping> {
    this.probe ??= await bundleApp(join(import.meta.dirname, 'stun-probe.ts'), { binary: 'stun-probe', version: '0.0.0', gitSha: 'test' });
    const out = await this.get(ns).exec(process.execPath, [this.probe.file, '0', ...RELAY_IPS.map((ip) => `${ip}:${String(RELAY_PORT)}`)], { timeoutMs: 15_000 });
    const parsed: unknown = JSON.parse(out.trim());
    if (typeof parsed !== 'object' || parsed === null || !('local' in parsed) || !('mapped' in parsed) || !Array.isArray(parsed.mapped)) throw new Error(`bad probe output: ${out}`);
    return { local: Number(parsed.local), mapped: parsed.mapped.map((m: unknown) => (typeof m === 'string' ? m : null)) };
  }

  /** Writes the portal configuration and starts the portal and both relays; waits until the relays joined. */
  async startControlPlane(): Promise<void> {
    for (const [role, token] of Object.entries(TOKENS)) registerSecret(token, `nat ${role} token`);
    const hash = (t: string): string => execFileSync(process.execPath, [join(DIST, 'portal/main.js'), 'hash-token', t], { encoding: 'utf8' }).trim();
    const config = join(this.dir, 'portal.yaml');
    writeFileSync(
      config,
      `account: {name: psn, slug: psn}
server: {listen: "${PORTAL_IP}:8080", public_url: "http://${PORTAL_IP}:8080"}
dns: {upstreams: [${SERVER_IP}]}
groups: [{name: eng}]
users: [{email: a@example.com, groups: [eng]}]
sites: [{name: lab}]
gateways: [{site: lab, name: gw, token_hash: "${hash(TOKENS.gateway)}"}]
clients: [{user: a@example.com, name: cl, token_hash: "${hash(TOKENS.client)}"}]
relays:
  - {name: relay1, token_hash: "${hash(TOKENS.relay1)}"}
  - {name: relay2, token_hash: "${hash(TOKENS.relay2)}"}
resources: [{name: lab, type: cidr, address: 198.18.35.0/24, sites: [lab]}]
policies: [{group: eng, resource: lab}]
`,
    );
    const portal = this.spawn('psn-portal', process.execPath, [join(DIST, 'portal/main.js'), '--config', config, '--state', ':memory:', '--log-format', 'json']);
    await waitFor('the portal', async () => (await this.curl('psn-portal', `http://${PORTAL_IP}:8080/healthz`, 1)).ok, 20_000, 200).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${portal.output}`);
    });
    for (const i of [0, 1] as const) this.startRelay(i);
    for (const i of [0, 1] as const) {
      await waitFor(`relay ${String(i + 1)} to join the portal`, async () => (await this.curl(`psn-rl${String(i + 1)}`, `http://${RELAY_IPS[i]}:8080/readyz`, 1)).ok, 20_000, 200).catch(
        (e: unknown) => {
          throw new Error(`${String(e)}\n${this.relays[i]?.output ?? ''}`);
        },
      );
    }
  }

  startRelay(i: 0 | 1): Proc {
    const ip = RELAY_IPS[i];
    const p = this.spawn(
      `psn-rl${String(i + 1)}`,
      process.execPath,
      [
        join(DIST, 'relay/main.js'),
        '--public-ip4-addr',
        ip,
        '--api-url',
        API,
        '--health-check-addr',
        `${ip}:8080`,
        '--metrics-addr',
        `${ip}:${String(METRICS_PORT)}`,
        '--log-format',
        'json',
        '--log-filter',
        'debug',
        ...(this.opts.relayExtraArgs ?? []),
      ],
      { POSTERN_TOKEN: i === 0 ? TOKENS.relay1 : TOKENS.relay2 },
    );
    this.relays[i] = p;
    return p;
  }

  /** Kills relay `i` with SIGKILL (a crash: no deallocation, no goodbye to the portal). */
  async killRelay(i: 0 | 1): Promise<void> {
    const p = this.relays[i];
    if (!p) return;
    p.child.kill('SIGKILL');
    // `ip netns exec` forwards nothing: kill whatever still runs in the relay's namespace too.
    const pids = (await this.get(`psn-rl${String(i + 1)}`).exec('ip', ['netns', 'pids', `psn-rl${String(i + 1)}`]).catch(() => '')).split('\n').filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await p.exited;
  }

  async startGateway(): Promise<Proc> {
    await this.get('psn-gw').exec('bash', [join(ROOT, 'apps/gateway/packaging/setup-forwarding.sh'), 'up']);
    return this.spawn('psn-gw', process.execPath, [join(DIST, 'gateway/main.js'), '--log-format', 'json', '--log-filter', 'info,snownet=debug,tunnel=debug'], {
      POSTERN_API_URL: API,
      POSTERN_TOKEN: TOKENS.gateway,
      POSTERN_ID: 'psn-gateway',
      POSTERN_CONFIG_DIR: join(this.dir, 'gateway'),
    });
  }

  startClient(): Proc {
    return this.spawn('psn-cl', process.execPath, [join(DIST, 'headless-client/main.js'), '--dns-control', 'disabled', '--log-format', 'json', '--log-filter', 'info,snownet=debug,tunnel=debug'], {
      POSTERN_API_URL: API,
      POSTERN_TOKEN: TOKENS.client,
      POSTERN_ID: 'psn-client',
      POSTERN_CONFIG_DIR: join(this.dir, 'client'),
    });
  }

  /** tcpdump on `ns`'s eth0 into `<dir>/<ns>.pcap` (UDP and the portal's websocket); resolves once it listens. */
  async capture(ns: string): Promise<{ stop: () => Promise<void> }> {
    const p = this.spawn(ns, 'tcpdump', ['-i', 'eth0', '-n', '-U', '--immediate-mode', '-s', '512', '-w', join(this.dir, `${ns}.pcap`), 'udp or tcp port 8080']);
    await waitFor(`tcpdump in ${ns}`, () => p.output.includes('listening on'), 10_000, 20);
    return {
      stop: async () => {
        p.child.kill('SIGINT');
        await p.exited;
      },
    };
  }

  /** The relay's Prometheus counters (name -> value). */
  async relayMetrics(i: 0 | 1): Promise<Map<string, number>> {
    const r = await this.curl(`psn-rl${String(i + 1)}`, `http://${RELAY_IPS[i]}:${String(METRICS_PORT)}/metrics`, 2);
    if (!r.ok) throw new Error(`relay ${String(i + 1)} /metrics: ${r.error}`);
    const m = new Map<string, number>();
    for (const line of r.body.split('\n')) {
      const match = /^(postern_relay_\w+) (\d+(?:\.\d+)?)$/.exec(line);
      if (match?.[1] !== undefined && match[2] !== undefined) m.set(match[1], Number(match[2]));
    }
    return m;
  }

  /** Bytes the NAT router forwarded from its LAN towards the other NAT (`direct`), or as WireGuard to a relay. */
  async natCounter(router: 'psn-nata' | 'psn-natb', name: 'direct' | 'relay_wg'): Promise<number> {
    const out = await this.get(router).exec('nft', ['list', 'counter', 'ip', 'psn-nat', name]);
    const m = /bytes (\d+)/.exec(out);
    if (!m?.[1]) throw new Error(`no counter ${name} in ${router}: ${out}`);
    return Number(m[1]);
  }

  /** Payload bytes relay `i` forwarded in both directions. */
  async relayedBytes(i: 0 | 1): Promise<number> {
    const m = await this.relayMetrics(i);
    return (m.get('postern_relay_client_to_peer_bytes_total') ?? 0) + (m.get('postern_relay_peer_to_client_bytes_total') ?? 0);
  }

  async curl(ns: string, url: string, maxTimeS = 3): Promise<{ ok: boolean; body: string; error: string }> {
    try {
      const body = await this.get(ns).exec('curl', ['-sS', '--max-time', String(maxTimeS), url], { timeoutMs: (maxTimeS + 2) * 1000 });
      return { ok: true, body, error: '' };
    } catch (err) {
      return { ok: false, body: '', error: err instanceof Error ? err.message : String(err) };
    }
  }

  async destroy(): Promise<void> {
    for (const p of this.procs) p.child.kill('SIGKILL');
    for (const n of this.ns.values()) await n.destroy();
    removeLeftovers(PREFIX);
    this.probe?.dispose();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
