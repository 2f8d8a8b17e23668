// The tunnel service's session state machine (sans-IO): what the service does with the connlib session in
// answer to GUI intents, session outcomes and network changes. It returns actions for the IO shell (start /
// stop / reset a session, toggle the Internet resource, tell the GUI) and never does IO itself.
//
//   Idle --connect--> Connecting --sessionConnected--> Connected
//   Connecting --startFailed(noNetwork)--> WaitingForNetwork --networkChanged--> Connecting   (no GUI needed)
//   any session --disconnect--> Idle (DisconnectedGracefully);  --sessionFailed--> Idle (OnDisconnect)
//   connect while a session exists: the old one is stopped first, then a new one starts.
//
// Each started session has a generation; outcomes of an older generation (a session already stopped) are
// ignored, so a late "connected" of a replaced session can never flip the state.
import type { IpcResource, ServiceToGui, SessionStateName } from '../ipc/messages';

export type SessionState =
  | { readonly name: 'Idle' }
  | { readonly name: 'WaitingForNetwork'; readonly generation: number; readonly token: string }
  | { readonly name: 'Connecting'; readonly generation: number; readonly token: string }
  | { readonly name: 'Connected'; readonly generation: number; readonly token: string };

export type SessionAction =
  | { readonly type: 'start'; readonly generation: number; readonly token: string; readonly internetResourceActive: boolean }
  | { readonly type: 'stop'; readonly generation: number }
  | { readonly type: 'reset'; readonly generation: number }
  | { readonly type: 'setInternetResource'; readonly generation: number; readonly active: boolean }
  | { readonly type: 'notify'; readonly message: ServiceToGui };

export class SessionMachine {
  private st: SessionState = { name: 'Idle' };
  private generation = 0;
  private internet = false;
  private res: readonly IpcResource[] = [];

  get state(): SessionState {
    return this.st;
  }
  get stateName(): SessionStateName {
    return this.st.name;
  }
  get internetResourceActive(): boolean {
    return this.internet;
  }
  get resources(): readonly IpcResource[] {
    return this.res;
  }

  /** GUI `Connect`: stops a session that exists, then starts a new one. */
  connect(token: string, internetResourceActive: boolean): SessionAction[] {
    const out: SessionAction[] = [];
    this.internet = internetResourceActive;
    if (this.st.name !== 'Idle') out.push({ type: 'stop', generation: this.st.generation });
    this.res = [];
    const generation = ++this.generation;
    this.st = { name: 'Connecting', generation, token };
    out.push({ type: 'start', generation, token, internetResourceActive });
    out.push(this.stateNotice());
    return out;
  }

  /** GUI `Disconnect` (or sign-out): stop any session; back to Idle. */
  disconnect(): SessionAction[] {
    const out: SessionAction[] = [];
    if (this.st.name !== 'Idle') out.push({ type: 'stop', generation: this.st.generation });
    const wasIdle = this.st.name === 'Idle';
    this.st = { name: 'Idle' };
    this.res = [];
    out.push({ type: 'notify', message: { type: 'DisconnectedGracefully' } });
    if (!wasIdle) out.push(this.stateNotice());
    return out;
  }

  setInternetResource(active: boolean): SessionAction[] {
    this.internet = active;
    if (this.st.name === 'Connecting' || this.st.name === 'Connected') return [{ type: 'setInternetResource', generation: this.st.generation, active }];
    return [];
  }

  /** The session joined the portal. */
  sessionConnected(generation: number): SessionAction[] {
    if (!this.current(generation) || this.st.name !== 'Connecting') return [];
    this.st = { name: 'Connected', generation, token: this.st.token };
    return [{ type: 'notify', message: { type: 'ConnectResult', ok: true, state: 'Connected' } }, this.stateNotice()];
  }

  /** The session could not start. With `noNetwork` the service waits for the next network change. */
  startFailed(generation: number, error: string, opts: { noNetwork: boolean; requiresSignIn: boolean }): SessionAction[] {
    if (!this.current(generation) || this.st.name === 'Idle') return [];
    if (opts.noNetwork && !opts.requiresSignIn) {
      this.st = { name: 'WaitingForNetwork', generation, token: this.st.token };
      return [this.stateNotice()];
    }
    this.st = { name: 'Idle' };
    this.res = [];
    return [
      { type: 'notify', message: { type: 'ConnectResult', ok: false, error, state: 'Idle' } },
      { type: 'notify', message: { type: 'OnDisconnect', error, requiresSignIn: opts.requiresSignIn } },
      this.stateNotice(),
    ];
  }

  /** A running session ended by itself (portal gave up, token expired, tunnel failed). */
  sessionFailed(generation: number, error: string, requiresSignIn: boolean): SessionAction[] {
    if (!this.current(generation) || this.st.name === 'Idle') return [];
    const out: SessionAction[] = [{ type: 'stop', generation }];
    this.st = { name: 'Idle' };
    this.res = [];
    out.push({ type: 'notify', message: { type: 'OnDisconnect', error, requiresSignIn } }, this.stateNotice());
    return out;
  }

  /** The OS network changed (or came back). */
  networkChanged(): SessionAction[] {
    switch (this.st.name) {
      case 'Idle':
        return [];
      case 'WaitingForNetwork': {
        const { token } = this.st;
        const generation = ++this.generation;
        this.st = { name: 'Connecting', generation, token };
        return [{ type: 'start', generation, token, internetResourceActive: this.internet }, this.stateNotice()];
      }
      case 'Connecting':
      case 'Connected':
        return [{ type: 'reset', generation: this.st.generation }];
    }
  }

  /** The DNS servers changed: the session re-reads them (same as a network change for a live session). */
  dnsChanged(): SessionAction[] {
    if (this.st.name === 'Connecting' || this.st.name === 'Connected') return [{ type: 'reset', generation: this.st.generation }];
    return [];
  }

  resourcesChanged(generation: number, resources: readonly IpcResource[]): SessionAction[] {
    if (!this.current(generation) || this.st.name === 'Idle' || this.st.name === 'WaitingForNetwork') return [];
    this.res = resources;
    return [{ type: 'notify', message: { type: 'OnUpdateResources', resources: [...resources] } }];
  }

  allGatewaysOffline(generation: number): SessionAction[] {
    if (!this.current(generation) || this.st.name !== 'Connected') return [];
    return [{ type: 'notify', message: { type: 'AllGatewaysOffline' } }];
  }

  /** Service shutdown: stop the session; tell the GUI. */
  terminate(): SessionAction[] {
    const out: SessionAction[] = [];
    if (this.st.name !== 'Idle') out.push({ type: 'stop', generation: this.st.generation });
    this.st = { name: 'Idle' };
    this.res = [];
    out.push({ type: 'notify', message: { type: 'TerminatingGracefully' } });
    return out;
  }

  private current(generation: number): boolean {
    return this.st.name !== 'Idle' && this.st.generation === generation;
  }

  private stateNotice(): SessionAction {
    return { type: 'notify', message: { type: 'SessionState', state: this.st.name } };
  }
}
