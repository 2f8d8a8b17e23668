// DNS over HTTPS upstreams end to end (prefix pdnh, 198.18.20.0/24, the dns package's): the real portal gives
// `dns: {upstreams: ["https://doh.pdnh.test/dns-query"]}`, the headless client (release build, Internet
// resource active, DNS control on a private resolv.conf) answers dig at its sentinel through the tests' own
// DoH server (HTTP/2, a throw-away CA trusted with POSTERN_DOH_CA_FILE). Needs root.
//
//   pdnh-srv 198.18.20.2/25: postern-portal :8080 (on-link for the client)
//            198.18.20.130/32 (lo): the DoH server :443 and a UDP resolver :53 (the client's system resolver,
//                          which looks up doh.pdnh.test for the bootstrap), reached by the client's default route
//   pdnh-cl  198.18.20.6/25, default via 198.18.20.2: postern-client (--activate-internet-resource: its default
//                          route points into the TUN, so an unmarked DoH connection would be captured)
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTERN_FWMARK } from '@postern/bin-shared';
import { keepLogs, link, Netns, registerSecret, removeLeftovers } from '@postern/testing';
import { makeTestCerts } from '../support/doh-certs';

const isRoot = process.getuid?.() === 0;
const ROOT = join(import.meta.dirname, '../../../../..');
const DIST = join(ROOT, 'dist/apps');
const PREFIX = 'pdnh';
const SRV = '198.18.20.2';
const DOH = '198.18.20.130';
const API = `ws://${SRV}:8080`;
const SENTINEL = '100.100.111.1';
const DOH_URL = 'https://doh.pdnh.test/dns-query';
const TOKEN = 'pdnh-client-token-0123456789';
const MARK = `0x${POSTERN_FWMARK.toString(16)}`;

interface Proc {
  readonly child: ChildProcess;
  output: string;
}

