// Client topic: portal -> client (ingress) and client -> portal (egress) messages.
import { z } from 'zod';
import { CandidateListSchema, IceCredentialsSchema, IdSchema, KeySchema, UnixSecondsSchema, isIceCandidate } from './ids';
import { ClientInterfaceSchema, FlowLogsConfigSchema, SnownetCapabilitiesSchema } from './interface';
import { candidateWarnings, field, parseWith, type ParseResult, type TopicParser } from './parse';
import type { EventAndPayload } from './phoenix';
import { RelayListSchema, RelaysPresenceSchema, RelaySchema } from './relay';
import {
  ClientResourceListSchema,
  ClientResourceSchema,
  FiltersSchema,
  isKnownClientResourceType,
  partitionClientResources,
} from './resource';

export const CLIENT_TOPIC = 'client';

export const InitClientSchema = z.object({
  interface: ClientInterfaceSchema,
  resources: ClientResourceListSchema.default([]),
  relays: RelayListSchema.default([]),
  authorizations: z.array(z.unknown()).default([]),
  /** Required by current Firezone clients (an `init` without it is rejected). */
  flow_logs: FlowLogsConfigSchema,
});
export type InitClient = z.output<typeof InitClientSchema>;

export const ConfigChangedSchema = z.object({ interface: ClientInterfaceSchema });

export const AuthorizationCreatedSchema = z
  .object({
    resource_id: IdSchema,
    gateway_id: IdSchema,
    site_id: IdSchema.optional(),
    /** Older wire name of `site_id`. */
    gateway_group_id: IdSchema.optional(),
    gateway_public_key: KeySchema,
    gateway_ipv4: z.string(),
    gateway_ipv6: z.string(),
    preshared_key: KeySchema,
    client_ice_credentials: IceCredentialsSchema,
    gateway_ice_credentials: IceCredentialsSchema,
    use_iceless: z.boolean().default(false),
    /** Required (HS256 JWT minted by the portal); carried verbatim. */
    flow_logs_ingest_token: z.string().min(1),
  })
  .transform(({ site_id, gateway_group_id, ...rest }, ctx) => {
    const resolved = site_id ?? gateway_group_id;
    if (resolved === undefined) {
      ctx.issues.push({ code: 'custom', message: 'site_id (or gateway_group_id) is required', input: rest, path: ['site_id'] });
      return z.NEVER;
    }
    return { ...rest, site_id: resolved };
  });
export type AuthorizationCreated = z.output<typeof AuthorizationCreatedSchema>;

export const FAIL_REASONS = [
  'not_found',
  'offline',
  'version_mismatch',
  'forbidden',
  'disabled',
  'ambiguous_address',
  'missing_address',
  'invalid_address',
  'unknown',
] as const;
export const FailReasonSchema = z.enum(FAIL_REASONS).catch('unknown');
export type FailReason = z.output<typeof FailReasonSchema>;

export const AuthorizationCreationFailedSchema = z.object({
  resource_id: IdSchema,
  reason: FailReasonSchema,
  violated_properties: z.array(z.unknown()).optional(),
});

export const GatewayIceCandidatesSchema = z.object({ gateway_id: IdSchema, candidates: CandidateListSchema });
export const ClientIceCandidatesSchema = z.object({ client_id: IdSchema, candidates: CandidateListSchema });

export const ClientDeviceAccessAuthorizedSchema = z.object({
  client_id: IdSchema,
  client_name: z.string(),
  client_public_key: KeySchema,
  client_ipv4: z.string(),
  client_ipv6: z.string(),
  preshared_key: KeySchema,
  local_ice_credentials: IceCredentialsSchema,
  remote_ice_credentials: IceCredentialsSchema,
  ice_role: z.enum(['controlling', 'controlled']),
  resource: z.object({ id: IdSchema, filters: FiltersSchema }).optional(),
  expires_at: UnixSecondsSchema.nullable().optional(),
  use_iceless: z.boolean().default(false),
  flow_logs_ingest_token: z.string().min(1),
});

function ev<E extends string, P extends z.ZodType>(event: E, payload: P) {
  return z.object({ event: z.literal(event), payload });
}

/** `{}` or no payload at all (a unit event). */
export const EmptyPayloadSchema = z.object({}).nullish().transform(() => ({}));

