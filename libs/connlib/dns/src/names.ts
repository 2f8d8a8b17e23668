// Domain-name helpers: normalisation (lower case, no trailing dot) and the reverse-DNS names of PTR queries.
import { formatIp, type ParsedIp } from './ip';

/** Lower-cases a name and strips one trailing dot: the key form used everywhere in this package. */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** True for names we can safely echo in a locally built answer: printable ASCII labels of 1..63 bytes. */
export function isSafeName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  for (const label of name.split('.')) {
    if (label.length === 0 || label.length > 63 || !/^[\x21-\x7e]+$/.test(label)) return false;
  }
  return true;
}

const ARPA = 'arpa';

/** The address a reverse-DNS name (`4.3.2.1.in-addr.arpa`, nibbles `.ip6.arpa`) stands for, if it is one. */
export function reverseDnsAddr(name: string): ParsedIp | undefined {
  const parts = normalizeName(name).split('.').reverse();
  if (parts[0] !== ARPA) return undefined;
  const kind = parts[1];
  const rest = parts.slice(2);
  if (kind === 'in-addr') {
    if (rest.length !== 4) return undefined;
    let v = 0n;
    for (const octet of rest) {
      if (!/^\d{1,3}$/.test(octet) || (octet.length > 1 && octet.startsWith('0'))) return undefined;
      const n = Number(octet);
      if (n > 255) return undefined;
      v = (v << 8n) | BigInt(n);
    }
    return { family: 4, value: v };
  }
  if (kind === 'ip6') {
    if (rest.length !== 32) return undefined;
    let v = 0n;
    for (const nibble of rest) {
      if (!/^[0-9a-f]$/.test(nibble)) return undefined;
      v = (v << 4n) | BigInt(parseInt(nibble, 16));
    }
    return { family: 6, value: v };
  }
  return undefined;
}

/** The reverse-DNS name of an address (for tests and for building PTR queries). */
export function reverseDnsName(ip: ParsedIp): string {
  if (ip.family === 4) return `${formatIp(ip).split('.').reverse().join('.')}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (let i = 0; i < 32; i++) nibbles.push(Number((ip.value >> BigInt(i * 4)) & 0xfn).toString(16));
  return `${nibbles.join('.')}.ip6.arpa`;
}