async function waitFor(what: string, f: () => boolean | Promise<boolean>, timeoutMs = 20_000, stepMs = 100): Promise<void> {
  const start = performance.now();
  while (!(await f())) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

describe.runIf(isRoot)('DoH upstreams end to end (portal, client, a DoH server in namespaces)', () => {
  const procs: Proc[] = [];
  let srv: Netns | undefined;
  let cl: Netns | undefined;
  let dir = '';
  let client: Proc | undefined;
  let dohServer: Proc | undefined;
  let certs: ReturnType<typeof makeTestCerts>;

  const spawn = (ns: Netns, cmd: string, args: readonly string[]): Proc => {
    const child = ns.spawn(cmd, args);
    keepLogs(child, 'doh', `${ns.name}-${basename(args.find((a) => a.endsWith('.js') || a.endsWith('.mjs')) ?? cmd)}`);
    const p: Proc = { child, output: '' };
    const append = (b: Buffer): void => {
      p.output += b.toString('utf8');
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    procs.push(p);
    return p;
  };
  const clientNs = (): Netns => {
    if (cl === undefined) throw new Error('no client namespace');
    return cl;
  };
  const startDohServer = (): Proc => {
    if (srv === undefined) throw new Error('no server namespace');
    dohServer = spawn(srv, process.execPath, [join(import.meta.dirname, '../support/doh-server.mjs'), '--listen', DOH, '--port', '443', '--cert', certs.certFile, '--key', certs.keyFile, '--host', 'doh.pdnh.test', '--dns53']);
    return dohServer;
  };
  /** dig at the sentinel; returns stdout and how long it took. */
  const dig = async (args: readonly string[], timeoutMs = 15_000): Promise<{ out: string; ms: number }> => {
    const start = performance.now();
    const out = await clientNs().exec('dig', [`@${SENTINEL}`, ...args], { timeoutMs });
    return { out, ms: performance.now() - start };
  };
  const status = (out: string): string => /status: (\w+)/.exec(out)?.[1] ?? 'none';
  const nftCount = async (comment: string): Promise<number> => {
    const text = await clientNs().exec('nft', ['list', 'chain', 'inet', 'pdnh', 'out']);
    const line = text.split('\n').find((l) => l.includes(`comment "${comment}"`)) ?? '';
    return Number(/packets (\d+)/.exec(line)?.[1] ?? -1);
  };

  beforeAll(async () => {
    for (const app of ['portal', 'headless-client']) execFileSync(process.execPath, [join(ROOT, 'tools/scripts/build-app.mjs')], { cwd: join(ROOT, 'apps', app), stdio: 'pipe' });
    removeLeftovers(PREFIX);
    dir = mkdtempSync(join(tmpdir(), 'postern-pdnh-'));
    certs = makeTestCerts(dir, ['doh.pdnh.test'], []);
    registerSecret(TOKEN, 'doh e2e token');
    const hash = execFileSync(process.execPath, [join(DIST, 'portal/main.js'), 'hash-token', TOKEN], { encoding: 'utf8' }).trim();
    const config = join(dir, 'portal.yaml');
    writeFileSync(
      config,
      `account: {name: doh-e2e, slug: doh-e2e}
server: {listen: "${SRV}:8080", public_url: "http://${SRV}:8080"}
dns: {upstreams: ["${DOH_URL}"]}
groups: [{name: eng}]
users: [{email: a@example.com, groups: [eng]}]
sites: [{name: lab}]
clients: [{user: a@example.com, name: cl, token_hash: "${hash}"}]
resources:
  - {name: internet, type: internet, sites: [lab]}
policies:
  - {group: eng, resource: internet}
`,
    );
    srv = await Netns.create('pdnh-srv');
    cl = await Netns.create('pdnh-cl');
    await link(srv, `${SRV}/25`, cl, '198.18.20.6/25', { a: 'eth0', b: 'eth0' });
    await srv.exec('ip', ['addr', 'add', `${DOH}/32`, 'dev', 'lo']);
    await cl.exec('ip', ['route', 'add', 'default', 'via', SRV]);
    // counts the client's DoH connections by their mark (the namespace and its table go at cleanup)
    const nft = (args: readonly string[]): Promise<string> => clientNs().exec('nft', args);
    await nft(['add', 'table', 'inet', 'pdnh']);
    await nft(['add', 'chain', 'inet', 'pdnh', 'out', '{ type filter hook output priority 0; }']);
    await nft(['add', 'rule', 'inet', 'pdnh', 'out', 'tcp', 'dport', '443', 'meta', 'mark', MARK, 'counter', 'comment', '"marked"']);
    await nft(['add', 'rule', 'inet', 'pdnh', 'out', 'tcp', 'dport', '443', 'meta', 'mark', '!=', MARK, 'counter', 'comment', '"unmarked"']);

    const portal = spawn(srv, process.execPath, [join(DIST, 'portal/main.js'), '--config', config, '--state', ':memory:', '--log-format', 'json']);
    startDohServer();
    await waitFor('the portal and the DoH server', async () => {
      const up = await srv?.exec('curl', ['-sS', '--max-time', '1', `http://${SRV}:8080/healthz`]).catch(() => '');
      return up !== '' && up !== undefined && (dohServer?.output.includes('"listening"') ?? false);
    }, 20_000, 200).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${portal.output}\n${dohServer?.output ?? ''}`);
    });

    // the client in a private mount namespace: its /etc and resolv.conf are the test's files
    const etc = join(dir, 'etc');
    mkdirSync(etc);
    writeFileSync(join(etc, 'resolv.conf'), '');
    const resolv = join(dir, 'resolv.conf.client');
    writeFileSync(resolv, `nameserver ${DOH}\n`);
    const script = 'mount --make-rprivate / && mount --bind "$1" /etc && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"';
    const env = [`POSTERN_API_URL=${API}`, `POSTERN_TOKEN=${TOKEN}`, 'POSTERN_ID=pdnh-client', `POSTERN_CONFIG_DIR=${join(dir, 'client')}`, `POSTERN_DOH_CA_FILE=${certs.caFile}`];
    client = spawn(clientNs(), 'unshare', ['-m', 'sh', '-c', script, 'sh', etc, resolv, 'env', '-u', 'NODE_EXTRA_CA_CERTS', ...env, process.execPath, join(DIST, 'headless-client/main.js'), '--dns-control', 'etc-resolv-conf', '--activate-internet-resource', '--log-format', 'json']);
    await waitFor('the client to point resolv.conf at the sentinel', () => readFileSync(resolv, 'utf8').includes(`nameserver ${SENTINEL}`), 40_000).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${client?.output ?? ''}`);
    });
  }, 300_000);

  afterAll(async () => {
    if (process.env['POSTERN_E2E_DUMP'] === '1') for (const p of procs) console.log(p.child.spawnargs.slice(3, 8).join(' '), '\n', p.output.slice(-8000));
    for (const p of procs) p.child.kill('SIGKILL');
    await cl?.destroy();
    await srv?.destroy();
    removeLeftovers(PREFIX);
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('the Internet resource routes the DoH server into the TUN, except for marked sockets', async () => {
    const unmarked = await clientNs().exec('ip', ['route', 'get', DOH]);
    const marked = await clientNs().exec('ip', ['route', 'get', DOH, 'mark', MARK]);
    expect(unmarked).not.toMatch(/dev eth0/);
    expect(marked).toMatch(/dev eth0/);
  });

  it('answers over UDP through the DoH upstream: host looked up at the system resolver, POST with id 0, fwmarked HTTPS', async () => {
    const { out } = await dig(['www.pdnh.test', 'A', '+time=5', '+tries=1']);
    expect(status(out)).toBe('NOERROR');
    expect(out).toMatch(/^www\.pdnh\.test\.\s+\d+\s+IN\s+A\s+198\.18\.20\.80$/m);
    const lines = (dohServer?.output ?? '').split('\n');
    expect(lines.filter((l) => l.includes('"do53"') && l.includes('doh.pdnh.test')).length).toBeGreaterThanOrEqual(1);
    const posts = lines.filter((l) => l.includes('"doh"') && l.includes('www.pdnh.test'));
    expect(posts).toHaveLength(1);
    expect(JSON.parse(posts[0] ?? '{}')).toEqual({ doh: { method: 'POST', path: '/dns-query', type: 'application/dns-message', id: 0, name: 'www.pdnh.test' } });
    expect(await nftCount('marked')).toBeGreaterThan(0);
    expect(await nftCount('unmarked')).toBe(0);
    expect(client?.output).toMatch(/"msg":"DNS over HTTPS upstream connected"/);
  });

  it('a 6.5 KB answer: truncated for a UDP asker, whole over TCP', async () => {
    const udp = await dig(['big.pdnh.test', 'TXT', '+ignore', '+bufsize=1232', '+time=5', '+tries=1']);
    expect(udp.out).toMatch(/flags: qr [a-z ]*tc/);
    const tcp = await dig(['tcp.big.pdnh.test', 'TXT', '+tcp', '+time=5', '+tries=1']);
    expect(status(tcp.out)).toBe('NOERROR');
    expect(tcp.out.split('\n').filter((l) => /^tcp\.big\.pdnh\.test\.\s+\d+\s+IN\s+TXT/.test(l))).toHaveLength(30);
  });

  it('malformed answers (garbage, HTTP 500, text/html, wrong id): SERVFAIL at once, logged with their codes', async () => {
    for (const [name, code] of [['malformed', 'DOH_MALFORMED'], ['status', 'DOH_HTTP_STATUS'], ['html', 'DOH_CONTENT_TYPE'], ['badid', 'DOH_ID_MISMATCH']] as const) {
      for (const tcp of [false, true]) {
        const r = await dig([`${name}.pdnh.test`, 'A', '+time=5', '+tries=1', ...(tcp ? ['+tcp'] : [])]);
        expect([name, tcp, status(r.out)]).toEqual([name, tcp, 'SERVFAIL']);
        expect(r.ms).toBeLessThan(3000);
      }
      expect(client?.output).toContain(`"code":"${code}"`);
    }
  });

  it('a server that does not answer: SERVFAIL after the 5 s DoH timeout', async () => {
    const r = await dig(['slow.pdnh.test', 'A', '+time=12', '+tries=1'], 20_000);
    expect(status(r.out)).toBe('SERVFAIL');
    expect(r.ms).toBeGreaterThan(4000);
    expect(r.ms).toBeLessThan(8000);
  });

  it('the DoH server down: SERVFAIL in bounded time; back up: answers again', async () => {
    dohServer?.child.kill('SIGKILL');
    await waitFor('the DoH server to exit', () => dohServer?.child.exitCode !== null || dohServer.child.signalCode !== null);
    const down = await dig(['www3.pdnh.test', 'A', '+time=12', '+tries=1'], 20_000);
    expect(status(down.out)).toBe('SERVFAIL');
    expect(down.ms).toBeLessThan(6000);
    startDohServer();
    await waitFor('the DoH server', () => dohServer?.output.includes('"listening"') ?? false);
    await waitFor('an answer after the restart', async () => status((await dig(['www.pdnh.test', 'AAAA', '+time=3', '+tries=1']).catch(() => ({ out: '' }))).out) === 'NOERROR', 20_000, 500);
  });
});
