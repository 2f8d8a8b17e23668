// The portal's configuration file (YAML or JSON), validated with zod. Unknown keys are errors (typos).
import { isIP } from 'node:net';
import { z } from 'zod';

const name = z.string().min(1).max(255);
const uuid = z.uuid();
/** `sha256:<64 hex>` of the token string (see `postern-portal hash-token`). */
export const TokenHashSchema = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 lowercase hex> (postern-portal hash-token)');
/** `scrypt$N$r$p$<salt b64>$<hash b64>` (see `postern-portal hash-password`). */
export const PasswordHashSchema = z
  .string()
  .regex(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/, 'expected scrypt$N$r$p$salt$hash (postern-portal hash-password)');

const port = z.number().int().min(0).max(65535);
const FilterSchema = z.discriminatedUnion('protocol', [
  z.strictObject({ protocol: z.literal('tcp'), port_range_start: port.optional(), port_range_end: port.optional() }),
  z.strictObject({ protocol: z.literal('udp'), port_range_start: port.optional(), port_range_end: port.optional() }),
  z.strictObject({ protocol: z.literal('icmp') }),
]);

export function isCidr(value: string): boolean {
  const [addr, prefix, ...rest] = value.split('/');
  if (addr === undefined || prefix === undefined || rest.length > 0 || !/^\d{1,3}$/.test(prefix)) return false;
  const family = isIP(addr);
  const bits = Number(prefix);
  return (family === 4 && bits <= 32) || (family === 6 && bits <= 128);
}

/** A DNS name or pattern: labels of letters, digits, `-`, `_`, with `*`, `**` and `?` wildcards. */
const DNS_PATTERN = /^(\*\*|\*|\?|[a-z0-9_?*-]+)(\.(\*\*|\*|[a-z0-9_?*-]+))*\.?$/i;

const common = {
  name,
  id: uuid.optional(),
  sites: z.array(name).min(1, 'a resource needs at least one site'),
  address_description: z.string().optional(),
};

const ResourceConfigSchema = z.discriminatedUnion('type', [
  z.strictObject({
    ...common,
    type: z.literal('cidr'),
    address: z.string().refine(isCidr, 'expected an IPv4 or IPv6 CIDR like 198.18.27.0/24'),
    filters: z.array(FilterSchema).default([]),
  }),
  z.strictObject({
    ...common,
    type: z.literal('dns'),
    address: z.string().regex(DNS_PATTERN, 'expected a DNS name or pattern (*, **, ?)'),
    ip_stack: z.enum(['dual', 'ipv4_only', 'ipv6_only']).default('dual'),
    filters: z.array(FilterSchema).default([]),
  }),
  z.strictObject({ name: name.default('Internet'), id: uuid.optional(), type: z.literal('internet'), sites: common.sites }),
]);
export type ResourceConfig = z.output<typeof ResourceConfigSchema>;

/** `ipv4:port` or `[ipv6]:port` of an externally operated TURN server. */
export function parseHostPort(value: string): { family: 4 | 6; ip: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(value);
  if (!m) return undefined;
  const ip = m[1] ?? m[2] ?? '';
  const family = isIP(ip);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  if (m[1] !== undefined && family === 6) return { family: 6, ip, port };
  if (m[2] !== undefined && family === 4) return { family: 4, ip, port };
  return undefined;
}

/**
 * "Bring your own TURN": an externally operated TURN server (coturn) handed to clients and gateways in their relay
 * lists next to the token-registered postern-relays. `auth.type: rest` is coturn's TURN REST scheme
 * (`--use-auth-secret --static-auth-secret=<secret>`: per-device, expiring credentials); `auth.type: static` is
 * one long-term user for everyone (`--user <username>:<password>`). The server's realm must be `firezone`
 * (`--realm firezone`): Postern's TURN client, like Firezone's, sends that realm before the first challenge.
 */
const TurnServerSchema = z.strictObject({
  name,
  /** At most one IPv4 and one IPv6 address, same port (`198.18.29.2:3478`, `[fd00::2]:3478`). */
  addresses: z
    .array(z.string().refine((v) => parseHostPort(v) !== undefined, 'expected ipv4:port or [ipv6]:port'))
    .min(1, 'a TURN server needs an address')
    .refine((list) => {
      const families = list.map((a) => parseHostPort(a)?.family);
      return families.filter((f) => f === 4).length <= 1 && families.filter((f) => f === 6).length <= 1;
    }, 'at most one IPv4 and one IPv6 address per TURN server')
    .refine((list) => new Set(list.flatMap((a) => parseHostPort(a)?.port ?? [])).size <= 1, 'the addresses of one TURN server must use the same port'),
  auth: z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('rest'), secret: z.string().min(16, 'use a secret of at least 16 characters') }),
    z.strictObject({ type: z.literal('static'), username: z.string().min(1).max(256).regex(/^[^:]+$/, 'no ":" in a TURN username'), password: z.string().min(1).max(256) }),
  ]),
  id: uuid.optional(),
});
export type TurnServerConfig = z.output<typeof TurnServerSchema>;

const upstream = z.string().refine((v) => isIP(v) !== 0 || /^https:\/\/\S+$/.test(v), 'expected an IP address (Do53) or an https:// URL (DoH)');

