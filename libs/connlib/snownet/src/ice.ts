// An ICE agent for one connection (RFC 8445 subset as Firezone's str0m uses it), sans-IO. Candidate pairs
// ordered by priority, connectivity checks (STUN BINDING, short-term credentials from the portal), nomination by
// the controlling side (client), keepalive checks on the selected pair, failover to the next working pair and
// restart. The agent only builds and parses STUN; the Node decides how bytes travel (direct or through a relay).
import {
  Method,
  encodeMessage,
  getAttribute,
  shortTermKey,
  transactionIdKey,
  verifyIntegrity,
  type Attribute,
  type DecodedMessage,
} from '@postern/stun';
import type { NetAddr } from './addr';
import { candidatePriority, type CandidateType } from './candidate';
import type { IceCredentials, Rng } from './types';

/** First check retransmission; doubled each time up to MAX_RTO. */
export const CHECK_INITIAL_RTO_MS = 250;
export const CHECK_MAX_RTO_MS = 1_500;
/** Checks on a pair that never answered before it is failed (~8 s). */
export const CHECK_MAX_SENDS = 8;
/** Checks on the selected pair (or one being nominated) that may go unanswered before it is failed (~4.75 s). */
export const SELECTED_MAX_SENDS = 5;
/** Keepalive (consent) check on the selected pair while it answers. */
export const KEEPALIVE_CHECK_MS = 5_000;
/**
 * The controlling side nominates the best working pair as soon as it succeeded (str0m's way), with one exception:
 * a relayed pair while better direct pairs are still being checked waits RELAYED_NOMINATION_GRACE_MS after the
 * first success (a direct path through endpoint-independent NATs answers within a round trip or two of the
 * relayed one), or up to NOMINATION_DELAY_MS while a direct pair has heard a check from the peer (a hole is
 * open: the triggered check back succeeds one round trip later). A better pair that succeeds later still
 * replaces the nominated one (a direct path takes over from a relay).
 */
export const RELAYED_NOMINATION_GRACE_MS = 250;
export const NOMINATION_DELAY_MS = 1_500;
/** 487 answers on one pair (each switching our role) before the pair is failed: a peer that always claims our role. */
export const ROLE_CONFLICT_MAX = 4;
/** See `probeSelected`. */
export const QUIET_PROBE_MS = 2_000;

export type LocalKind = 'host' | 'srflx' | 'relay';

export interface LocalCandidate {
  readonly kind: LocalKind;
  readonly addr: NetAddr;
  /** host: itself; srflx: the host socket; relay: the server-reflexive address the relay saw. */
  readonly base: NetAddr;
  readonly priority: number;
  /** The allocation a relay candidate belongs to. */
  readonly relayId: string | undefined;
}

export interface RemoteCandidate {
  readonly kind: CandidateType;
  readonly addr: NetAddr;
  readonly priority: number;
}

export type PairState = 'waiting' | 'inProgress' | 'succeeded' | 'failed';

export interface CandidatePair {
  readonly local: LocalCandidate;
  readonly remote: RemoteCandidate;
  /** Depends on our role (RFC 8445 §6.1.2.3): recomputed when a role conflict switches it. */
  priority: bigint;
  state: PairState;
  nextCheckAt: number;
  /** Checks sent since the last answer. */
  unanswered: number;
  lastResponseAt: number | undefined;
  /** Controlling: the next check carries USE-CANDIDATE. */
  nominating: boolean;
  /** The peer's checks arrived on this pair (its side of the path is open). */
  heard: boolean;
  /** 487 (Role Conflict) answers to our checks on this pair. */
  conflicts: number;
  readonly tids: string[];
}

/** A check (or answer) to send from `local` to `dst`. */
export interface IceTransmit {
  readonly local: LocalCandidate;
  readonly dst: NetAddr;
  readonly payload: Uint8Array;
}

/** RFC 8445 §6.1.2.3: 2^32*MIN(G,D) + 2*MAX(G,D) + (G>D?1:0). */
export function pairPriority(controlling: number, controlled: number): bigint {
  const g = BigInt(controlling);
  const d = BigInt(controlled);
  const min = g < d ? g : d;
  const max = g < d ? d : g;
  return (min << 32n) + 2n * max + (g > d ? 1n : 0n);
}

