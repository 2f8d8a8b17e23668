// Where UDP packets are lost: kernel counters of a network namespace (UDP MIB, per-device drops) read before
// and after a probe, and the deltas that point at a place: a socket's receive/send buffer, a device's queue.
import { readdirSync, readFileSync } from 'node:fs';
import { nsRun, run } from './proc';

/** Counter name -> value; names are `Udp.<field>` (/proc/net/snmp) and `<dev>.<rx|tx>_<field>` (/proc/net/dev). */
export type Counters = Readonly<Record<string, number>>;

const DEV_FIELDS = ['rx_bytes', 'rx_packets', 'rx_errs', 'rx_drop', 'rx_fifo', 'rx_frame', 'rx_compressed', 'rx_multicast', 'tx_bytes', 'tx_packets', 'tx_errs', 'tx_drop', 'tx_fifo', 'tx_colls', 'tx_carrier', 'tx_compressed'];

/** The `Udp:` header/value line pair of /proc/net/snmp (UdpLite and the others are ignored). */
export function parseSnmp(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const head = (lines[i] ?? '').trim().split(/\s+/);
    const vals = (lines[i + 1] ?? '').trim().split(/\s+/);
    if (head[0] !== 'Udp:' || vals[0] !== 'Udp:' || Number.isFinite(Number(head[1]))) continue;
    for (let k = 1; k < head.length; k++) {
      const v = Number(vals[k]);
      if (Number.isFinite(v)) out[`Udp.${head[k] ?? ''}`] = v;
    }
    break;
  }
  return out;
}

/** /proc/net/dev: the 16 counters of every device (`lo` skipped); lines before its `Inter-|` header are ignored. */
export function parseNetDev(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  const lines = text.split('\n');
  for (const line of lines.slice(lines.findIndex((l) => l.startsWith('Inter-|')) + 1)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const dev = line.slice(0, colon).trim();
    if (dev === '' || dev === 'lo' || dev.includes('|')) continue;
    const vals = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (vals.length < DEV_FIELDS.length || vals.some((v) => !Number.isFinite(v))) continue;
    DEV_FIELDS.forEach((f, i) => (out[`${dev}.${f}`] = vals[i] ?? 0));
  }
  return out;
}

/** /proc/net/softnet_stat (not per namespace): the per-CPU backlog's `dropped` (column 2) and `time_squeeze` (3), summed. */
export function parseSoftnet(text: string): Record<string, number> {
  let dropped = 0;
  let squeezed = 0;
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 3) continue;
    dropped += Number.parseInt(cols[1] ?? '0', 16) || 0;
    squeezed += Number.parseInt(cols[2] ?? '0', 16) || 0;
  }
  return { 'softnet.dropped': dropped, 'softnet.time_squeeze': squeezed };
}

/** Counters whose growth is a loss (or a sign of one), as opposed to traffic counters. */
export function isLossCounter(name: string): boolean {
  return /^Udp\.(InErrors|RcvbufErrors|SndbufErrors|NoPorts|InCsumErrors|MemErrors)$|\.(rx|tx)_(drop|errs|fifo)$|^softnet\./.test(name);
}

export function delta(before: Counters, after: Counters): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

/** Loss counters that grew, per namespace: `gw: Udp.RcvbufErrors +1234, tun0.tx_drop +5`; '' when none did. */
export function formatLoss(deltas: Readonly<Record<string, Record<string, number>>>): string {
  const parts: string[] = [];
  for (const [ns, d] of Object.entries(deltas)) {
    const grown = Object.entries(d).filter(([k, v]) => isLossCounter(k) && v > 0);
    if (grown.length > 0) parts.push(`${ns}: ${grown.map(([k, v]) => `${k} +${String(v)}`).join(', ')}`);
  }
  return parts.join('; ');
}

/** UDP MIB and device counters of one namespace (`ip netns exec <ns> cat ...`). */
export function readCounters(ns: string): Counters {
  const text = nsRun(ns, ['cat', '/proc/net/snmp', '/proc/net/dev'], { allowFail: true });
  return { ...parseSnmp(text), ...parseNetDev(text) };
}

export function readSoftnet(): Counters {
  return parseSoftnet(run('cat', ['/proc/net/softnet_stat'], { allowFail: true }));
}

/** Snapshots the namespaces' counters (and the global softnet backlog) now; `end()` returns the deltas since. */
export function watchCounters(namespaces: readonly string[]): { end(): Record<string, Record<string, number>> } {
  const before = new Map(namespaces.map((ns) => [ns, readCounters(ns)]));
  const softBefore = readSoftnet();
  return {
    end() {
      const out: Record<string, Record<string, number>> = {};
      for (const ns of namespaces) out[ns] = delta(before.get(ns) ?? {}, readCounters(ns));
      out['host'] = delta(softBefore, readSoftnet());
      return out;
    },
  };
}

/** utime + stime (clock ticks) of one `/proc/<pid>/task/<tid>/stat` line. */
export function parseTaskTicks(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** CPU ticks per thread of a process (tid -> ticks); empty when it is gone. */
export function threadTicks(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${String(pid)}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      out.set(Number(tid), parseTaskTicks(readFileSync(`/proc/${String(pid)}/task/${tid}/stat`, 'utf8')));
    } catch {
      // the thread ended between readdir and read
    }
  }
  return out;
}

/**
 * Per-thread CPU over a window, as % of one core: `main 93%, 41%, 22%` (the main thread first, then the other
 * threads above 2 %, busiest first: Node names no worker thread, so they are told apart by load only).
 */
export function formatThreadCpu(pid: number, before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>, seconds: number, ticksPerSecond: number): string {
  const pct = (tid: number): number => (((after.get(tid) ?? 0) - (before.get(tid) ?? 0)) / ticksPerSecond / seconds) * 100;
  const others = [...after.keys()].filter((t) => t !== pid).map(pct).filter((p) => p >= 2).sort((a, b) => b - a);
  return [`main ${pct(pid).toFixed(0)}%`, ...others.map((p) => `${p.toFixed(0)}%`)].join(', ');
}

/**
 * `ss -H -uamn` output as `local rb/tb` per UDP socket (`198.19.0.4:51820 212992/212992`): the receive and send
 * buffers the kernel granted (a process asking beyond net.core.rmem_max without SO_RCVBUFFORCE gets the max).
 */
export function socketBuffers(ss: string): string {
  const out: string[] = [];
  const lines = ss.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const cols = (lines[i] ?? '').trim().split(/\s+/);
    if (cols.length < 4 || !/^(UNCONN|ESTAB)$/.test(cols[0] ?? '')) continue;
    // skmem is on the same line, or on the next (indented) one
    const mem = /skmem:\([^)]*\)/.exec(lines[i] ?? '')?.[0] ?? /skmem:\([^)]*\)/.exec(lines[i + 1] ?? '')?.[0] ?? '';
    const rb = /rb(\d+)/.exec(mem)?.[1];
    const tb = /tb(\d+)/.exec(mem)?.[1];
    if (rb !== undefined && tb !== undefined) out.push(`${cols[3] ?? '?'} ${rb}/${tb}`);
  }
  return out.join(', ');
}
