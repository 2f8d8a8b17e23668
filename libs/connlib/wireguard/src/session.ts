// A transport keypair (whitepaper §5.4.6): one direction's AEAD each way, the send counter and the
// receive replay window. The Tunn keeps up to three: previous, current and next.
import { REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME } from './constants';
import type { Aead, CryptoBackend } from './crypto/backend';
import { ReplayWindow } from './replay-window';

export class Session {
  private readonly sender: Aead;
  private readonly receiver: Aead;
  readonly replay = new ReplayWindow();
  sendCounter = 0;
  private disposed = false;

  constructor(
    backend: CryptoBackend,
    /** Index the peer puts in messages to us. */
    readonly localIndex: number,
    /** Index we put in messages to the peer. */
    readonly peerIndex: number,
    sendKey: Uint8Array,
    receiveKey: Uint8Array,
    readonly isInitiator: boolean,
    readonly createdAt: number,
  ) {
    this.sender = backend.aead(sendKey);
    this.receiver = backend.aead(receiveKey);
    sendKey.fill(0);
    receiveKey.fill(0);
  }

  /** Past REJECT_AFTER_TIME or out of counters: neither sends nor receives. */
  expired(now: number): boolean {
    return this.disposed || now - this.createdAt >= REJECT_AFTER_TIME || this.sendCounter >= REJECT_AFTER_MESSAGES;
  }

  /** Seals in place; returns the counter used. */
  seal(buf: Uint8Array, offset: number, length: number): number {
    const counter = this.sendCounter++;
    this.sender.seal(counter, buf, offset, length);
    return counter;
  }

  /** Seals `src` (all of it) into `dst` at `dstOffset` (see Aead.sealFrom); returns the counter used. */
  sealFrom(src: Uint8Array, dst: Uint8Array, dstOffset: number): number {
    const counter = this.sendCounter++;
    this.sender.sealFrom(counter, src, 0, dst, dstOffset, src.length);
    return counter;
  }

  open(counter: number, buf: Uint8Array, offset: number, length: number): boolean {
    return this.receiver.open(counter, buf, offset, length);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.sender.dispose();
    this.receiver.dispose();
  }
}
