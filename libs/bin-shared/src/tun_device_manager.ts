// Configures Postern's TUN device through rtnetlink (messages built by hand, sent with koffi):
// addresses (v4 /32, v6 /128), MTU, up; routes via the TUN in Postern's own table, diffed against the
// previous set; policy rules `not fwmark POSTERN_FWMARK lookup POSTERN_ROUTE_TABLE` (v4 and v6) so that
// Postern's own marked UDP never loops into the TUN. Link-scope LAN routes of the main table are mirrored
// into Postern's table as `throw` routes, so LAN traffic keeps bypassing the tunnel.
// Errors as the seed learned them: ENOENT/ESRCH on delete and EEXIST on add are fine; no IPv6 stack
// (EOPNOTSUPP and friends) drops to IPv4-only; IPv4 is always done first and v6 failures never stop it.
import { isIPv4, isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import { BinSharedError, NetlinkError, assertLinux, errnoName } from './errors';
import {
  buildMessage,
  fibRuleHdr,
  ifaddrmsg,
  ifinfomsg,
  ipBytes,
  ipFromBytes,
  parseAddr,
  parseLink,
  parseRoute,
  rtmsg,
  strAttr,
  u32Attr,
  attr,
} from './netlink/codec';
import * as C from './netlink/constants';
import { NetlinkSocket } from './netlink/socket';
import {
  POSTERN_FWMARK,
  POSTERN_ROUTE_TABLE,
  POSTERN_RULE_PRIORITY,
  type IpNetwork,
  type SetIpsResult,
  type TunDeviceManagerOptions,
} from './tun_device_manager_api';

const IPV6_UNSUPPORTED = new Set([C.EOPNOTSUPP, C.EAFNOSUPPORT, C.EPROTONOSUPPORT, C.EACCES]);
const GONE = new Set([C.ENOENT, C.ESRCH, 99 /* EADDRNOTAVAIL */]);

/** Parses `a.b.c.d/len` or `x::/len` (a bare address is a host route); host bits are cleared. */
export function parseIpNetwork(cidr: string): IpNetwork {
  const [address = '', len] = cidr.split('/');
  const v4 = isIPv4(address);
  if (!v4 && !isIPv6(address)) throw new BinSharedError('NETLINK_FAILED', `not an IP network: ${cidr}`);
  const max = v4 ? 32 : 128;
  const prefix = len === undefined ? max : Number(len);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (len !== undefined && !/^\d+$/.test(len))) {
    throw new BinSharedError('NETLINK_FAILED', `bad prefix length in ${cidr}`);
  }
  return normaliseNetwork({ address, prefix });
}

