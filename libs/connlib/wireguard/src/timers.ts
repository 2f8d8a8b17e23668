// The per-peer timer state of whitepaper §6 (wireguard-go's timers.go), as deadlines in monotonic ms.
// Tunn.updateTimers reads `due` to decide the one thing to do now.
import { KEEPALIVE_TIMEOUT, REKEY_TIMEOUT } from './constants';

export class Timers {
  /** When the last authenticated packet (data, keepalive or handshake) was sent / received. */
  lastSent = Number.NEGATIVE_INFINITY;
  lastReceived = Number.NEGATIVE_INFINITY;
  /** Send a keepalive at this time unless something is sent before (after receiving data). */
  keepaliveDueAt: number | undefined;
  /** Start a handshake at this time unless something is received before (after sending data). */
  newHandshakeDueAt: number | undefined;
  /** First initiation of the current attempt series (REKEY_ATTEMPT_TIME runs from here). */
  handshakeStartedAt: number | undefined;
  /** When the last initiation went out and when to retransmit it (REKEY_TIMEOUT + jitter). */
  lastInitiationAt = Number.NEGATIVE_INFINITY;
  retransmitAt: number | undefined;
  /** When the newest session was made (keys are zeroed 3 x REJECT_AFTER_TIME later). */
  sessionEstablishedAt: number | undefined;
  /** A rekey was asked for by the data path (REKEY_AFTER_TIME / REKEY_AFTER_MESSAGES). */
  wantHandshake = false;

  /** §6.5: any authenticated packet sent cancels a pending keepalive. */
  anyAuthenticatedPacketSent(now: number): void {
    this.lastSent = now;
    this.keepaliveDueAt = undefined;
  }

  /** Any authenticated packet received cancels the "no reply, start a handshake" timer. */
  anyAuthenticatedPacketReceived(now: number): void {
    this.lastReceived = now;
    this.newHandshakeDueAt = undefined;
  }

  /** Data (not a keepalive) sent: expect something back within KEEPALIVE_TIMEOUT + REKEY_TIMEOUT. */
  dataSent(now: number): void {
    this.newHandshakeDueAt ??= now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT;
  }

  /** Data received: answer with a keepalive within KEEPALIVE_TIMEOUT if nothing else goes out. */
  dataReceived(now: number): void {
    this.keepaliveDueAt ??= now + KEEPALIVE_TIMEOUT;
  }

  initiationSent(now: number, jitter: number): void {
    this.handshakeStartedAt ??= now;
    this.lastInitiationAt = now;
    this.retransmitAt = now + REKEY_TIMEOUT + jitter;
    this.wantHandshake = false;
  }

  handshakeComplete(now: number): void {
    this.handshakeStartedAt = undefined;
    this.retransmitAt = undefined;
    this.sessionEstablishedAt = now;
  }

  handshakeAbandoned(): void {
    this.handshakeStartedAt = undefined;
    this.retransmitAt = undefined;
    this.wantHandshake = false;
    this.newHandshakeDueAt = undefined;
  }
}
