// Longest-prefix routing over CIDR routes, kept sorted (IPv4 first, longer prefixes first) so that the first
// match is the longest. Lookups test the packet's destination in place (no allocation).
import { cidrContainsAt, comparePrefix, type Cidr } from '@postern/ip-packet';

export interface Route<T> {
  readonly cidr: Cidr;
  readonly value: T;
}

export class RouteTable<T> {
  private v4: Route<T>[] = [];
  private v6: Route<T>[] = [];

  /** Replaces all routes. Ties (same network) keep the order given. */
  replace(routes: Iterable<Route<T>>): void {
    const all = [...routes];
    const sorted = all.map((r, i) => ({ r, i })).sort((a, b) => comparePrefix(a.r.cidr, b.r.cidr) || a.i - b.i);
    this.v4 = sorted.filter((x) => x.r.cidr.address.length === 4).map((x) => x.r);
    this.v6 = sorted.filter((x) => x.r.cidr.address.length === 16).map((x) => x.r);
  }

  get size(): number {
    return this.v4.length + this.v6.length;
  }

  routes(): Route<T>[] {
    return [...this.v4, ...this.v6];
  }

  /** Longest match for the address of `family` at `buf[offset..]`. */
  lookupAt(buf: Uint8Array, offset: number, family: 4 | 6): Route<T> | undefined {
    const list = family === 4 ? this.v4 : this.v6;
    for (const r of list) if (cidrContainsAt(r.cidr, buf, offset, family)) return r;
    return undefined;
  }

  lookup(addr: Uint8Array): Route<T> | undefined {
    return this.lookupAt(addr, 0, addr.length === 4 ? 4 : 6);
  }
}