export const ClientIngressSchema = z.discriminatedUnion('event', [
  ev('init', InitClientSchema),
  ev('config_changed', ConfigChangedSchema),
  ev('resource_created_or_updated', ClientResourceSchema),
  ev('resource_deleted', IdSchema),
  ev('resource_filters_updated', z.object({ id: IdSchema, filters: FiltersSchema })),
  ev('relays_presence', RelaysPresenceSchema),
  ev('authorization_created', AuthorizationCreatedSchema),
  ev('authorization_creation_failed', AuthorizationCreationFailedSchema),
  ev('gateway_ice_candidates', GatewayIceCandidatesSchema),
  ev('invalidate_gateway_ice_candidates', GatewayIceCandidatesSchema),
  ev('reject_access', z.object({ client_id: IdSchema.optional(), resource_id: IdSchema })),
  ev('client_device_access_authorized', ClientDeviceAccessAuthorizedSchema),
  ev('client_ice_candidates', ClientIceCandidatesSchema),
  ev('invalidate_client_ice_candidates', ClientIceCandidatesSchema),
  ev('client_ice_candidate_error', z.object({ client_id: IdSchema, reason: z.string() })),
  ev('device_pool_domain_resolved', z.object({ resource_id: IdSchema, domain: z.string(), ipv4: z.string(), ipv6: z.string() })),
  ev('device_pool_domain_resolution_failed', z.object({ resource_id: IdSchema, domain: z.string(), reason: z.string() })),
]);
/** A parsed portal -> client message (aliases resolved, defaults filled, unknown entries dropped). */
export type ClientIngressMessage = z.output<typeof ClientIngressSchema>;
/** What the portal may put on the wire for a client (parse input type). */
export type ClientIngressWire = z.input<typeof ClientIngressSchema>;
export type ClientIngressEvent = ClientIngressMessage['event'];

const CLIENT_INGRESS: TopicParser = {
  events: new Set(ClientIngressSchema.options.map((o) => o.shape.event.value)),
  aliases: { ice_candidates: 'gateway_ice_candidates', invalidate_ice_candidates: 'invalidate_gateway_ice_candidates' },
  inspect(event, payload) {
    switch (event) {
      case 'init': {
        const warnings: string[] = [];
        const resources = field(payload, 'resources');
        if (Array.isArray(resources)) {
          for (const s of partitionClientResources(resources).skipped) warnings.push(`skipped resource #${s.index}: ${s.reason}`);
        }
        const relays = field(payload, 'relays');
        if (Array.isArray(relays)) {
          relays.forEach((r, i) => {
            if (!RelaySchema.safeParse(r).success) warnings.push(`skipped relay #${i}`);
          });
        }
        return { warnings };
      }
      case 'resource_created_or_updated':
        return isKnownClientResourceType(payload)
          ? { warnings: [] }
          : { skip: `unknown resource type ${JSON.stringify(field(payload, 'type'))}`, warnings: [] };
      case 'gateway_ice_candidates':
      case 'invalidate_gateway_ice_candidates':
      case 'client_ice_candidates':
      case 'invalidate_client_ice_candidates':
        return { warnings: candidateWarnings(payload, isIceCandidate) };
      default:
        return { warnings: [] };
    }
  },
};

/** Parses a portal -> client frame (`topic`/`ref` ignored). Unknown events and resource types are not errors. */
export function parseClientIngress(frame: EventAndPayload): ParseResult<ClientIngressMessage> {
  return parseWith(ClientIngressSchema, CLIENT_INGRESS, frame);
}

export const RequestAuthorizationSchema = z.object({
  resource_id: IdSchema,
  /** Gateways the client already has a connection to (preferred by the portal). */
  connected_gateway_ids: z.array(IdSchema).default([]),
  ipv4: z.string().optional(),
  ipv6: z.string().optional(),
});
export type RequestAuthorization = z.output<typeof RequestAuthorizationSchema>;

export const ClientEgressSchema = z.discriminatedUnion('event', [
  ev('request_authorization', RequestAuthorizationSchema),
  ev('new_gateway_ice_candidates', GatewayIceCandidatesSchema),
  ev('invalidate_gateway_ice_candidates', GatewayIceCandidatesSchema),
  ev('no_relays', EmptyPayloadSchema),
  ev('set_snownet_capabilities', SnownetCapabilitiesSchema),
  ev('resolve_device_pool_domain', z.object({ resource_id: IdSchema, domain: z.string() })),
]);
export type ClientEgressMessage = z.output<typeof ClientEgressSchema>;
export type ClientEgressWire = z.input<typeof ClientEgressSchema>;
export type ClientEgressEvent = ClientEgressMessage['event'];

const CLIENT_EGRESS: TopicParser = {
  events: new Set(ClientEgressSchema.options.map((o) => o.shape.event.value)),
  aliases: {},
  inspect: (event, payload) => ({
    warnings: event.endsWith('ice_candidates') ? candidateWarnings(payload, isIceCandidate) : [],
  }),
};

/** Parses a client -> portal frame (what the portal receives on the client topic). */
export function parseClientEgress(frame: EventAndPayload): ParseResult<ClientEgressMessage> {
  return parseWith(ClientEgressSchema, CLIENT_EGRESS, frame);
}