export class IceAgent {
  readonly locals: LocalCandidate[] = [];
  readonly remotes: RemoteCandidate[] = [];
  /** Sorted by priority, best first. */
  pairs: CandidatePair[] = [];
  selected: CandidatePair | undefined;
  private selectionChanged = false;
  private failedSelection: CandidatePair | undefined;
  private firstSuccessAt: number | undefined;
  /** When a pending nomination is due (controlling, nothing selected yet). */
  private nominationDue: number | undefined;
  private readonly out: IceTransmit[] = [];
  private readonly byTid = new Map<string, { pair: CandidatePair; useCandidate: boolean; controlling: boolean }>();
  private isControlling: boolean;
  /** Times a role conflict switched our role. */
  roleSwitches = 0;
  private readonly localKey: Uint8Array;
  private readonly remoteKey: Uint8Array;
  /** The USERNAME our peer puts in its checks. */
  readonly expectedUsername: string;

  constructor(
    controlling: boolean,
    readonly localCredentials: IceCredentials,
    readonly remoteCredentials: IceCredentials,
    private readonly tieBreaker: bigint,
    private readonly rng: Rng,
  ) {
    this.isControlling = controlling;
    this.localKey = shortTermKey(localCredentials.password);
    this.remoteKey = shortTermKey(remoteCredentials.password);
    this.expectedUsername = `${localCredentials.username}:${remoteCredentials.username}`;
  }

  /** Our ICE role: the client starts controlling; a role conflict (RFC 8445 §7.3.1.1) may switch it. */
  get controlling(): boolean {
    return this.isControlling;
  }

  // ------------------------------------------------------------------------------------ candidates

  /** A local candidate: host and relay candidates are paired; srflx ones are only signalled (their base is a host). */
  addLocal(c: LocalCandidate, now: number): void {
    if (this.locals.some((l) => l.addr.key === c.addr.key && l.kind === c.kind)) return;
    this.locals.push(c);
    if (c.kind === 'srflx') return;
    for (const r of this.remotes) this.addPair(c, r, now);
  }

  removeLocal(addr: NetAddr, kind: LocalKind, now: number): void {
    const i = this.locals.findIndex((l) => l.addr.key === addr.key && l.kind === kind);
    if (i === -1) return;
    const [c] = this.locals.splice(i, 1);
    this.removePairs((p) => p.local === c, now);
  }

  addRemote(c: RemoteCandidate, now: number): RemoteCandidate {
    const existing = this.remotes.find((r) => r.addr.key === c.addr.key);
    if (existing !== undefined) return existing;
    this.remotes.push(c);
    for (const l of this.locals) if (l.kind !== 'srflx') this.addPair(l, c, now);
    return c;
  }

  removeRemote(addr: NetAddr, now: number): void {
    const i = this.remotes.findIndex((r) => r.addr.key === addr.key);
    if (i === -1) return;
    const [c] = this.remotes.splice(i, 1);
    this.removePairs((p) => p.remote === c, now);
  }

  /** Network change: every pair is checked again from scratch; nothing is selected. */
  restart(now: number): void {
    for (const p of this.pairs) this.resetPair(p, now);
    this.byTid.clear();
    this.firstSuccessAt = undefined;
    this.nominationDue = undefined;
    if (this.selected !== undefined) {
      this.selected = undefined;
      this.selectionChanged = true;
    }
  }

  /** The selected pair that stopped answering (once; the pair may have been reset for new checks since). */
  takeFailedSelection(): CandidatePair | undefined {
    const p = this.failedSelection;
    this.failedSelection = undefined;
    return p;
  }

  /** Controlling, nothing selected yet: the pair whose USE-CANDIDATE check is in flight. */
  nominatingPair(): CandidatePair | undefined {
    if (!this.isControlling || this.selected !== undefined) return undefined;
    for (const p of this.pairs) if (p.nominating) return p;
    return undefined;
  }

  /** True once after the selected pair changed (nominated, failed over or lost). */
  takeSelectionChange(): boolean {
    const c = this.selectionChanged;
    this.selectionChanged = false;
    return c;
  }

  // ------------------------------------------------------------------------------------ STUN in

