// The tunnel service's IPC handler over a real Unix socket, with the in-process fake session.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IpcClient } from '../../src/ipc/client';
import type { ServiceToGui } from '../../src/ipc/messages';
import { IpcServer } from '../../src/ipc/server';
import type { TelemetryPort } from '../../src/service/backend';
import { FakeBackend, ManualChanges } from '../../src/service/fake-backend';
import { ServiceHandler } from '../../src/service/handler';

const SETTINGS = { authUrl: 'http://127.0.0.1:9', apiUrl: 'ws://127.0.0.1:9', logFilter: 'info' };

class Gui {
  readonly got: ServiceToGui[] = [];
  closed = false;
  client!: IpcClient;
  static async open(path: string): Promise<Gui> {
    const g = new Gui();
    g.client = await IpcClient.connect(path, {
      onMessage: (m) => g.got.push(m),
      onClose: () => {
        g.closed = true;
      },
    });
    return g;
  }
  async next<T extends ServiceToGui['type']>(type: T, pred: (m: Extract<ServiceToGui, { type: T }>) => boolean = () => true, ms = 3000): Promise<Extract<ServiceToGui, { type: T }>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.got.findIndex((m) => m.type === type && pred(m as Extract<ServiceToGui, { type: T }>));
      if (i >= 0) return this.got.splice(0, i + 1)[i] as Extract<ServiceToGui, { type: T }>;
      if (Date.now() > deadline) throw new Error(`no ${type} within ${String(ms)} ms; got ${JSON.stringify(this.got)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

let dir: string;
let server: IpcServer;
let handler: ServiceHandler;
let backend: FakeBackend;
let network: ManualChanges;
let telemetryLog: string[];
const path = (): string => join(dir, 'tunnel.sock');

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgui-ipc-'));
  backend = new FakeBackend(20);
  network = new ManualChanges();
  telemetryLog = [];
  const telemetry: TelemetryPort = {
    start: (o) => {
      telemetryLog.push(`start:${o.apiUrl}`);
      return { environment: 'on-prem' };
    },
    setAccount: (s) => telemetryLog.push(`account:${String(s)}`),
    setDeviceId: () => undefined,
    startSession: () => telemetryLog.push('session'),
    stop: () => {
      telemetryLog.push('stop');
      return Promise.resolve();
    },
  };
  handler = new ServiceHandler({ backend, deviceId: 'dev-1', version: '9.9.9', gitSha: 'abc', logger: pino({ level: 'silent' }), settings: SETTINGS, networkChanges: network, telemetry });
  server = new IpcServer({ path: path(), handler, logger: pino({ level: 'silent' }), groupFile: join(dir, 'no-group-file') });
  await server.listen();
});

afterEach(async () => {
  await handler.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('tunnel service IPC', () => {
  it('listens on a 0660 socket and greets a GUI with Hello', async () => {
    expect(statSync(path()).mode & 0o777).toBe(0o660);
    const g = await Gui.open(path());
    const hello = await g.next('Hello');
    expect(hello).toMatchObject({ deviceId: 'dev-1', state: 'Idle', settings: SETTINGS, version: '9.9.9' });
    g.client.close();
  });

  it('connects, lists resources, toggles the Internet resource and disconnects', async () => {
    const g = await Gui.open(path());
    await g.next('Hello');
    g.client.send({ type: 'Connect', token: 't', internetResourceActive: false });
    await g.next('ConnectResult', (m) => m.ok);
    const res = await g.next('OnUpdateResources');
    expect(res.resources.map((r) => r.name)).toEqual(['lab-net', 'lab-web', 'Internet']);
    g.client.send({ type: 'SetInternetResourceState', active: true });
    g.client.send({ type: 'Disconnect' });
    await g.next('DisconnectedGracefully');
    await g.next('SessionState', (m) => m.state === 'Idle');
    expect(backend.log).toEqual(['internet=true', 'stop']);
    expect(backend.liveSessions).toBe(0);
    g.client.close();
  });

  it('refuses a second GUI with a clear error while the first stays connected', async () => {
    const g1 = await Gui.open(path());
    await g1.next('Hello');
    const g2 = await Gui.open(path());
    const err = await g2.next('Error');
    expect(err.code).toBe('ALREADY_CONNECTED');
    await expect.poll(() => g2.closed).toBe(true);
    g1.client.send({ type: 'ClearLogs' });
    await g1.next('ClearedLogs');
    g1.client.close();
  });

  it('answers malformed and invalid frames with an Error and stays up', async () => {
    const g = await Gui.open(path());
    await g.next('Hello');
    const raw = (s: string): Buffer => {
      const b = Buffer.from(s);
      const h = Buffer.alloc(4);
      h.writeUInt32BE(b.length);
      return Buffer.concat([h, b]);
    };
    g.client.sendRaw(raw('garbage'));
    expect((await g.next('Error')).code).toBe('MALFORMED_FRAME');
    g.client.sendRaw(raw('{"type":"Connect","token":42}'));
    expect((await g.next('Error')).code).toBe('INVALID_MESSAGE');
    g.client.sendRaw(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    expect((await g.next('Error')).code).toBe('FRAME_TOO_LARGE');
    await expect.poll(() => g.closed).toBe(true);
    // The service is still there for the next GUI.
    const g2 = await Gui.open(path());
    await g2.next('Hello');
    g2.client.send({ type: 'Connect', token: 't', internetResourceActive: false });
    await g2.next('ConnectResult', (m) => m.ok);
    g2.client.close();
  });

  it('survives a GUI crash: the next GUI sees the session as it is', async () => {
    const g1 = await Gui.open(path());
    await g1.next('Hello');
    g1.client.send({ type: 'StartTelemetry', environment: 'on-prem', release: 'gui-client@1', accountSlug: 'demo' });
    g1.client.send({ type: 'Connect', token: 't', internetResourceActive: true });
    await g1.next('OnUpdateResources');
    g1.client.destroy(); // no goodbye
    await expect.poll(() => telemetryLog.includes('stop')).toBe(true);
    expect(telemetryLog).toEqual(['start:ws://127.0.0.1:9', 'account:demo', 'session', 'stop']);
    const g2 = await Gui.open(path());
    const hello = await g2.next('Hello');
    expect(hello.state).toBe('Connected');
    expect(hello.internetResourceActive).toBe(true);
    expect(hello.resources).toHaveLength(3);
    expect(backend.liveSessions).toBe(1);
    g2.client.close();
  });

  it('waits for the network when there is none at start and connects by itself when it returns', async () => {
    backend.network = false;
    const g = await Gui.open(path());
    await g.next('Hello');
    g.client.send({ type: 'Connect', token: 't', internetResourceActive: false });
    await g.next('SessionState', (m) => m.state === 'WaitingForNetwork');
    g.client.close(); // the GUI is not needed for the retry
    await expect.poll(() => server.connected).toBe(false);
    backend.network = true;
    network.fire();
    await expect.poll(() => handler.machine.stateName).toBe('Connected');
    expect(backend.started).toHaveLength(2);
  });

  it('a new Connect shuts the old session down first', async () => {
    const g = await Gui.open(path());
    await g.next('Hello');
    g.client.send({ type: 'Connect', token: 'a', internetResourceActive: false });
    await g.next('ConnectResult', (m) => m.ok);
    g.client.send({ type: 'Connect', token: 'b', internetResourceActive: false });
    await g.next('ConnectResult', (m) => m.ok);
    expect(backend.log).toEqual(['stop']);
    expect(backend.liveSessions).toBe(1);
    expect(backend.started.map((s) => s.token)).toEqual(['a', 'b']);
    g.client.close();
  });

  it('tells the GUI to sign in again when the portal refuses the token', async () => {
    backend.refusedTokens.add('expired');
    const g = await Gui.open(path());
    await g.next('Hello');
    g.client.send({ type: 'Connect', token: 'expired', internetResourceActive: false });
    const d = await g.next('OnDisconnect');
    expect(d.requiresSignIn).toBe(true);
    g.client.close();
  });

  it('applies settings and says so; refuses none that validate', async () => {
    const g = await Gui.open(path());
    await g.next('Hello');
    const s = { authUrl: 'http://127.0.0.1:8080', apiUrl: 'ws://127.0.0.1:8080', logFilter: 'debug' };
    g.client.send({ type: 'ApplyAdvancedSettings', settings: s });
    expect((await g.next('SettingsApplied')).settings).toEqual(s);
    expect(handler.currentSettings).toEqual(s);
    g.client.close();
  });
});
