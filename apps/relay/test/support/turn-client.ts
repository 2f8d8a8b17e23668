// A small TURN client for tests (the real one lives in snownet): long-term credentials with the 401/438
// retry, ALLOCATE, CREATE-PERMISSION, CHANNEL-BIND, ChannelData, SEND, REFRESH. Uses the stun codec.
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import {
  classifyPacket,
  decodeChannelData,
  decodeMessage,
  encodeChannelData,
  encodeMessage,
  getAttribute,
  longTermKey,
  Method,
  transactionIdKey,
  verifyIntegrity,
  type Attribute,
  type DecodedMessage,
  type TransportAddress,
} from '@postern/stun';

export class TestTurnClient {
  private readonly sock: Socket;
  private nonce: string | undefined;
  private realm: string | undefined;
  private key: Uint8Array | undefined;
  private readonly pending = new Map<string, (m: DecodedMessage) => void>();
  private readonly data: { channel: number | undefined; payload: Buffer }[] = [];
  private dataWaiter: (() => void) | undefined;

  private constructor(
    private readonly server: { address: string; port: number },
    private readonly username: string,
    private readonly password: string,
  ) {
    this.sock = createSocket('udp4');
    this.sock.on('message', (buf) => {
      const b = new Uint8Array(buf);
      if (classifyPacket(b, 0x7fff) === 'channel-data') {
        const cd = decodeChannelData(b, 0x7fff);
        if (cd.ok) this.push(cd.value.channel, Buffer.from(cd.value.data));
        return;
      }
      const r = decodeMessage(b);
      if (!r.ok) return;
      if (r.message.cls === 'indication' && r.message.method === Method.Data) {
        const d = getAttribute(r.message, 'DATA');
        if (d) this.push(undefined, Buffer.from(d.data));
        return;
      }
      const k = transactionIdKey(r.message.transactionId);
      const done = this.pending.get(k);
      this.pending.delete(k);
      done?.(r.message);
    });
  }

  private push(channel: number | undefined, payload: Buffer): void {
    this.data.push({ channel, payload });
    this.dataWaiter?.();
  }

  static async open(server: { address: string; port: number }, username: string, password: string): Promise<TestTurnClient> {
    const c = new TestTurnClient(server, username, password);
    await new Promise<void>((resolve) => c.sock.bind(0, resolve));
    return c;
  }

  close(): void {
    this.sock.close();
  }

  private transact(method: number, attributes: Attribute[], authenticated: boolean): Promise<DecodedMessage> {
    const transactionId = new Uint8Array(randomBytes(12));
    const attrs = [...attributes];
    if (authenticated && this.nonce !== undefined && this.realm !== undefined) {
      attrs.push({ name: 'USERNAME', value: this.username }, { name: 'REALM', value: this.realm }, { name: 'NONCE', value: this.nonce });
    }
    const bytes = encodeMessage(
      { method, cls: 'request', transactionId, attributes: attrs },
      this.key && authenticated ? { integrity: this.key, fingerprint: true } : { fingerprint: true },
    );
    return new Promise((resolve, reject) => {
      const k = transactionIdKey(transactionId);
      let tries = 0;
      const send = (): void => {
        this.sock.send(bytes, this.server.port, this.server.address);
      };
      const timer = setInterval(() => {
        if (++tries > 7) {
          clearInterval(timer);
          this.pending.delete(k);
          reject(new Error(`no response to method ${method}`));
        } else send();
      }, 500);
      this.pending.set(k, (m) => {
        clearInterval(timer);
        resolve(m);
      });
      send();
    });
  }

  /** A request with the long-term credential dance (401/438 -> retry once with the new nonce). */
  async request(method: number, attributes: Attribute[]): Promise<DecodedMessage> {
    let res = await this.transact(method, attributes, true);
    const code = getAttribute(res, 'ERROR-CODE')?.code;
    if (code === 401 || code === 438) {
      this.nonce = getAttribute(res, 'NONCE')?.value;
      this.realm = getAttribute(res, 'REALM')?.value ?? this.realm;
      if (this.realm !== undefined) this.key = longTermKey(this.username, this.realm, this.password);
      res = await this.transact(method, attributes, true);
    }
    if (res.cls === 'success' && method !== Method.Binding && this.key && verifyIntegrity(res, this.key) !== 'ok') {
      throw new Error('response MESSAGE-INTEGRITY does not verify');
    }
    return res;
  }

  binding(): Promise<DecodedMessage> {
    return this.transact(Method.Binding, [], false);
  }

  async allocate(extra: Attribute[] = []): Promise<{ relayed: TransportAddress[]; mapped: TransportAddress | undefined; lifetime: number | undefined; response: DecodedMessage }> {
    const response = await this.request(Method.Allocate, [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }, ...extra]);
    const relayed = response.attributes.flatMap((a) => (a.name === 'XOR-RELAYED-ADDRESS' ? [a.address] : []));
    return { relayed, mapped: getAttribute(response, 'XOR-MAPPED-ADDRESS')?.address, lifetime: getAttribute(response, 'LIFETIME')?.seconds, response };
  }

  createPermission(peer: TransportAddress): Promise<DecodedMessage> {
    return this.request(Method.CreatePermission, [{ name: 'XOR-PEER-ADDRESS', address: peer }]);
  }

  channelBind(channel: number, peer: TransportAddress): Promise<DecodedMessage> {
    return this.request(Method.ChannelBind, [{ name: 'CHANNEL-NUMBER', channel }, { name: 'XOR-PEER-ADDRESS', address: peer }]);
  }

  refresh(lifetime: number): Promise<DecodedMessage> {
    return this.request(Method.Refresh, [{ name: 'LIFETIME', seconds: lifetime }]);
  }

  sendChannelData(channel: number, payload: Uint8Array): void {
    this.sock.send(encodeChannelData(channel, payload), this.server.port, this.server.address);
  }

  sendIndication(peer: TransportAddress, payload: Uint8Array): void {
    const msg = encodeMessage({
      method: Method.Send,
      cls: 'indication',
      transactionId: new Uint8Array(randomBytes(12)),
      attributes: [{ name: 'XOR-PEER-ADDRESS', address: peer }, { name: 'DATA', data: payload }],
    });
    this.sock.send(msg, this.server.port, this.server.address);
  }

  /** The next relayed datagram (ChannelData or DATA indication), or undefined after `timeoutMs`. */
  async nextData(timeoutMs = 3000): Promise<{ channel: number | undefined; payload: Buffer } | undefined> {
    if (this.data.length === 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        this.dataWaiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.dataWaiter = undefined;
    }
    return this.data.shift();
  }
}
