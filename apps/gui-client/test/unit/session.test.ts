import { describe, expect, it } from 'vitest';
import { SessionMachine, type SessionAction } from '../../src/service/session';
import type { SessionStateName } from '../../src/ipc/messages';

/** A machine driven into `state` with a session of generation `gen` (as the service would get there). */
function machineIn(state: SessionStateName): { m: SessionMachine; gen: number } {
  const m = new SessionMachine();
  if (state === 'Idle') return { m, gen: 0 };
  m.connect('tok', false);
  const gen = 1;
  if (state === 'Connected') m.sessionConnected(gen);
  if (state === 'WaitingForNetwork') m.startFailed(gen, 'no route', { noNetwork: true, requiresSignIn: false });
  expect(m.stateName).toBe(state);
  return { m, gen };
}

const kinds = (a: readonly SessionAction[]): string[] =>
  a.map((x) => (x.type === 'notify' ? `notify:${x.message.type}${x.message.type === 'SessionState' ? `=${x.message.state}` : ''}` : `${x.type}:${String(x.generation)}`));

type Input = (m: SessionMachine, gen: number) => SessionAction[];
const INPUTS: Record<string, Input> = {
  connect: (m) => m.connect('tok2', true),
  disconnect: (m) => m.disconnect(),
  setInternet: (m) => m.setInternetResource(true),
  connected: (m, g) => m.sessionConnected(g),
  connectedStale: (m, g) => m.sessionConnected(g + 100),
  startFailedNoNetwork: (m, g) => m.startFailed(g, 'no route', { noNetwork: true, requiresSignIn: false }),
  startFailedToken: (m, g) => m.startFailed(g, 'bad token', { noNetwork: false, requiresSignIn: true }),
  sessionFailed: (m, g) => m.sessionFailed(g, 'portal gone', false),
  sessionFailedStale: (m, g) => m.sessionFailed(g + 100, 'old', false),
  networkChanged: (m) => m.networkChanged(),
  dnsChanged: (m) => m.dnsChanged(),
  resources: (m, g) => m.resourcesChanged(g, [{ id: 'r', type: 'cidr', name: 'r', siteIds: [], status: 'unknown' }]),
  allGatewaysOffline: (m, g) => m.allGatewaysOffline(g),
  terminate: (m) => m.terminate(),
};