/** The network with host bits cleared and the address in canonical text form. */
export function normaliseNetwork(n: IpNetwork): IpNetwork {
  const bytes = ipBytes(n.address);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, n.prefix - i * 8));
    bytes[i] = (bytes[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return { address: ipFromBytes(bytes), prefix: n.prefix };
}


type RouteKind = 'tun' | 'throw';
interface RouteEntry {
  readonly family: number;
  readonly network: IpNetwork;
  readonly kind: RouteKind;
}

function routeKey(r: RouteEntry): string {
  return `${r.family}|${r.network.address}/${r.network.prefix}|${r.kind}`;
}

export class TunDeviceManager {
  private sock: NetlinkSocket | undefined;
  private previous: Map<string, RouteEntry> | undefined;
  private ipv6 = true;
  private readonly rules = { v4: false, v6: false };
  private readonly log: Logger | undefined;

  constructor(readonly options: TunDeviceManagerOptions) {
    this.log = options.logger;
  }

  /** False once the kernel has shown it has no IPv6. */
  get ipv6Enabled(): boolean {
    return this.ipv6;
  }

  private socket(): NetlinkSocket {
    assertLinux('tun_device_manager');
    this.sock ??= NetlinkSocket.open(this.options.netnsPath);
    return this.sock;
  }

  private seqMsg(type: number, flags: number, body: Buffer, attrs: Parameters<typeof buildMessage>[4] = []) {
    return (seq: number): Buffer => buildMessage(type, C.NLM_F_REQUEST | flags, seq, body, attrs);
  }

  /** The TUN's interface index. */
  ifindex(): number {
    const name = this.options.tunName;
    const { errno, replies } = this.socket().request(
      this.seqMsg(C.RTM_GETLINK, C.NLM_F_ACK, ifinfomsg(C.AF_UNSPEC, 0, 0, 0), [strAttr(C.IFLA_IFNAME, name)]),
      `RTM_GETLINK ${name}`,
    );
    for (const m of replies) {
      const l = parseLink(m);
      if (l !== undefined && m.type === C.RTM_NEWLINK) return l.index;
    }
    throw new NetlinkError(`RTM_GETLINK ${name}`, errno === 0 ? C.ENODEV : errno);
  }

  /** Sets the TUN's addresses (v4 /32, v6 /128; other addresses are removed), MTU and brings it up. */
  setIps(ipv4: string, ipv6: string | undefined): Promise<SetIpsResult> {
    return Promise.resolve().then(() => this.setIpsSync(ipv4, ipv6));
  }

  private setIpsSync(ipv4: string, ipv6: string | undefined): SetIpsResult {
    if (!isIPv4(ipv4)) throw new BinSharedError('NETLINK_FAILED', `not an IPv4 address: ${ipv4}`);
    if (ipv6 !== undefined && !isIPv6(ipv6)) throw new BinSharedError('NETLINK_FAILED', `not an IPv6 address: ${ipv6}`);
    const sock = this.socket();
    const index = this.ifindex();
    const mtu = this.options.mtu ?? 1280;
    this.check(
      sock.request(
        this.seqMsg(C.RTM_NEWLINK, C.NLM_F_ACK, ifinfomsg(C.AF_UNSPEC, index, C.IFF_UP, C.IFF_UP), [u32Attr(C.IFLA_MTU, mtu)]),
        'RTM_NEWLINK (mtu, up)',
      ).errno,
      'RTM_NEWLINK (mtu, up)',
    );

    const want4 = normaliseNetwork({ address: ipv4, prefix: 32 }).address;
    const want6 = ipv6 === undefined ? undefined : normaliseNetwork({ address: ipv6, prefix: 128 }).address;
    const existing = sock
      .dump(this.seqMsg(C.RTM_GETADDR, C.NLM_F_DUMP, ifaddrmsg(C.AF_UNSPEC, 0, 0, 0, 0)), 'RTM_GETADDR dump')
      .filter((m) => m.type === C.RTM_NEWADDR)
      .map(parseAddr)
      .filter((a) => a !== undefined && a.index === index);
    for (const a of existing) {
      if (a === undefined) continue;
      if (a.family === C.AF_INET && a.address === want4 && a.prefix === 32) continue;
      if (a.family === C.AF_INET6 && (a.address === want6 && a.prefix === 128)) continue;
      if (a.family === C.AF_INET6 && a.address.startsWith('fe80:')) continue; // the kernel's link-local
      const errno = sock.request(
        this.seqMsg(C.RTM_DELADDR, C.NLM_F_ACK, ifaddrmsg(a.family, a.prefix, 0, 0, index), [
          attr(a.family === C.AF_INET ? C.IFA_LOCAL : C.IFA_ADDRESS, ipBytes(a.address)),
        ]),
        'RTM_DELADDR',
      ).errno;
      if (errno !== 0 && !GONE.has(errno)) this.check(errno, `RTM_DELADDR ${a.address}/${a.prefix}`);
    }

    const v4 = ipBytes(want4);
    this.checkAdd(
      sock.request(
        this.seqMsg(C.RTM_NEWADDR, C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_EXCL, ifaddrmsg(C.AF_INET, 32, C.IFA_F_PERMANENT, C.RT_SCOPE_UNIVERSE, index), [
          attr(C.IFA_LOCAL, v4),
          attr(C.IFA_ADDRESS, v4),
        ]),
        'RTM_NEWADDR v4',
      ).errno,
      `RTM_NEWADDR ${want4}/32`,
    );

    if (want6 !== undefined && this.ipv6) {
      try {
        const errno = sock.request(
          this.seqMsg(
            C.RTM_NEWADDR,
            C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_EXCL,
            ifaddrmsg(C.AF_INET6, 128, C.IFA_F_NODAD | C.IFA_F_PERMANENT, C.RT_SCOPE_UNIVERSE, index),
            [attr(C.IFA_ADDRESS, ipBytes(want6)), u32Attr(C.IFA_FLAGS, C.IFA_F_NODAD | C.IFA_F_PERMANENT)],
          ),
          'RTM_NEWADDR v6',
        ).errno;
        if (errno !== 0 && errno !== C.EEXIST) this.v6Failed(errno, `RTM_NEWADDR ${want6}/128`);
      } catch (err) {
        this.v6Failed(undefined, 'RTM_NEWADDR v6', err);
      }
    }
    return { ipv6: this.ipv6 };
  }

  /**
   * Makes Postern's table hold exactly these routes via the TUN (plus `throw` routes for the main table's
   * link-scope LAN routes), adding and deleting only the difference to the previous set; installs the
   * policy rules on first use.
   */
  setRoutes(ipv4: readonly IpNetwork[], ipv6: readonly IpNetwork[]): Promise<void> {
    return Promise.resolve().then(() => {
      this.setRoutesSync(ipv4, ipv6);
    });
  }

  private setRoutesSync(ipv4: readonly IpNetwork[], ipv6: readonly IpNetwork[]): void {
    const sock = this.socket();
    const index = this.ifindex();
    this.ensureRule(C.AF_INET);
    if (this.ipv6) this.ensureRule(C.AF_INET6);

    const desired = new Map<string, RouteEntry>();
    const add = (e: RouteEntry): void => {
      desired.set(routeKey(e), e);
    };
    for (const n of ipv4) add({ family: C.AF_INET, network: normaliseNetwork(n), kind: 'tun' });
    if (this.ipv6) for (const n of ipv6) add({ family: C.AF_INET6, network: normaliseNetwork(n), kind: 'tun' });

    const all = sock
      .dump(this.seqMsg(C.RTM_GETROUTE, C.NLM_F_DUMP, rtmsg({ family: C.AF_UNSPEC, dstLen: 0, table: 0, protocol: 0, scope: 0, type: 0 })), 'RTM_GETROUTE dump')
      .filter((m) => m.type === C.RTM_NEWROUTE)
      .map(parseRoute)
      .filter((r) => r !== undefined);
    for (const r of all) {
      if (r.table !== C.RT_TABLE_MAIN || r.scope !== C.RT_SCOPE_LINK || r.type !== C.RTN_UNICAST) continue;
      if (r.oif === index || (r.flags & C.RTM_F_CLONED) !== 0) continue;
      if (r.family === C.AF_INET6 && !this.ipv6) continue;
      add({ family: r.family, network: { address: r.dst, prefix: r.dstLen }, kind: 'throw' });
    }

    if (this.previous === undefined) {
      // Whatever a crashed earlier run left in our table counts as the previous set.
      this.previous = new Map();
      for (const r of all) {
        if (r.table !== POSTERN_ROUTE_TABLE) continue;
        const kind: RouteKind | undefined = r.type === C.RTN_THROW ? 'throw' : r.type === C.RTN_UNICAST ? 'tun' : undefined;
        if (kind === undefined) continue;
        const e: RouteEntry = { family: r.family, network: { address: r.dst, prefix: r.dstLen }, kind };
        this.previous.set(routeKey(e), e);
      }
    }
    const previous = this.previous;
    const byFamily = (m: Map<string, RouteEntry>, family: number): RouteEntry[] => [...m.values()].filter((e) => e.family === family);

    for (const family of [C.AF_INET, C.AF_INET6]) {
      const isV6 = family === C.AF_INET6;
      try {
        for (const e of byFamily(previous, family)) {
          if (desired.has(routeKey(e))) continue;
          this.routeOp(C.RTM_DELROUTE, e, index);
          previous.delete(routeKey(e));
        }
        for (const e of byFamily(desired, family)) {
          if (previous.has(routeKey(e))) continue;
          if (isV6 && !this.ipv6) break;
          this.routeOp(C.RTM_NEWROUTE, e, index);
          previous.set(routeKey(e), e);
        }
      } catch (err) {
        if (!isV6) throw err;
        this.v6Failed(err instanceof NetlinkError ? err.errno : undefined, 'IPv6 routes', err);
      }
    }
  }

  private routeOp(type: number, e: RouteEntry, index: number): void {
    const del = type === C.RTM_DELROUTE;
    const flags = C.NLM_F_ACK | (del ? 0 : C.NLM_F_CREATE | C.NLM_F_EXCL);
    const body = rtmsg({
      family: e.family,
      dstLen: e.network.prefix,
      table: POSTERN_ROUTE_TABLE,
      protocol: C.RTPROT_STATIC,
      scope: del ? C.RT_SCOPE_NOWHERE : e.kind === 'tun' ? C.RT_SCOPE_LINK : C.RT_SCOPE_UNIVERSE,
      type: e.kind === 'tun' ? C.RTN_UNICAST : C.RTN_THROW,
    });
    const attrs = [u32Attr(C.RTA_TABLE, POSTERN_ROUTE_TABLE), attr(C.RTA_DST, ipBytes(e.network.address))];
    if (e.kind === 'tun') attrs.push(u32Attr(C.RTA_OIF, index));
    const what = `${del ? 'RTM_DELROUTE' : 'RTM_NEWROUTE'} ${e.kind} ${e.network.address}/${e.network.prefix}`;
    const errno = this.socket().request(this.seqMsg(type, flags, body, attrs), what).errno;
    if (errno === 0) return;
    if (del && GONE.has(errno)) {
      this.log?.debug({ errno: errnoName(errno) }, `${what}: already gone`);
      return;
    }
    if (!del && errno === C.EEXIST) {
      this.log?.debug(`${what}: already there`);
      return;
    }
    throw new NetlinkError(what, errno);
  }

  private ruleMsg(type: number, family: number, flags: number) {
    return this.seqMsg(type, flags, fibRuleHdr(family, POSTERN_ROUTE_TABLE, C.FR_ACT_TO_TBL, C.FIB_RULE_INVERT), [
      u32Attr(C.FRA_PRIORITY, POSTERN_RULE_PRIORITY),
      u32Attr(C.FRA_FWMARK, POSTERN_FWMARK),
      u32Attr(C.FRA_FWMASK, 0xffff_ffff),
      u32Attr(C.FRA_TABLE, POSTERN_ROUTE_TABLE),
    ]);
  }

  private ensureRule(family: number): void {
    const v6 = family === C.AF_INET6;
    if (v6 ? this.rules.v6 : this.rules.v4) return;
    const what = `RTM_NEWRULE ${v6 ? 'v6' : 'v4'} not fwmark 0x${POSTERN_FWMARK.toString(16)} lookup ${POSTERN_ROUTE_TABLE}`;
    let errno: number;
    try {
      errno = this.socket().request(this.ruleMsg(C.RTM_NEWRULE, family, C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_EXCL), what).errno;
    } catch (err) {
      if (!v6) throw err;
      this.v6Failed(undefined, what, err);
      return;
    }
    if (errno !== 0 && errno !== C.EEXIST) {
      if (!v6) throw new NetlinkError(what, errno);
      this.v6Failed(errno, what);
      return;
    }
    if (v6) this.rules.v6 = true;
    else this.rules.v4 = true;
  }

  private v6Failed(errno: number | undefined, what: string, cause?: unknown): void {
    this.ipv6 = false;
    if (errno !== undefined && IPV6_UNSUPPORTED.has(errno)) {
      this.log?.debug({ errno: errnoName(errno) }, `${what}: no IPv6 here, running IPv4-only`);
    } else {
      const err = errno !== undefined ? new NetlinkError(what, errno, { cause }) : cause;
      this.log?.warn({ err }, `${what} failed, running IPv4-only`);
    }
  }

  private check(errno: number, what: string): void {
    if (errno !== 0) throw new NetlinkError(what, errno);
  }

  private checkAdd(errno: number, what: string): void {
    if (errno !== 0 && errno !== C.EEXIST) throw new NetlinkError(what, errno);
  }

  /** Removes Postern's routes and policy rules and closes the netlink socket. */
  close(): Promise<void> {
    return Promise.resolve().then(() => {
      if (this.sock === undefined) return;
      const sock = this.sock;
      try {
        for (const family of [C.AF_INET, C.AF_INET6]) {
          // delete every rule of ours (repeat: duplicates from older runs)
          for (let i = 0; i < 8; i++) {
            const errno = sock.request(this.ruleMsg(C.RTM_DELRULE, family, C.NLM_F_ACK), 'RTM_DELRULE').errno;
            if (errno !== 0) break;
          }
        }
        const ours = sock
          .dump(this.seqMsg(C.RTM_GETROUTE, C.NLM_F_DUMP, rtmsg({ family: C.AF_UNSPEC, dstLen: 0, table: 0, protocol: 0, scope: 0, type: 0 })), 'RTM_GETROUTE dump')
          .filter((m) => m.type === C.RTM_NEWROUTE)
          .map(parseRoute)
          .filter((r) => r !== undefined && r.table === POSTERN_ROUTE_TABLE);
        for (const r of ours) {
          if (r === undefined) continue;
          const errno = sock.request(
            this.seqMsg(
              C.RTM_DELROUTE,
              C.NLM_F_ACK,
              rtmsg({ family: r.family, dstLen: r.dstLen, table: POSTERN_ROUTE_TABLE, protocol: 0, scope: C.RT_SCOPE_NOWHERE, type: r.type }),
              [u32Attr(C.RTA_TABLE, POSTERN_ROUTE_TABLE), attr(C.RTA_DST, ipBytes(r.dst))],
            ),
            'RTM_DELROUTE',
          ).errno;
          if (errno !== 0 && !GONE.has(errno)) this.log?.debug({ errno: errnoName(errno) }, `cannot delete ${r.dst}/${r.dstLen}`);
        }
      } finally {
        this.previous = undefined;
        this.rules.v4 = false;
        this.rules.v6 = false;
        sock.close();
        this.sock = undefined;
      }
    });
  }
}
