// DNS resource address patterns (Firezone semantics): labels separated by '.', `*` matches within one label
// (so a lone `*` label is exactly one label), `?` exactly one character, a `**` label any number of labels
// (zero included), all case-insensitive. A pattern starting with `*.` also matches its bare parent domain
// (compared literally: `*.*.corp` does not match `x.corp` that way).
import { DnsError } from './errors';
import { normalizeName } from './names';

type Label = { readonly kind: 'any-depth' } | { readonly kind: 'glob'; readonly text: string };

export class DomainPattern {
  /** The pattern as given (lower-cased, trailing dot removed); what `toString` shows. */
  readonly source: string;
  private readonly labels: readonly Label[];
  private readonly literal: boolean;

  private constructor(source: string, labels: readonly Label[]) {
    this.source = source;
    this.labels = labels;
    this.literal = !/[*?]/.test(source);
  }

  /** Parses a pattern; throws DnsError('INVALID_PATTERN') for empty labels or `**` that is not a whole label. */
  static parse(pattern: string): DomainPattern {
    const source = normalizeName(pattern);
    if (source.length === 0 || source.length > 253) {
      throw new DnsError('INVALID_PATTERN', `invalid domain pattern (length ${source.length})`);
    }
    const labels: Label[] = [];
    for (const text of source.split('.')) {
      if (text.length === 0 || text.length > 63) {
        throw new DnsError('INVALID_PATTERN', `invalid domain pattern ${JSON.stringify(pattern)}: bad label`);
      }
      if (text === '**') {
        labels.push({ kind: 'any-depth' });
      } else if (text.includes('**')) {
        throw new DnsError('INVALID_PATTERN', `invalid domain pattern ${JSON.stringify(pattern)}: '**' must be a whole label`);
      } else {
        labels.push({ kind: 'glob', text });
      }
    }
    return new DomainPattern(source, labels);
  }

  /** Like `parse` but returns undefined instead of throwing. */
  static tryParse(pattern: string): DomainPattern | undefined {
    try {
      return DomainPattern.parse(pattern);
    } catch (e) {
      if (e instanceof DnsError) return undefined;
      throw e;
    }
  }

  /** True if the pattern has no wildcard at all (an exact name). */
  get isLiteral(): boolean {
    return this.literal;
  }

  matches(name: string): boolean {
    const candidate = normalizeName(name);
    if (candidate.length === 0) return false;
    if (this.literal) return candidate === this.source;
    const nameLabels = candidate.split('.');
    if (matchLabels(this.labels, 0, nameLabels, 0)) return true;
    // `*.example.com` also matches `example.com`: the rest of the pattern taken literally, as Firezone does.
    return this.source.startsWith('*.') && candidate === this.source.slice(2);
  }

  toString(): string {
    return this.source;
  }
}

function matchLabels(pattern: readonly Label[], pi: number, name: readonly string[], ni: number): boolean {
  for (;;) {
    const p = pattern[pi];
    if (p === undefined) return ni === name.length;
    if (p.kind === 'any-depth') {
      // Try every split point, fewest labels first.
      for (let k = ni; k <= name.length; k++) {
        if (matchLabels(pattern, pi + 1, name, k)) return true;
      }
      return false;
    }
    const n = name[ni];
    if (n === undefined || !matchGlob(p.text, n)) return false;
    pi++;
    ni++;
  }
}

/** Glob match of one label: `*` any run of characters, `?` one character, everything else literal. */
function matchGlob(glob: string, text: string): boolean {
  let g = 0;
  let t = 0;
  let starG = -1;
  let starT = 0;
  while (t < text.length) {
    const gc = glob[g];
    if (gc === '?' || (gc !== undefined && gc !== '*' && gc === text[t])) {
      g++;
      t++;
    } else if (gc === '*') {
      starG = g++;
      starT = t;
    } else if (starG >= 0) {
      g = starG + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (glob[g] === '*') g++;
  return g === glob.length;
}

/**
 * Firezone's specificity order of patterns (`pattern.rs` `Ord`): compared character by character from the
 * right; where they differ, a literal character sorts before `?`, which sorts before `*`; a pattern that
 * ends where the other has a wildcard sorts first; literals compare in reverse lexical order; a shorter
 * pattern sorts first. Negative when `a` is more specific than `b`.
 */
export function comparePatterns(a: DomainPattern, b: DomainPattern): number {
  const x = a.source;
  const y = b.source;
  let i = x.length - 1;
  let j = y.length - 1;
  for (;;) {
    const c = i >= 0 ? x[i] : undefined;
    const d = j >= 0 ? y[j] : undefined;
    if (c !== undefined && d !== undefined && c === d) {
      i--;
      j--;
      continue;
    }
    const cw = c === '*' || c === '?';
    const dw = d === '*' || d === '?';
    if (c === '*' && d === '?') return 1;
    if (c === '?' && d === '*') return -1;
    if (cw && (d === undefined || d === '.')) return 1;
    if (dw && (c === undefined || c === '.')) return -1;
    if (cw && d !== undefined) return 1;
    if (dw && c !== undefined) return -1;
    if (c !== undefined && d !== undefined) return c < d ? 1 : -1;
    if (c !== undefined) return 1;
    if (d !== undefined) return -1;
    return 0;
  }
}

/** A resource id with its pattern, for choosing among several matching resources. */
export interface PatternResource {
  readonly id: string;
  readonly pattern: DomainPattern;
}

/**
 * Every resource whose pattern matches `name`, the most specific first (ties: higher id first, as
 * Firezone picks the highest id among equal patterns for SRV/TXT).
 */
export function matchResources<R extends PatternResource>(resources: Iterable<R>, name: string): R[] {
  const out: R[] = [];
  for (const r of resources) if (r.pattern.matches(name)) out.push(r);
  return out.sort(
    (a, b) => comparePatterns(a.pattern, b.pattern) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
  );
}
