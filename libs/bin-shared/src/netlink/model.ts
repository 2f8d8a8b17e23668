// The network state that matters for "did the network change": links (name + up/running), addresses and
// routes. Netlink messages are applied to it; only messages that change it count as a change, so repeated
// announcements (IPv6 lifetime refreshes, link statistics, duplicate routes) collapse to nothing. Everything
// about the ignored interface (our TUN) and Postern's own routing table is left out.
import { parseAddr, parseLink, parseMessages, parseRoute, type NlMessage } from './codec';
import * as C from './constants';

const LINK_FLAGS = C.IFF_UP | C.IFF_RUNNING | C.IFF_LOWER_UP;

export interface NetworkModelOptions {
  readonly ignoreInterface: string;
  readonly ignoreTable?: number;
}

export class NetworkModel {
  private readonly links = new Map<number, string>();
  private readonly ignored = new Set<number>();
  private readonly addrs = new Set<string>();
  private readonly routes = new Set<string>();

  constructor(private readonly opts: NetworkModelOptions) {}

  /** Applies every message of a datagram; true if any changed the state. */
  applyDatagram(bytes: Uint8Array): boolean {
    let changed = false;
    for (const m of parseMessages(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) {
      if (this.apply(m)) changed = true;
    }
    return changed;
  }

  apply(m: NlMessage): boolean {
    switch (m.type) {
      case C.RTM_NEWLINK:
      case C.RTM_DELLINK:
        return this.applyLink(m);
      case C.RTM_NEWADDR:
      case C.RTM_DELADDR:
        return this.applyAddr(m);
      case C.RTM_NEWROUTE:
      case C.RTM_DELROUTE:
        return this.applyRoute(m);
      default:
        return false;
    }
  }

  private applyLink(m: NlMessage): boolean {
    const l = parseLink(m);
    if (l === undefined) return false;
    if (l.name === this.opts.ignoreInterface) this.ignored.add(l.index);
    if (this.ignored.has(l.index)) {
      if (m.type === C.RTM_DELLINK) {
        this.ignored.delete(l.index);
        this.links.delete(l.index);
      }
      return false;
    }
    if (m.type === C.RTM_DELLINK) {
      const had = this.links.delete(l.index);
      this.forgetIndex(l.index);
      return had;
    }
    const key = `${l.name ?? ''}|${l.flags & LINK_FLAGS}`;
    if (this.links.get(l.index) === key) return false;
    this.links.set(l.index, key);
    return true;
  }

  private forgetIndex(index: number): void {
    for (const k of [...this.addrs]) if (k.startsWith(`${index}|`)) this.addrs.delete(k);
    for (const k of [...this.routes]) if (k.includes(`|oif${index}|`)) this.routes.delete(k);
  }

  private applyAddr(m: NlMessage): boolean {
    const a = parseAddr(m);
    if (a === undefined || this.ignored.has(a.index)) return false;
    const key = `${a.index}|${a.family}|${a.address}/${a.prefix}`;
    return this.toggle(this.addrs, key, m.type === C.RTM_NEWADDR);
  }

  private applyRoute(m: NlMessage): boolean {
    const r = parseRoute(m);
    if (r === undefined) return false;
    if ((r.flags & C.RTM_F_CLONED) !== 0) return false;
    if (r.oif !== undefined && this.ignored.has(r.oif)) return false;
    if (this.opts.ignoreTable !== undefined && r.table === this.opts.ignoreTable) return false;
    const key = `${r.family}|t${r.table}|${r.type}|${r.dst}/${r.dstLen}|oif${r.oif ?? '-'}|${r.gateway ?? '-'}|${r.priority ?? '-'}`;
    return this.toggle(this.routes, key, m.type === C.RTM_NEWROUTE);
  }

  private toggle(set: Set<string>, key: string, add: boolean): boolean {
    if (add) {
      if (set.has(key)) return false;
      set.add(key);
      return true;
    }
    return set.delete(key);
  }

  /** For tests and debug logs. */
  get size(): { links: number; addrs: number; routes: number } {
    return { links: this.links.size, addrs: this.addrs.size, routes: this.routes.size };
  }
}