// Every state x every input: [next state, actions]. Generation 2 is the next session started.
const TABLE: Record<SessionStateName, Record<string, [SessionStateName, string[]]>> = {
  Idle: {
    connect: ['Connecting', ['start:1', 'notify:SessionState=Connecting']],
    disconnect: ['Idle', ['notify:DisconnectedGracefully']],
    setInternet: ['Idle', []],
    connected: ['Idle', []],
    connectedStale: ['Idle', []],
    startFailedNoNetwork: ['Idle', []],
    startFailedToken: ['Idle', []],
    sessionFailed: ['Idle', []],
    sessionFailedStale: ['Idle', []],
    networkChanged: ['Idle', []],
    dnsChanged: ['Idle', []],
    resources: ['Idle', []],
    allGatewaysOffline: ['Idle', []],
    terminate: ['Idle', ['notify:TerminatingGracefully']],
  },
  Connecting: {
    connect: ['Connecting', ['stop:1', 'start:2', 'notify:SessionState=Connecting']],
    disconnect: ['Idle', ['stop:1', 'notify:DisconnectedGracefully', 'notify:SessionState=Idle']],
    setInternet: ['Connecting', ['setInternetResource:1']],
    connected: ['Connected', ['notify:ConnectResult', 'notify:SessionState=Connected']],
    connectedStale: ['Connecting', []],
    startFailedNoNetwork: ['WaitingForNetwork', ['notify:SessionState=WaitingForNetwork']],
    startFailedToken: ['Idle', ['notify:ConnectResult', 'notify:OnDisconnect', 'notify:SessionState=Idle']],
    sessionFailed: ['Idle', ['stop:1', 'notify:OnDisconnect', 'notify:SessionState=Idle']],
    sessionFailedStale: ['Connecting', []],
    networkChanged: ['Connecting', ['reset:1']],
    dnsChanged: ['Connecting', ['reset:1']],
    resources: ['Connecting', ['notify:OnUpdateResources']],
    allGatewaysOffline: ['Connecting', []],
    terminate: ['Idle', ['stop:1', 'notify:TerminatingGracefully']],
  },
  Connected: {
    connect: ['Connecting', ['stop:1', 'start:2', 'notify:SessionState=Connecting']],
    disconnect: ['Idle', ['stop:1', 'notify:DisconnectedGracefully', 'notify:SessionState=Idle']],
    setInternet: ['Connected', ['setInternetResource:1']],
    connected: ['Connected', []],
    connectedStale: ['Connected', []],
    startFailedNoNetwork: ['WaitingForNetwork', ['notify:SessionState=WaitingForNetwork']],
    startFailedToken: ['Idle', ['notify:ConnectResult', 'notify:OnDisconnect', 'notify:SessionState=Idle']],
    sessionFailed: ['Idle', ['stop:1', 'notify:OnDisconnect', 'notify:SessionState=Idle']],
    sessionFailedStale: ['Connected', []],
    networkChanged: ['Connected', ['reset:1']],
    dnsChanged: ['Connected', ['reset:1']],
    resources: ['Connected', ['notify:OnUpdateResources']],
    allGatewaysOffline: ['Connected', ['notify:AllGatewaysOffline']],
    terminate: ['Idle', ['stop:1', 'notify:TerminatingGracefully']],
  },
  WaitingForNetwork: {
    connect: ['Connecting', ['stop:1', 'start:2', 'notify:SessionState=Connecting']],
    disconnect: ['Idle', ['stop:1', 'notify:DisconnectedGracefully', 'notify:SessionState=Idle']],
    setInternet: ['WaitingForNetwork', []],
    connected: ['WaitingForNetwork', []],
    connectedStale: ['WaitingForNetwork', []],
    startFailedNoNetwork: ['WaitingForNetwork', ['notify:SessionState=WaitingForNetwork']],
    startFailedToken: ['Idle', ['notify:ConnectResult', 'notify:OnDisconnect', 'notify:SessionState=Idle']],
    sessionFailed: ['Idle', ['stop:1', 'notify:OnDisconnect', 'notify:SessionState=Idle']],
    sessionFailedStale: ['WaitingForNetwork', []],
    networkChanged: ['Connecting', ['start:2', 'notify:SessionState=Connecting']],
    dnsChanged: ['WaitingForNetwork', []],
    resources: ['WaitingForNetwork', []],
    allGatewaysOffline: ['WaitingForNetwork', []],
    terminate: ['Idle', ['stop:1', 'notify:TerminatingGracefully']],
  },
};

describe('session state machine', () => {
  for (const [state, row] of Object.entries(TABLE) as [SessionStateName, (typeof TABLE)[SessionStateName]][]) {
    for (const [input, [next, actions]] of Object.entries(row)) {
      it(`${state} + ${input} -> ${next}`, () => {
        const { m, gen } = machineIn(state);
        const f = INPUTS[input];
        if (f === undefined) throw new Error(`no input ${input}`);
        expect(kinds(f(m, gen))).toEqual(actions);
        expect(m.stateName).toBe(next);
      });
    }
  }

  it('covers every input in every state', () => {
    for (const row of Object.values(TABLE)) expect(Object.keys(row).sort()).toEqual(Object.keys(INPUTS).sort());
  });

  it('retries by itself after the network comes back, with the same token and Internet setting', () => {
    const m = new SessionMachine();
    m.connect('tok', true);
    m.startFailed(1, 'no route', { noNetwork: true, requiresSignIn: false });
    const a = m.networkChanged();
    expect(a[0]).toEqual({ type: 'start', generation: 2, token: 'tok', internetResourceActive: true });
    m.sessionConnected(2);
    expect(m.stateName).toBe('Connected');
  });

  it('keeps resources while connected and forgets them on disconnect', () => {
    const { m, gen } = machineIn('Connected');
    m.resourcesChanged(gen, [{ id: 'r', type: 'dns', name: 'web', address: '*.corp', siteIds: ['s'], status: 'connected' }]);
    expect(m.resources).toHaveLength(1);
    m.disconnect();
    expect(m.resources).toHaveLength(0);
  });

  it('ignores every outcome of a session that a new Connect replaced', () => {
    const { m } = machineIn('Connecting');
    m.connect('new', false);
    expect(m.sessionConnected(1)).toEqual([]);
    expect(m.sessionFailed(1, 'late', false)).toEqual([]);
    expect(m.resourcesChanged(1, [])).toEqual([]);
    expect(m.stateName).toBe('Connecting');
    expect(kinds(m.sessionConnected(2))).toContain('notify:SessionState=Connected');
  });
});