export const PortalConfigSchema = z
  .strictObject({
    account: z.strictObject({
      name,
      slug: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _'),
      id: uuid.optional(),
    }),
    server: z
      .strictObject({
        /** `host:port` to listen on (overridden by --listen). */
        listen: z.string().default('127.0.0.1:8080'),
        /** How clients reach the portal (sign-in links, flow-log URL). Default: http://<listen>. */
        public_url: z.url().optional(),
      })
      .default({ listen: '127.0.0.1:8080' }),
    /** SQLite file for issued tokens and tunnel IPs; relative to the config file's folder. */
    state: z.strictObject({ sqlite: z.string().min(1).default('portal-state.sqlite') }).default({ sqlite: 'portal-state.sqlite' }),
    dns: z
      .strictObject({ upstreams: z.array(upstream).default([]), search_domain: z.string().regex(DNS_PATTERN).optional() })
      .default({ upstreams: [] }),
    tokens: z
      .strictObject({
        /** Lifetime of device tokens issued by the sign-in page. */
        client_token_ttl_hours: z.number().positive().default(24 * 30),
        /** Lifetime of TURN credentials handed to clients and gateways. */
        turn_credentials_ttl_hours: z.number().positive().default(24 * 7),
      })
      .default({ client_token_ttl_hours: 24 * 30, turn_credentials_ttl_hours: 24 * 7 }),
    sign_in: z
      .strictObject({
        /** Callback URL prefixes the sign-in page may redirect to (besides loopback http and postern://). */
        allowed_redirects: z.array(z.string().min(1)).default([]),
      })
      .default({ allowed_redirects: [] }),
    groups: z.array(z.strictObject({ name, id: uuid.optional() })).default([]),
    users: z
      .array(
        z.strictObject({
          email: z.email(),
          name: z.string().optional(),
          password_hash: PasswordHashSchema.optional(),
          groups: z.array(name).default([]),
          id: uuid.optional(),
        }),
      )
      .default([]),
    sites: z.array(z.strictObject({ name, id: uuid.optional() })).default([]),
    gateways: z.array(z.strictObject({ site: name, token_hash: TokenHashSchema, name: z.string().optional() })).default([]),
    /** Long-lived client tokens (headless clients), each acting as a user. */
    clients: z.array(z.strictObject({ user: z.email(), token_hash: TokenHashSchema, name: z.string().optional() })).default([]),
    relays: z.array(z.strictObject({ name, token_hash: TokenHashSchema })).default([]),
    /** Externally operated TURN servers (coturn), handed out next to the postern-relays. */
    turn_servers: z.array(TurnServerSchema).default([]),
    resources: z.array(ResourceConfigSchema).default([]),
    policies: z.array(z.strictObject({ group: name, resource: name, description: z.string().optional() })).default([]),
  })
  .superRefine((cfg, ctx) => {
    const unique = (list: readonly string[], path: (i: number) => (string | number)[], what: string): Set<string> => {
      const seen = new Set<string>();
      list.forEach((v, i) => {
        if (seen.has(v)) ctx.addIssue({ code: 'custom', path: path(i), message: `duplicate ${what} ${JSON.stringify(v)}` });
        seen.add(v);
      });
      return seen;
    };
    const groups = unique(cfg.groups.map((g) => g.name), (i) => ['groups', i, 'name'], 'group');
    const sites = unique(cfg.sites.map((s) => s.name), (i) => ['sites', i, 'name'], 'site');
    const resources = unique(cfg.resources.map((r) => r.name), (i) => ['resources', i, 'name'], 'resource');
    unique(cfg.turn_servers.map((t) => t.name), (i) => ['turn_servers', i, 'name'], 'TURN server');
    const users = unique(cfg.users.map((u) => u.email.toLowerCase()), (i) => ['users', i, 'email'], 'user');
    unique(
      [...cfg.gateways, ...cfg.clients, ...cfg.relays].map((t) => t.token_hash),
      (i) => (i < cfg.gateways.length ? ['gateways', i] : i < cfg.gateways.length + cfg.clients.length ? ['clients', i - cfg.gateways.length] : ['relays', i - cfg.gateways.length - cfg.clients.length]).concat(['token_hash']),
      'token hash',
    );
    cfg.users.forEach((u, i) => { u.groups.forEach((g, j) => {
        if (!groups.has(g)) ctx.addIssue({ code: 'custom', path: ['users', i, 'groups', j], message: `unknown group ${JSON.stringify(g)}` });
      }); },
    );
    cfg.gateways.forEach((g, i) => {
      if (!sites.has(g.site)) ctx.addIssue({ code: 'custom', path: ['gateways', i, 'site'], message: `unknown site ${JSON.stringify(g.site)}` });
    });
    cfg.clients.forEach((c, i) => {
      if (!users.has(c.user.toLowerCase())) ctx.addIssue({ code: 'custom', path: ['clients', i, 'user'], message: `unknown user ${JSON.stringify(c.user)}` });
    });
    cfg.resources.forEach((r, i) => { r.sites.forEach((s, j) => {
        if (!sites.has(s)) ctx.addIssue({ code: 'custom', path: ['resources', i, 'sites', j], message: `unknown site ${JSON.stringify(s)}` });
      }); },
    );
    cfg.policies.forEach((p, i) => {
      if (!groups.has(p.group)) ctx.addIssue({ code: 'custom', path: ['policies', i, 'group'], message: `unknown group ${JSON.stringify(p.group)}` });
      if (!resources.has(p.resource)) ctx.addIssue({ code: 'custom', path: ['policies', i, 'resource'], message: `unknown resource ${JSON.stringify(p.resource)}` });
    });
  });
export type PortalConfig = z.output<typeof PortalConfigSchema>;
