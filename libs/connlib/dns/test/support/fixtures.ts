// Shapes of the Firezone fixture files this package's tests read (test/fixtures/*.json).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FixtureFile<C> {
  readonly source: string;
  readonly license: string;
  readonly constants?: Record<string, string | number>;
  readonly cases: readonly C[];
}

export interface PatternCase {
  readonly id: string;
  readonly kind: 'match' | 'resolution_order' | 'display' | 'rule';
  readonly pattern?: string;
  readonly name?: string;
  readonly matches?: boolean;
  readonly resources?: readonly { readonly id: string; readonly pattern: string }[];
  readonly query?: string;
  readonly expected_match_ids_in_order?: readonly string[];
  readonly expected_display?: string;
}

export interface FixtureResource {
  readonly id: number;
  readonly address: string;
  readonly ip_stack: 'dual' | 'ipv4_only' | 'ipv6_only';
}

export interface FixtureQuery {
  readonly name: string;
  readonly qtype: 'A' | 'AAAA';
}

export interface FixtureRecord {
  readonly domain: string;
  readonly resources: readonly (readonly [string, string])[];
  readonly ips: readonly string[];
}

export interface StubCase {
  readonly id: string;
  readonly kind: 'reverse_dns' | 'query' | 'records' | 'device_pool' | 'dns_config';
  readonly name?: string;
  readonly expected_ip?: string | null;
  readonly resources?: readonly FixtureResource[];
  readonly query?: FixtureQuery;
  readonly then?: { readonly re_add?: FixtureResource; readonly query?: FixtureQuery; readonly add_resource?: FixtureResource };
  readonly cached?: readonly FixtureRecord[];
  readonly input?: { readonly system?: string[]; readonly upstream_do53?: string[]; readonly upstream_doh?: string[] };
  readonly expected?: {
    readonly rcode?: string;
    readonly answers?: number;
    readonly records_changed_event?: readonly FixtureRecord[];
    readonly resolved_resources?: number;
    readonly records?: readonly FixtureRecord[];
    readonly sentinels?: number;
    readonly upstreams?: readonly string[];
  };
}

export interface DohCase {
  readonly id: string;
  readonly kind: string;
  readonly query?: FixtureQuery;
  readonly server?: string;
  readonly status?: number;
  readonly content_type?: string;
  readonly content_length?: number;
  readonly body_hex?: string;
  readonly expected: Record<string, unknown> & {
    readonly method?: string;
    readonly accept?: string;
    readonly path?: string;
    readonly query?: string;
    readonly ips?: readonly string[];
    readonly ttl_AAAA_secs?: number;
    readonly question?: string;
  };
}

export function loadFixture<C>(name: string): FixtureFile<C> {
  const parsed: FixtureFile<C> = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', name), 'utf8'));
  return parsed;
}

/** The case with `id`, or a thrown error naming it (fixtures are data we control). */
export function byId<C extends { readonly id: string }>(cases: readonly C[], id: string): C {
  const c = cases.find((x) => x.id === id);
  if (!c) throw new Error(`fixture case ${id} missing`);
  return c;
}

/** A required field of a fixture case. */
export function need<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new Error(`fixture field ${what} missing`);
  return value;
}