  /**
   * A BINDING request that arrived at `local` from `from` (already matched by USERNAME). Verifies it, answers,
   * learns a peer-reflexive candidate, schedules a triggered check and (controlled side) follows USE-CANDIDATE.
   * Returns false if the request does not authenticate.
   */
  handleRequest(msg: DecodedMessage, local: LocalCandidate, from: NetAddr, now: number): boolean {
    if (getAttribute(msg, 'USERNAME')?.value !== this.expectedUsername) return false;
    if (verifyIntegrity(msg, this.localKey) !== 'ok') return false;
    const role = this.resolveRoleConflict(msg, local, from, now);
    if (role !== 'ok') return role === 'conflict';
    const answer: Attribute[] = [{ name: 'XOR-MAPPED-ADDRESS', address: from }];
    this.out.push({
      local,
      dst: from,
      payload: encodeMessage({ method: Method.Binding, cls: 'success', transactionId: msg.transactionId, attributes: answer }, { integrity: this.localKey, fingerprint: true }),
    });
    const priority = getAttribute(msg, 'PRIORITY')?.priority ?? candidatePriority('prflx');
    const remote = this.addRemoteInternal({ kind: 'prflx', addr: from, priority }, local, now);
    let pair = this.pairs.find((p) => p.local === local && p.remote === remote);
    pair ??= this.addPair(local, remote, now);
    pair.heard = true;
    if (pair.state !== 'succeeded') {
      if (pair.state === 'failed') this.resetPair(pair, now);
      pair.nextCheckAt = Math.min(pair.nextCheckAt, now);
    }
    if (!this.isControlling && getAttribute(msg, 'USE-CANDIDATE') !== undefined && this.selected !== pair) {
      // The controlling side only nominates pairs whose checks it saw answered: use it at once.
      this.select(pair, now);
    }
    return true;
  }

  /** A STUN answer: true if it belonged to one of our checks. */
  handleResponse(msg: DecodedMessage, from: NetAddr, now: number): boolean {
    const key = transactionIdKey(msg.transactionId);
    const t = this.byTid.get(key);
    if (t === undefined) return false;
    if (verifyIntegrity(msg, this.remoteKey) !== 'ok') return true;
    this.byTid.delete(key);
    const pair = t.pair;
    if (!this.pairs.includes(pair) || from.key !== pair.remote.addr.key) return true;
    this.clearTids(pair);
    if (msg.cls === 'error') {
      if (getAttribute(msg, 'ERROR-CODE')?.code === 487 && pair.conflicts < ROLE_CONFLICT_MAX) {
        // RFC 8445 §7.2.5.1: take the other role (unless a request switched it meanwhile) and check again
        pair.conflicts++;
        if (t.controlling === this.isControlling) this.switchRole(!t.controlling, now);
        const conflicts = pair.conflicts;
        this.resetPair(pair, now);
        pair.conflicts = conflicts;
        return true;
      }
      this.failPair(pair, now);
      return true;
    }
    pair.state = 'succeeded';
    pair.unanswered = 0;
    pair.lastResponseAt = now;
    this.firstSuccessAt ??= now;
    if (t.useCandidate) {
      pair.nominating = false;
      if (this.selected !== pair) this.select(pair, now);
    }
    pair.nextCheckAt = this.selected === pair || pair.nominating ? now + (pair.nominating ? 0 : KEEPALIVE_CHECK_MS) : Infinity;
    this.maybeNominate(now);
    return true;
  }

  // ------------------------------------------------------------------------------------ time

  handleTimeout(now: number): void {
    for (const pair of [...this.pairs]) {
      if (pair.state === 'failed' || now < pair.nextCheckAt) continue;
      const keepalive = this.selected === pair || pair.nominating;
      const limit = keepalive && pair.state === 'succeeded' ? SELECTED_MAX_SENDS : CHECK_MAX_SENDS;
      if (pair.unanswered >= limit) {
        this.failPair(pair, now);
        continue;
      }
      this.sendCheck(pair, now);
    }
    this.maybeNominate(now);
  }

  /**
   * The peer went quiet while we send: check the selected pair now instead of at the next keepalive, so that
   * a dead path is found (and left) sooner. At most one such check per QUIET_PROBE_MS.
   */
  probeSelected(now: number): void {
    const p = this.selected;
    if (p?.state !== 'succeeded' || p.unanswered > 0 || p.nextCheckAt <= now) return;
    if (now - (p.lastResponseAt ?? now) < QUIET_PROBE_MS) return;
    p.nextCheckAt = now;
  }

  pollTimeout(): number | undefined {
    let t = Infinity;
    for (const p of this.pairs) if (p.state !== 'failed') t = Math.min(t, p.nextCheckAt);
    if (this.isControlling && this.selected === undefined && this.nominationDue !== undefined) t = Math.min(t, this.nominationDue);
    return t === Infinity ? undefined : t;
  }

