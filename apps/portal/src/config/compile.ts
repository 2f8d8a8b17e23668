// Turns a validated config into lookups the broker uses: ids resolved, policies indexed.
import type { ClientResourceWire, Filter, GatewayResourceWire } from '@postern/model';
import { uuidFromName } from '../core/secrets';
import type { PortalConfig, TurnServerConfig } from './schema';

export interface SiteInfo {
  readonly id: string;
  readonly name: string;
}

export interface ResourceInfo {
  readonly id: string;
  readonly name: string;
  readonly type: 'cidr' | 'dns' | 'internet';
  readonly address: string | undefined;
  readonly addressDescription: string | undefined;
  readonly ipStack: 'dual' | 'ipv4_only' | 'ipv6_only' | undefined;
  readonly filters: readonly Filter[];
  readonly sites: readonly SiteInfo[];
}

/** An externally operated TURN server (`turn_servers`), with its stable relay id. */
export interface TurnServerInfo {
  readonly id: string;
  readonly name: string;
  readonly addresses: readonly string[];
  readonly auth: TurnServerConfig['auth'];
}

export interface UserInfo {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly passwordHash: string | undefined;
  readonly groups: ReadonlySet<string>;
}

export interface CompiledConfig {
  readonly raw: PortalConfig;
  readonly account: { readonly id: string; readonly name: string; readonly slug: string };
  readonly dns: { readonly do53: readonly string[]; readonly doh: readonly string[]; readonly searchDomain: string | undefined };
  readonly sites: ReadonlyMap<string, SiteInfo>;
  readonly resources: ReadonlyMap<string, ResourceInfo>;
  /** By lower-case email. */
  readonly users: ReadonlyMap<string, UserInfo>;
  readonly gatewayTokens: ReadonlyMap<string, { readonly siteId: string; readonly name: string | undefined }>;
  readonly clientTokens: ReadonlyMap<string, { readonly email: string; readonly name: string | undefined }>;
  readonly relayTokens: ReadonlyMap<string, { readonly name: string }>;
  readonly turnServers: readonly TurnServerInfo[];
  /** resource id -> group names allowed */
  readonly policies: ReadonlyMap<string, ReadonlySet<string>>;
  readonly clientTokenTtlMs: number;
  readonly turnTtlSecs: number;
  readonly allowedRedirects: readonly string[];
}

export function compileConfig(cfg: PortalConfig): CompiledConfig {
  const accountId = cfg.account.id ?? uuidFromName(`account:${cfg.account.slug}`);
  const sites = new Map<string, SiteInfo>();
  const siteByName = new Map<string, SiteInfo>();
  for (const s of cfg.sites) {
    const info = { id: s.id ?? uuidFromName(`site:${cfg.account.slug}:${s.name}`), name: s.name };
    sites.set(info.id, info);
    siteByName.set(s.name, info);
  }
  const resolveSites = (names: readonly string[]): SiteInfo[] => names.flatMap((n) => siteByName.get(n) ?? []);
  const resources = new Map<string, ResourceInfo>();
  const resourceIdByName = new Map<string, string>();
  for (const r of cfg.resources) {
    const id = r.id ?? uuidFromName(`resource:${cfg.account.slug}:${r.name}`);
    resourceIdByName.set(r.name, id);
    const filters: Filter[] =
      r.type === 'internet'
        ? []
        : r.filters.map((f) =>
            f.protocol === 'icmp' ? { protocol: 'icmp' } : { protocol: f.protocol, port_range_start: f.port_range_start ?? 0, port_range_end: f.port_range_end ?? 65535 },
          );
    resources.set(id, {
      id,
      name: r.name,
      type: r.type,
      address: r.type === 'internet' ? undefined : r.address,
      addressDescription: r.type === 'internet' ? undefined : r.address_description,
      ipStack: r.type === 'dns' ? r.ip_stack : undefined,
      filters,
      sites: resolveSites(r.sites),
    });
  }
  const users = new Map<string, UserInfo>();
  for (const u of cfg.users) {
    const email = u.email.toLowerCase();
    users.set(email, {
      id: u.id ?? uuidFromName(`user:${cfg.account.slug}:${email}`),
      email,
      name: u.name ?? email,
      passwordHash: u.password_hash,
      groups: new Set(u.groups),
    });
  }
  const policies = new Map<string, Set<string>>();
  for (const p of cfg.policies) {
    const rid = resourceIdByName.get(p.resource);
    if (rid === undefined) continue;
    const set = policies.get(rid) ?? new Set<string>();
    set.add(p.group);
    policies.set(rid, set);
  }
  const upstreams = cfg.dns.upstreams;
  return {
    raw: cfg,
    account: { id: accountId, name: cfg.account.name, slug: cfg.account.slug },
    dns: {
      do53: upstreams.filter((u) => !u.startsWith('https://')),
      doh: upstreams.filter((u) => u.startsWith('https://')),
      searchDomain: cfg.dns.search_domain,
    },
    sites,
    resources,
    users,
    gatewayTokens: new Map(cfg.gateways.map((g) => [g.token_hash, { siteId: siteByName.get(g.site)?.id ?? '', name: g.name }])),
    clientTokens: new Map(cfg.clients.map((c) => [c.token_hash, { email: c.user.toLowerCase(), name: c.name }])),
    relayTokens: new Map(cfg.relays.map((r) => [r.token_hash, { name: r.name }])),
    turnServers: cfg.turn_servers.map((t) => ({ id: t.id ?? uuidFromName(`turn-server:${cfg.account.slug}:${t.name}`), name: t.name, addresses: t.addresses, auth: t.auth })),
    policies,
    clientTokenTtlMs: cfg.tokens.client_token_ttl_hours * 3_600_000,
    turnTtlSecs: Math.round(cfg.tokens.turn_credentials_ttl_hours * 3600),
    allowedRedirects: cfg.sign_in.allowed_redirects,
  };
}

/** Whether a user may use a resource: some policy names one of the user's groups. */
export function isAllowed(cfg: CompiledConfig, user: UserInfo, resourceId: string): boolean {
  const groups = cfg.policies.get(resourceId);
  if (!groups) return false;
  for (const g of user.groups) if (groups.has(g)) return true;
  return false;
}

export function visibleResources(cfg: CompiledConfig, user: UserInfo): ResourceInfo[] {
  return [...cfg.resources.values()].filter((r) => isAllowed(cfg, user, r.id));
}

/** The resource as a client sees it (`init.resources`, `resource_created_or_updated`). */
export function clientResource(r: ResourceInfo): ClientResourceWire {
  const sites = r.sites.map((s) => ({ id: s.id, name: s.name }));
  switch (r.type) {
    case 'cidr':
      return { type: 'cidr', id: r.id, address: r.address ?? '', name: r.name, address_description: r.addressDescription ?? null, sites, filters: [...r.filters] };
    case 'dns':
      return { type: 'dns', id: r.id, address: r.address ?? '', name: r.name, address_description: r.addressDescription ?? null, sites, ip_stack: r.ipStack ?? 'dual', filters: [...r.filters] };
    case 'internet':
      return { type: 'internet', id: r.id, name: r.name, sites };
  }
}

/** The resource as a gateway sees it (`create_authorization.resource`, `resource_updated`). */
export function gatewayResource(r: ResourceInfo): GatewayResourceWire {
  if (r.type === 'internet') return { type: 'internet', id: r.id };
  return { type: r.type, id: r.id, address: r.address ?? '', name: r.name, filters: [...r.filters] };
}
