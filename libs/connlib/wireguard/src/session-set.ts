// The three keypairs of a peer (whitepaper §5.4.6, wireguard-go's Keypairs): `current` sends, `previous`
// still receives in-flight packets after a rotation, `next` is the responder's session that becomes
// current on key confirmation (the first packet received on it).
import type { Session } from './session';

export class SessionSet {
  current: Session | null = null;
  previous: Session | null = null;
  next: Session | null = null;

  byIndex(localIndex: number): Session | null {
    if (this.current?.localIndex === localIndex) return this.current;
    if (this.previous?.localIndex === localIndex) return this.previous;
    if (this.next?.localIndex === localIndex) return this.next;
    return null;
  }

  /** Initiator: a session from a handshake response becomes current at once. */
  installInitiated(session: Session): void {
    this.previous?.dispose();
    this.previous = this.current;
    this.current = session;
  }

  /** Responder: a session from an initiation waits in `next` for key confirmation. */
  installResponded(session: Session): void {
    this.next?.dispose();
    this.next = session;
  }

  /** Key confirmation: `next` becomes current. */
  confirmNext(): void {
    if (this.next === null) return;
    this.previous?.dispose();
    this.previous = this.current;
    this.current = this.next;
    this.next = null;
  }

  expire(now: number): void {
    if (this.previous?.expired(now)) {
      this.previous.dispose();
      this.previous = null;
    }
    if (this.current?.expired(now)) {
      this.current.dispose();
      this.current = null;
    }
    if (this.next?.expired(now)) {
      this.next.dispose();
      this.next = null;
    }
  }

  clear(): void {
    this.previous?.dispose();
    this.current?.dispose();
    this.next?.dispose();
    this.previous = this.current = this.next = null;
  }
}