  pollTransmit(): IceTransmit | undefined {
    return this.out.shift();
  }

  // ------------------------------------------------------------------------------------ internals

  private addRemoteInternal(c: RemoteCandidate, local: LocalCandidate, now: number): RemoteCandidate {
    const existing = this.remotes.find((r) => r.addr.key === c.addr.key);
    if (existing !== undefined) return existing;
    // Peer-reflexive: paired only with the local candidate it reached.
    this.remotes.push(c);
    this.addPair(local, c, now);
    return c;
  }

  private addPair(local: LocalCandidate, remote: RemoteCandidate, now: number): CandidatePair {
    const existing = this.pairs.find((p) => p.local === local && p.remote === remote);
    if (existing !== undefined) return existing;
    const pair: CandidatePair = {
      local,
      remote,
      priority: this.pairPriorityOf(local, remote),
      state: 'waiting',
      nextCheckAt: now,
      unanswered: 0,
      lastResponseAt: undefined,
      nominating: false,
      heard: false,
      conflicts: 0,
      tids: [],
    };
    if (local.addr.family !== remote.addr.family) pair.state = 'failed';
    let i = 0;
    while (i < this.pairs.length && (this.pairs[i]?.priority ?? 0n) >= pair.priority) i++;
    this.pairs.splice(i, 0, pair);
    return pair;
  }

  private pairPriorityOf(local: LocalCandidate, remote: RemoteCandidate): bigint {
    return this.isControlling ? pairPriority(local.priority, remote.priority) : pairPriority(remote.priority, local.priority);
  }

  /**
   * RFC 8445 §7.3.1.1: a request from a peer that claims our role. The larger tie-breaker keeps (or takes) the
   * controlling role; if that is us, the request is answered 487 (Role Conflict) and goes no further.
   * A request carrying both role attributes is malformed: not processed, not answered.
   */
  private resolveRoleConflict(msg: DecodedMessage, local: LocalCandidate, from: NetAddr, now: number): 'ok' | 'conflict' | 'malformed' {
    const theyControl = getAttribute(msg, 'ICE-CONTROLLING');
    const theyAreControlled = getAttribute(msg, 'ICE-CONTROLLED');
    if (theyControl !== undefined && theyAreControlled !== undefined) return 'malformed';
    const claim = this.isControlling ? theyControl : theyAreControlled;
    if (claim === undefined) return 'ok';
    const weWin = this.tieBreaker >= claim.tieBreaker;
    if (weWin === this.isControlling) {
      const answer: Attribute[] = [{ name: 'ERROR-CODE', code: 487, reason: 'Role Conflict' }];
      this.out.push({
        local,
        dst: from,
        payload: encodeMessage({ method: Method.Binding, cls: 'error', transactionId: msg.transactionId, attributes: answer }, { integrity: this.localKey, fingerprint: true }),
      });
      return 'conflict';
    }
    this.switchRole(weWin, now);
    return 'ok';
  }

  /** Takes the other ICE role: pair priorities change with it; a nomination in progress is dropped. */
  private switchRole(controlling: boolean, now: number): void {
    if (this.isControlling === controlling) return;
    this.isControlling = controlling;
    this.roleSwitches++;
    this.nominationDue = undefined;
    for (const p of this.pairs) {
      p.priority = this.pairPriorityOf(p.local, p.remote);
      if (p.nominating) {
        p.nominating = false;
        p.nextCheckAt = Math.min(p.nextCheckAt, now);
      }
    }
    this.pairs.sort((a, b) => (a.priority === b.priority ? 0 : a.priority > b.priority ? -1 : 1));
  }

  private removePairs(match: (p: CandidatePair) => boolean, now: number): void {
    const lostSelected = this.selected !== undefined && match(this.selected);
    for (const p of this.pairs) if (match(p)) this.clearTids(p);
    this.pairs = this.pairs.filter((p) => !match(p));
    if (lostSelected) this.deselect(now);
  }

  private resetPair(p: CandidatePair, now: number): void {
    if (p.local.addr.family !== p.remote.addr.family) return;
    this.clearTids(p);
    p.state = 'waiting';
    p.unanswered = 0;
    p.nominating = false;
    p.heard = false;
    p.nextCheckAt = now;
  }

  private clearTids(p: CandidatePair): void {
    for (const t of p.tids) this.byTid.delete(t);
    p.tids.length = 0;
  }

