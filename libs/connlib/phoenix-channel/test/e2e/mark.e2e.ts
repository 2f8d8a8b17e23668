// SO_MARK on the portal websocket, the way the client needs it with the Internet resource: inside a namespace
// whose policy routing sends every unmarked packet to an unreachable route (as the client's `not fwmark X lookup
// <postern table>` rule sends it into the TUN), a marked channel joins the portal and an unmarked one cannot
// connect. Needs root. Namespace pftpc, 198.18.79.0/30 (tools/faults' range, see docs/conventions.md).
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { bundleApp, Netns, removeLeftovers, run } from '@postern/testing';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { markedTcpFd, resolveTarget, socketMark, tlsOptionsFor, urlPort } from '../../src/marked-socket';
import { PhoenixChannel, PhoenixChannelError, type ChannelEvent } from '../../src/index';
import { MisbehavingPortal, wellBehaved } from './misbehaving-portal';

const isRoot = process.getuid?.() === 0;
const PREFIX = 'pftpc';
const MARK = 0x7073_2021; // POSTERN_FWMARK
const TABLE = 79;

describe('marked sockets (no namespace)', () => {
  it('resolves IP literals without DNS and names through the resolver', async () => {
    expect(await resolveTarget('198.18.79.1')).toEqual({ address: '198.18.79.1', family: 4 });
    expect(await resolveTarget('[fd00::1]')).toEqual({ address: 'fd00::1', family: 6 });
    expect((await resolveTarget('localhost')).address).toMatch(/^(127\.0\.0\.1|::1)$/);
    const err = await resolveTarget('no-such-host.invalid').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PhoenixChannelError);
    expect((err as PhoenixChannelError).code).toBe('CONNECT_FAILED');
  });

  it('derives port and TLS options from the URL', () => {
    expect(urlPort(new URL('wss://portal.example'))).toBe(443);
    expect(urlPort(new URL('ws://portal.example'))).toBe(80);
    expect(urlPort(new URL('ws://portal.example:8080'))).toBe(8080);
    expect(tlsOptionsFor(new URL('ws://portal.example'), {})).toBeUndefined();
    expect(tlsOptionsFor(new URL('wss://portal.example'), { rejectUnauthorized: false })).toEqual({ servername: 'portal.example', rejectUnauthorized: false });
    expect(tlsOptionsFor(new URL('wss://198.18.79.1'), {})).toEqual({});
  });

  it.runIf(isRoot)('sets SO_MARK on the fd before it connects (v4 and v6)', () => {
    for (const family of [4, 6] as const) {
      const fd = markedTcpFd(family, MARK);
      try {
        expect(socketMark(fd)).toBe(MARK);
      } finally {
        closeSync(fd);
      }
    }
  });
});

describe.runIf(isRoot)('marked wss: (TLS over the marked socket, host name resolved first)', () => {
  let dir: string;
  let tls: { key: string; cert: string };
  let portal: MisbehavingPortal | undefined;
  let channel: PhoenixChannel<unknown> | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'postern-pftpc-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    tls = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  });

  afterEach(async () => {
    await channel?.close();
    await portal?.close();
    channel = undefined;
    portal = undefined;
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const connect = async (ca: string | undefined): Promise<ChannelEvent<unknown>> => {
    portal = await new MisbehavingPortal(() => wellBehaved(), tls).listen('localhost');
    const ch = new PhoenixChannel<unknown>({
      url: new URL(portal.url),
      token: 'test-token',
      userAgent: 'test/1 headless-client/0.1.0 (x86_64; 6.1.0)',
      topic: 'client',
      joinPayload: null,
      decode: () => ({ ok: false, error: new Error('no events expected') }),
      logger: pino({ level: 'silent' }),
      mark: MARK,
      ...(ca === undefined ? {} : { wsOptions: { ca } }),
    });
    channel = ch;
    const first = new Promise<ChannelEvent<unknown>>((resolve) => {
      ch.onEvent((e) => {
        if (e.type === 'joined' || e.type === 'hiccup' || e.type === 'fatal') resolve(e);
      });
    });
    ch.start();
    return first;
  };

  it('joins over TLS with the CA from wsOptions, SNI and Host from the URL', async () => {
    const e = await connect(tls.cert);
    expect(e.type).toBe('joined');
    expect(portal?.upgrades[0]?.headers.host).toMatch(/^localhost:\d+$/);
  });

  it('refuses a certificate it cannot verify (TLS really runs over the marked socket)', async () => {
    const e = await connect(undefined);
    expect(e.type).toBe('hiccup');
    expect(e.type === 'hiccup' && e.error.code).toBe('CONNECT_FAILED');
    expect(e.type === 'hiccup' && e.error.message).toMatch(/self.signed|certificate/i);
  });
});

describe.runIf(isRoot)('marked portal websocket under policy routing (namespace)', () => {
  let ns: Netns;
  let portal: MisbehavingPortal;
  let client: { file: string; dispose: () => void };

  beforeAll(async () => {
    removeLeftovers(PREFIX);
    ns = await Netns.create(PREFIX);
    await run('ip', ['link', 'add', `${PREFIX}0`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', PREFIX]);
    await run('ip', ['addr', 'add', '198.18.79.1/30', 'dev', `${PREFIX}0`]);
    await run('ip', ['link', 'set', `${PREFIX}0`, 'up']);
    await ns.exec('ip', ['addr', 'add', '198.18.79.2/30', 'dev', 'eth0']);
    await ns.exec('ip', ['link', 'set', 'eth0', 'up']);
    // like the client with the Internet resource: everything unmarked goes elsewhere (here: unreachable)
    await ns.exec('ip', ['route', 'add', 'unreachable', 'default', 'table', String(TABLE)]);
    await ns.exec('ip', ['rule', 'add', 'not', 'fwmark', `0x${MARK.toString(16)}`, 'table', String(TABLE), 'priority', '100']);
    portal = await new MisbehavingPortal(() => wellBehaved()).listen('198.18.79.1');
    client = await bundleApp(join(import.meta.dirname, 'marked-client-main.ts'), { binary: 'marked-client', version: '0.0.0', gitSha: 'test' });
    // koffi stays external: let the bundle find the workspace's node_modules
    symlinkSync(join(import.meta.dirname, '../../../../../node_modules'), join(dirname(client.file), 'node_modules'));
  }, 60_000);

  afterAll(async () => {
    client.dispose();
    await portal.close();
    await ns.destroy();
    removeLeftovers(PREFIX);
  });

  const attempt = async (mark: string): Promise<{ event: string; code?: string; message?: string }> => {
    const out = await ns.exec(process.execPath, [client.file, portal.url, mark], { timeoutMs: 15_000 });
    return JSON.parse(out.trim().split('\n')[0] ?? '{}') as { event: string; code?: string };
  };

  it('an unmarked channel cannot reach the portal (the rule works)', async () => {
    const r = await attempt('none');
    expect(r.event).toBe('hiccup');
    expect(r.code).toBe('CONNECT_FAILED');
    expect(r.message).toMatch(/E(NET|HOST)UNREACH/);
  });

  it('a marked channel bypasses the rule and joins', async () => {
    const before = portal.upgrades.length;
    expect(await attempt(String(MARK))).toEqual({ event: 'joined' });
    expect(portal.upgrades.length).toBe(before + 1);
  });
});
