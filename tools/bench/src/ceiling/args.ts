// Command line of the ceiling endpoint (main.ts; a bench instrument, not shipped).
import { CeilingError } from './sys';

export interface CeilingArgs {
  readonly tun: string;
  readonly local: string;
  readonly peer: string;
  readonly txKey: Uint8Array;
  readonly rxKey: Uint8Array;
  readonly txIndex: number;
  readonly rxIndex: number;
  readonly mtu: number;
  readonly statsMs: number;
  /** 1: one thread runs both directions; 2: a worker runs UDP -> TUN, the main thread TUN -> UDP. */
  readonly threads: 1 | 2;
}

function key(hex: string | undefined, name: string): Uint8Array {
  if (hex === undefined || !/^[0-9a-f]{64}$/i.test(hex)) throw new CeilingError('USAGE', `${name} must be 64 hex digits`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

function int(v: string | undefined, name: string, min: number, max: number, dflt?: number): number {
  if (v === undefined && dflt !== undefined) return dflt;
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < min || n > max) throw new CeilingError('USAGE', `${name} must be an integer in [${String(min)}, ${String(max)}]`);
  return n;
}

export function parseCeilingArgs(argv: readonly string[]): CeilingArgs {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i] ?? '';
    const v = argv[i + 1];
    if (!k.startsWith('--') || v === undefined) throw new CeilingError('USAGE', `expected --name value pairs, got ${k}`);
    m.set(k.slice(2), v);
  }
  const tun = m.get('tun') ?? '';
  if (tun.length === 0 || tun.length > 15) throw new CeilingError('USAGE', '--tun must name a device (at most 15 characters)');
  const local = m.get('local');
  const peer = m.get('peer');
  if (local === undefined || peer === undefined) throw new CeilingError('USAGE', '--local and --peer are required (a.b.c.d:port)');
  return {
    tun,
    local,
    peer,
    txKey: key(m.get('tx-key'), '--tx-key'),
    rxKey: key(m.get('rx-key'), '--rx-key'),
    txIndex: int(m.get('tx-index'), '--tx-index', 0, 0xffff_ffff),
    rxIndex: int(m.get('rx-index'), '--rx-index', 0, 0xffff_ffff),
    mtu: int(m.get('mtu'), '--mtu', 576, 9000, 1280),
    statsMs: int(m.get('stats-ms'), '--stats-ms', 0, 3_600_000, 0),
    threads: int(m.get('threads'), '--threads', 1, 2, 1) === 2 ? 2 : 1,
  };
}
