// Resources as the portal describes them to clients and gateways; sites; port/protocol filters.
import { z } from 'zod';
import { IdSchema } from './ids';

/** A site (Firezone's "gateway group"). Sites compare by id only. */
export const SiteSchema = z.object({ id: IdSchema, name: z.string() });
export type Site = z.infer<typeof SiteSchema>;

const port = z.number().int().min(0).max(65535);

function portRangeFilter<P extends 'tcp' | 'udp'>(protocol: P) {
  return z.object({
    protocol: z.literal(protocol),
    port_range_start: port.default(0),
    port_range_end: port.default(65535),
  });
}

/** `{protocol: tcp|udp, port_range_start = 0, port_range_end = 65535}` or `{protocol: icmp}`. */
export const FilterSchema = z.discriminatedUnion('protocol', [
  portRangeFilter('tcp'),
  portRangeFilter('udp'),
  z.object({ protocol: z.literal('icmp') }),
]);
export type Filter = z.infer<typeof FilterSchema>;
/** An empty list allows everything. */
export const FiltersSchema = z.array(FilterSchema);
export type Filters = z.infer<typeof FiltersSchema>;

export const IpStackSchema = z.enum(['dual', 'ipv4_only', 'ipv6_only']);
export type IpStack = z.infer<typeof IpStackSchema>;

/** Resource types this model understands; others are skipped, never fatal. */
export const CLIENT_RESOURCE_TYPES = ['cidr', 'dns', 'internet', 'static_device_pool', 'dynamic_device_pool'] as const;
export const GATEWAY_RESOURCE_TYPES = ['cidr', 'dns', 'internet'] as const;

const sitesFields = {
  sites: z.array(SiteSchema).optional(),
  /** Older wire name of `sites`. */
  gateway_groups: z.array(SiteSchema).optional(),
};

/** Accepts `sites` or its alias `gateway_groups`; the output always says `sites`. */
function resolveSites<T extends { sites?: Site[] | undefined; gateway_groups?: Site[] | undefined }>(
  value: T,
  ctx: z.RefinementCtx,
): Omit<T, 'sites' | 'gateway_groups'> & { sites: Site[] } {
  const { gateway_groups, sites, ...rest } = value;
  const resolved = sites ?? gateway_groups;
  if (resolved === undefined) {
    ctx.issues.push({ code: 'custom', message: 'sites (or gateway_groups) is required', input: value, path: ['sites'] });
    return z.NEVER;
  }
  return { ...rest, sites: resolved };
}

function withSites<T extends z.ZodRawShape>(shape: T) {
  return z.object({ ...shape, ...sitesFields });
}

const description = z.string().nullable().optional();

export const ClientCidrResourceSchema = withSites({
  type: z.literal('cidr'),
  id: IdSchema,
  address: z.string().min(1),
  name: z.string(),
  address_description: description,
  filters: FiltersSchema.default([]),
}).transform(resolveSites);

export const ClientDnsResourceSchema = withSites({
  type: z.literal('dns'),
  id: IdSchema,
  /** A name or a pattern with `*`, `**`, `?`. */
  address: z.string().min(1),
  name: z.string(),
  address_description: description,
  ip_stack: IpStackSchema.default('dual'),
  filters: FiltersSchema.default([]),
}).transform(resolveSites);

export const ClientInternetResourceSchema = withSites({
  type: z.literal('internet'),
  id: IdSchema,
  name: z.string().default('Internet Resource'),
}).transform(resolveSites);

export const DeviceSchema = z
  .object({ client_id: IdSchema.optional(), id: IdSchema.optional(), ipv4: z.string(), ipv6: z.string() })
  .transform(({ client_id, id, ipv4, ipv6 }, ctx) => {
    const resolved = client_id ?? id;
    if (resolved === undefined) {
      ctx.issues.push({ code: 'custom', message: 'client_id (or id) is required', input: { ipv4, ipv6 }, path: ['client_id'] });
      return z.NEVER;
    }
    return { id: resolved, ipv4, ipv6 };
  });

export const ClientStaticDevicePoolResourceSchema = z.object({
  type: z.literal('static_device_pool'),
  id: IdSchema,
  name: z.string(),
  devices: z.array(DeviceSchema),
  filters: FiltersSchema.default([]),
});

