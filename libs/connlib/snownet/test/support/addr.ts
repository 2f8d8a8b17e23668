// `ip:port` / `[v6]:port` -> NetAddr, throwing on typos (tests only).
import { parseNetAddr, type NetAddr } from '../../src/index';

export function addr(text: string): NetAddr {
  const a = parseNetAddr(text);
  if (a === undefined) throw new Error(text);
  return a;
}
