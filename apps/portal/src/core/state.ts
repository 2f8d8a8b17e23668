// The portal core's in-memory state: connections, authorizations, the outbox.
import type { ClientIngressWire, Key } from '@postern/model';
import type { CompiledConfig } from '../config/compile';
import type { Rng } from './rng';
import type { DeviceRecord, Store } from './store';

export type Role = 'client' | 'gateway' | 'relay';

interface ConnBase {
  readonly connId: number;
  joined: boolean;
  lastSeenMs: number;
  readonly tokenHash: string;
}

export interface ClientConn extends ConnBase {
  readonly role: 'client';
  readonly device: DeviceRecord;
  readonly publicKey: Key;
  readonly name: string;
  readonly email: string;
  /** Wall-clock ms when the token expires (issued tokens), else undefined. */
  readonly tokenExpiresAtMs: number | undefined;
  /** resource id -> JSON of what the client was last told. */
  visible: Map<string, string>;
  interfaceJson: string;
}

export interface GatewayConn extends ConnBase {
  readonly role: 'gateway';
  readonly device: DeviceRecord;
  readonly publicKey: Key;
  readonly name: string;
  readonly siteId: string;
}

export interface RelayConn extends ConnBase {
  readonly role: 'relay';
  readonly relayId: string;
  readonly name: string;
  readonly ipv4: string | undefined;
  readonly ipv6: string | undefined;
  readonly port: number;
  stampSecret: string | undefined;
}

export type Conn = ClientConn | GatewayConn | RelayConn;

export type AuthorizationCreatedWire = Extract<ClientIngressWire, { event: 'authorization_created' }>['payload'];

export interface Pending {
  readonly ref: string;
  readonly clientId: string;
  readonly resourceId: string;
  gatewayId: string;
  readonly tried: Set<string>;
  startedMs: number;
  readonly connectedGatewayIds: readonly string[];
  /** What the client gets once the gateway acknowledges. */
  clientPayload: AuthorizationCreatedWire;
}

export interface Active {
  readonly clientId: string;
  readonly gatewayId: string;
  readonly resourceId: string;
  readonly email: string;
  /** JSON of the gateway resource description last sent. */
  resourceJson: string;
}

export type Output =
  | { readonly kind: 'send'; readonly connId: number; readonly text: string }
  | { readonly kind: 'close'; readonly connId: number; readonly code: number; readonly reason: string }
  | { readonly kind: 'log'; readonly level: 'debug' | 'info' | 'warn'; readonly msg: string; readonly fields?: Record<string, unknown> };

export interface Counters {
  authorizationsCreated: number;
  authorizationsFailed: Record<string, number>;
  framesRejected: number;
}

export interface State {
  cfg: CompiledConfig;
  readonly store: Store;
  readonly rng: Rng;
  /** Signs flow-log ingest tokens; random per process. */
  readonly ingestSecret: Uint8Array;
  readonly publicUrl: string;
  readonly conns: Map<number, Conn>;
  /** client id -> conn id */
  readonly clients: Map<string, number>;
  /** gateway id -> conn id */
  readonly gateways: Map<string, number>;
  /** relay id -> conn id */
  readonly relays: Map<string, number>;
  readonly pending: Map<string, Pending>;
  /** `${clientId}|${gatewayId}|${resourceId}` */
  readonly active: Map<string, Active>;
  readonly outbox: Output[];
  readonly counters: Counters;
}

export function activeKey(clientId: string, gatewayId: string, resourceId: string): string {
  return `${clientId}|${gatewayId}|${resourceId}`;
}