export const ClientDynamicDevicePoolResourceSchema = z.object({
  type: z.literal('dynamic_device_pool'),
  id: IdSchema,
  name: z.string(),
  /** A DNS pattern naming the devices. */
  address: z.string().min(1),
  filters: FiltersSchema.default([]),
});

export const ClientResourceSchema = z.discriminatedUnion('type', [
  ClientCidrResourceSchema,
  ClientDnsResourceSchema,
  ClientInternetResourceSchema,
  ClientStaticDevicePoolResourceSchema,
  ClientDynamicDevicePoolResourceSchema,
]);
export type ClientResource = z.output<typeof ClientResourceSchema>;
export type ClientResourceWire = z.input<typeof ClientResourceSchema>;
export type ClientCidrResource = z.output<typeof ClientCidrResourceSchema>;
export type ClientDnsResource = z.output<typeof ClientDnsResourceSchema>;
export type ClientInternetResource = z.output<typeof ClientInternetResourceSchema>;

export const GatewayCidrResourceSchema = z.object({
  type: z.literal('cidr'),
  id: IdSchema,
  address: z.string().min(1),
  name: z.string().optional(),
  filters: FiltersSchema,
});
export const GatewayDnsResourceSchema = z.object({
  type: z.literal('dns'),
  id: IdSchema,
  address: z.string().min(1),
  name: z.string().optional(),
  filters: FiltersSchema,
});
export const GatewayInternetResourceSchema = z.object({ type: z.literal('internet'), id: IdSchema });

/** Gateway side: cidr/dns need `filters` (no default there, unlike the client). */
export const GatewayResourceSchema = z.discriminatedUnion('type', [
  GatewayCidrResourceSchema,
  GatewayDnsResourceSchema,
  GatewayInternetResourceSchema,
]);
export type GatewayResource = z.output<typeof GatewayResourceSchema>;
export type GatewayResourceWire = z.input<typeof GatewayResourceSchema>;

export interface SkippedEntry {
  readonly index: number;
  /** `unknown type <t>` or the validation error. */
  readonly reason: string;
}

function typeOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || !('type' in value)) return undefined;
  return typeof value.type === 'string' ? value.type : undefined;
}

export function isKnownClientResourceType(value: unknown): boolean {
  const t = typeOf(value);
  return t !== undefined && (CLIENT_RESOURCE_TYPES as readonly string[]).includes(t);
}

export function isKnownGatewayResourceType(value: unknown): boolean {
  const t = typeOf(value);
  return t !== undefined && (GATEWAY_RESOURCE_TYPES as readonly string[]).includes(t);
}

/** Splits a raw resource list into the resources we understand and the entries we skip (with why). */
export function partitionClientResources(list: readonly unknown[]): { resources: ClientResource[]; skipped: SkippedEntry[] } {
  const resources: ClientResource[] = [];
  const skipped: SkippedEntry[] = [];
  list.forEach((item, index) => {
    if (!isKnownClientResourceType(item)) {
      skipped.push({ index, reason: `unknown type ${String(typeOf(item))}` });
      return;
    }
    const parsed = ClientResourceSchema.safeParse(item);
    if (parsed.success) resources.push(parsed.data);
    else skipped.push({ index, reason: parsed.error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ') });
  });
  return { resources, skipped };
}

export function partitionGatewayResources(list: readonly unknown[]): { resources: GatewayResource[]; skipped: SkippedEntry[] } {
  const resources: GatewayResource[] = [];
  const skipped: SkippedEntry[] = [];
  list.forEach((item, index) => {
    const parsed = GatewayResourceSchema.safeParse(item);
    if (parsed.success) resources.push(parsed.data);
    else skipped.push({ index, reason: isKnownGatewayResourceType(item) ? parsed.error.message : `unknown type ${String(typeOf(item))}` });
  });
  return { resources, skipped };
}

/** A resource list where unknown types and malformed entries are dropped (see `partitionClientResources`). */
export const ClientResourceListSchema = z.array(z.unknown()).transform((list) => partitionClientResources(list).resources);
export const GatewayResourceListSchema = z.array(z.unknown()).transform((list) => partitionGatewayResources(list).resources);
