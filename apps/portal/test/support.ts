/* eslint-disable @typescript-eslint/no-explicit-any -- frames are arbitrary JSON that tests poke into */
// Test helpers: a config with known tokens, a PortalCore with a fake clock, frames in and out.
import { readFileSync } from 'node:fs';
import { xorshiftRng } from '@postern/testing';
import { join } from 'node:path';
import { compileConfig, type CompiledConfig } from '../src/config/compile';
import { ConfigError, parseConfigText } from '../src/config/load';
import type { ConnectQuery } from '../src/core/auth';
import { PortalCore } from '../src/core/portal';
import type { Rng } from '../src/core/rng';
import { MemoryStore, type Store } from '../src/core/store';
import type { Output } from '../src/core/state';

export const EXAMPLE = readFileSync(join(import.meta.dirname, '..', 'examples', 'portal.yaml'), 'utf8');
export const TOKENS = { gateway: 'postern-demo-gateway-token', client: 'postern-demo-client-token', relay: 'postern-demo-relay-token' };
export const PASSWORD = 'correct horse battery staple';
export const KEYS = {
  client: 'fiAjSBWDgQfD1CFJkTwOf4zg+1QhH0eTT+oLaVIMpH8=',
  client2: 'S6REkbStSNMfn8hpLkVxibjR+zz3RO/Gq40TprHJE2U=',
  gw1: 'uMBCkAxTewfSgypIyxdQ18uCi84HLtKmQJy0wvQrYWY=',
  gw2: 'anX2T9RH9mimT5Xd5+HqNGV0bfCodWDHQch1DLiFNls=',
};
export const STAMP = 'ab'.repeat(32);

export function config(text: string = EXAMPLE): CompiledConfig {
  return compileConfig(parseConfigText(text, 'test.yaml'));
}

/** The problems (`file:line:col: path: message`) of a config text named portal.yaml; [] when it is valid. */
export function problems(text: string): string[] {
  try {
    parseConfigText(text, 'portal.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

/** A deterministic Rng (xorshift32). */
export function seededRng(seed = 1): Rng {
  return xorshiftRng(seed);
}

export interface Frame {
  topic: string;
  event: string;
  payload: any;
  ref: any;
}

export class Harness {
  readonly core: PortalCore;
  now = 1_750_000_000_000;
  readonly inbox = new Map<number, Frame[]>();
  readonly closed = new Map<number, { code: number; reason: string }>();
  readonly logs: Output[] = [];

  constructor(text: string = EXAMPLE, readonly store: Store = new MemoryStore(), seed = 1) {
    this.core = new PortalCore({ config: config(text), store, publicUrl: 'http://127.0.0.1:8080', rng: seededRng(seed) });
  }

  flush(): void {
    for (const o of this.core.drain()) {
      if (o.kind === 'send') {
        const list = this.inbox.get(o.connId) ?? [];
        list.push(JSON.parse(o.text));
        this.inbox.set(o.connId, list);
      } else if (o.kind === 'close') {
        this.closed.set(o.connId, { code: o.code, reason: o.reason });
        this.core.close(o.connId, this.now);
      } else this.logs.push(o);
    }
  }

  connect(role: 'client' | 'gateway' | 'relay', token: string, query: ConnectQuery): number {
    const auth = this.core.authenticate(role, token, query, this.now);
    if (!auth.ok) throw new Error(`${auth.status} ${auth.code}`);
    const id = this.core.open(auth.identity, this.now);
    this.flush();
    return id;
  }

  send(connId: number, frame: object | string): void {
    this.core.receive(connId, typeof frame === 'string' ? frame : JSON.stringify(frame), this.now);
    this.flush();
  }

  join(connId: number, topic: string, payload: unknown = null): Frame[] {
    this.send(connId, { topic, event: 'phx_join', payload, ref: 0 });
    return this.take(connId);
  }

  /** Connects and joins; returns the conn id and the init payload. */
  client(externalId = 'client-device-1', key = KEYS.client, token = TOKENS.client): { conn: number; init: any } {
    const conn = this.connect('client', token, { external_id: externalId, public_key: key, name: externalId });
    const frames = this.join(conn, 'client');
    return { conn, init: frames.find((f) => f.event === 'init')?.payload };
  }

  gateway(externalId = 'gw-1', key = KEYS.gw1): { conn: number; init: any; id: string } {
    const conn = this.connect('gateway', TOKENS.gateway, { external_id: externalId, public_key: key, name: externalId });
    const frames = this.join(conn, 'gateway');
    return { conn, init: frames.find((f) => f.event === 'init')?.payload, id: this.core.deviceOf(conn)?.id ?? '' };
  }

  relay(ipv4 = '198.18.0.9', port = '3478'): number {
    const conn = this.connect('relay', TOKENS.relay, { ipv4, port });
    this.join(conn, 'relay', { stamp_secret: STAMP });
    return conn;
  }

  take(connId: number): Frame[] {
    const list = this.inbox.get(connId) ?? [];
    this.inbox.set(connId, []);
    return list;
  }

  events(connId: number): string[] {
    return (this.inbox.get(connId) ?? []).map((f) => f.event);
  }

  resourceId(name: string): string {
    for (const r of this.core.config.resources.values()) if (r.name === name) return r.id;
    throw new Error(`no resource ${name}`);
  }
}