  private sendCheck(pair: CandidatePair, now: number): void {
    const tid = new Uint8Array(12);
    this.rng.fill(tid);
    const useCandidate = this.isControlling && pair.nominating;
    const attributes: Attribute[] = [
      { name: 'USERNAME', value: `${this.remoteCredentials.username}:${this.localCredentials.username}` },
      { name: 'PRIORITY', priority: candidatePriority('prflx') },
      this.isControlling ? { name: 'ICE-CONTROLLING', tieBreaker: this.tieBreaker } : { name: 'ICE-CONTROLLED', tieBreaker: this.tieBreaker },
    ];
    if (useCandidate) attributes.push({ name: 'USE-CANDIDATE' });
    const payload = encodeMessage({ method: Method.Binding, cls: 'request', transactionId: tid, attributes }, { integrity: this.remoteKey, fingerprint: true });
    const key = transactionIdKey(tid);
    this.byTid.set(key, { pair, useCandidate, controlling: this.isControlling });
    pair.tids.push(key);
    if (pair.tids.length > CHECK_MAX_SENDS) {
      const old = pair.tids.shift();
      if (old !== undefined) this.byTid.delete(old);
    }
    if (pair.state === 'waiting') pair.state = 'inProgress';
    pair.unanswered++;
    pair.nextCheckAt = now + Math.min(CHECK_INITIAL_RTO_MS * 2 ** (pair.unanswered - 1), CHECK_MAX_RTO_MS);
    this.out.push({ local: pair.local, dst: pair.remote.addr, payload });
  }

  private failPair(pair: CandidatePair, now: number): void {
    this.clearTids(pair);
    pair.state = 'failed';
    pair.nominating = false;
    pair.nextCheckAt = Infinity;
    if (this.selected === pair) {
      this.failedSelection = pair;
      this.deselect(now);
    }
    else this.maybeNominate(now);
  }

  /** The selected pair died or went away: the next working pair takes over (or everything is checked again). */
  private deselect(now: number): void {
    this.selected = undefined;
    this.selectionChanged = true;
    // Pairs that succeeded long ago (nobody checks them after success) may have died with the selected one (the
    // same relay): check them again rather than nominate one blindly and wait for it to fail.
    for (const p of this.pairs) if (p.state === 'succeeded' && now - (p.lastResponseAt ?? now) >= QUIET_PROBE_MS) this.resetPair(p, now);
    if (!this.pairs.some((p) => p.state === 'succeeded' || p.state === 'waiting' || p.state === 'inProgress')) {
      for (const p of this.pairs) this.resetPair(p, now);
    }
    this.maybeNominate(now);
  }

  private select(pair: CandidatePair, now: number): void {
    this.selected = pair;
    this.selectionChanged = true;
    pair.nominating = false;
    if (pair.state === 'succeeded') pair.nextCheckAt = Math.min(pair.nextCheckAt, now + KEEPALIVE_CHECK_MS);
  }

  /** Controlling side: nominate the best succeeded pair when nothing better is still pending (or after a delay). */
  private maybeNominate(now: number): void {
    if (!this.isControlling) return;
    let best: CandidatePair | undefined;
    for (const p of this.pairs) {
      if (p.state === 'succeeded') {
        best = p;
        break;
      }
    }
    if (best === undefined || best === this.selected || best.nominating) return;
    if (this.pairs.some((p) => p.nominating)) return;
    const target = best;
    if (this.selected === undefined && !isDirect(target)) {
      const betterDirect = (p: CandidatePair): boolean => isDirect(p) && p.priority > target.priority && (p.state === 'waiting' || p.state === 'inProgress');
      if (this.pairs.some(betterDirect)) {
        const heard = this.pairs.some((p) => betterDirect(p) && p.heard);
        const due = (this.firstSuccessAt ?? now) + (heard ? NOMINATION_DELAY_MS : RELAYED_NOMINATION_GRACE_MS);
        if (now < due) {
          this.nominationDue = due;
          return;
        }
      }
    }
    this.nominationDue = undefined;
    best.nominating = true;
    best.unanswered = 0;
    best.nextCheckAt = now;
    this.sendCheck(best, now);
  }
}

/** Neither side of the pair is a relay. */
function isDirect(p: CandidatePair): boolean {
  return p.local.kind !== 'relay' && p.remote.kind !== 'relay';
}
