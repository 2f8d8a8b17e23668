// Test support: a fake RNG, and a tiny long-term-credential TURN client that speaks to a TurnServer in memory.
import { xorshiftRng } from '@postern/testing';
import {
  decodeMessageOrThrow,
  encodeChannelData,
  encodeMessage,
  getAttribute,
  longTermKey,
  Method,
  type Attribute,
  type DecodedMessage,
} from '@postern/stun';
import { endpoint, TurnServer, type Endpoint, type Rng, type TurnServerConfig } from '../../src/index';

export function seqRng(seed = 1): Rng {
  return xorshiftRng(seed);
}

export const RELAY_IP4 = '198.18.16.1';
export const RELAY_IP6 = 'fd00:18:16::1';

export function newServer(cfg: Partial<TurnServerConfig> = {}): TurnServer {
  return new TurnServer(
    { publicIp4: RELAY_IP4, publicIp6: RELAY_IP6, staticUsers: new Map([['alice', 'secret']]), lowestPort: 50000, highestPort: 50099, ...cfg },
    seqRng(7),
  );
}

let tidCounter = 0;
export function tid(): Uint8Array {
  tidCounter++;
  const t = new Uint8Array(12);
  new DataView(t.buffer).setUint32(8, tidCounter);
  return t;
}

/** Sends one request and returns the (decoded) response the server queued for `from`. */
export function exchange(server: TurnServer, from: Endpoint, bytes: Uint8Array, now: number): DecodedMessage {
  server.handleClientInput(bytes, from, now);
  const t = server.pollTransmit();
  if (!t) throw new Error('no response');
  if (t.dst.key !== from.key) throw new Error(`response to ${t.dst.key}`);
  return decodeMessageOrThrow(t.payload);
}

export function errorCode(m: DecodedMessage): number | undefined {
  return getAttribute(m, 'ERROR-CODE')?.code;
}

/** A client that authenticates like coturn's uclient: first unauthenticated, then with the 401's nonce. */
export class SimClient {
  nonce: string | undefined;
  realm = 'firezone';
  readonly key: Uint8Array;

  constructor(
    readonly server: TurnServer,
    readonly addr: Endpoint,
    readonly username: string,
    password: string,
    realm = 'firezone',
  ) {
    this.realm = realm;
    this.key = longTermKey(username, realm, password);
  }

  request(method: number, attrs: Attribute[], now: number, transactionId = tid()): DecodedMessage {
    const send = (): DecodedMessage => {
      const a: Attribute[] = [...attrs];
      if (this.nonce !== undefined) {
        a.push({ name: 'USERNAME', value: this.username }, { name: 'REALM', value: this.realm }, { name: 'NONCE', value: this.nonce });
      }
      const bytes = encodeMessage(
        { method, cls: 'request', transactionId, attributes: a },
        this.nonce !== undefined ? { integrity: this.key, fingerprint: true } : { fingerprint: true },
      );
      return exchange(this.server, this.addr, bytes, now);
    };
    let res = send();
    const code = errorCode(res);
    if (code === 401 || code === 438) {
      const n = getAttribute(res, 'NONCE')?.value;
      if (n !== undefined && n !== this.nonce) {
        this.nonce = n;
        res = send();
      }
    }
    return res;
  }

  allocate(now: number, extra: Attribute[] = []): DecodedMessage {
    return this.request(Method.Allocate, [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }, ...extra], now);
  }

  channelBind(channel: number, peer: Endpoint, now: number): DecodedMessage {
    return this.request(Method.ChannelBind, [{ name: 'CHANNEL-NUMBER', channel }, { name: 'XOR-PEER-ADDRESS', address: peer }], now);
  }

  permit(peer: Endpoint, now: number): DecodedMessage {
    return this.request(Method.CreatePermission, [{ name: 'XOR-PEER-ADDRESS', address: peer }], now);
  }

  refresh(lifetime: number | undefined, now: number): DecodedMessage {
    return this.request(Method.Refresh, lifetime === undefined ? [] : [{ name: 'LIFETIME', seconds: lifetime }], now);
  }

  channelData(channel: number, payload: Uint8Array): Uint8Array {
    return encodeChannelData(channel, payload);
  }
}

export const PEER = endpoint('203.0.113.10', 40000);
export const CLIENT = endpoint('198.51.100.5', 51000);
