// Gateway topic: portal -> gateway (ingress) and gateway -> portal (egress) messages.
import { z } from 'zod';
import { ClientIceCandidatesSchema, EmptyPayloadSchema } from './client';
import { CandidateListSchema, IceCredentialsSchema, IdSchema, KeySchema, UnixSecondsSchema, isIceCandidate } from './ids';
import { FlowLogsConfigSchema, GatewayConfigSchema, GatewayInterfaceSchema, SnownetCapabilitiesSchema } from './interface';
import { candidateWarnings, field, parseWith, type ParseResult, type TopicParser } from './parse';
import type { EventAndPayload } from './phoenix';
import { RelayListSchema, RelaysPresenceSchema, RelaySchema } from './relay';
import { GatewayResourceSchema, isKnownGatewayResourceType } from './resource';

export const GATEWAY_TOPIC = 'gateway';

export const InitGatewaySchema = z.object({
  interface: GatewayInterfaceSchema,
  config: GatewayConfigSchema,
  flow_logs: FlowLogsConfigSchema,
  relays: RelayListSchema.default([]),
  account_slug: z.string().optional(),
  authorizations: z.array(z.unknown()).default([]),
});
export type InitGateway = z.output<typeof InitGatewaySchema>;

export const AuthorizedClientSchema = z.object({
  id: IdSchema,
  public_key: KeySchema,
  preshared_key: KeySchema,
  ipv4: z.string(),
  ipv6: z.string(),
});

export const CreateAuthorizationSchema = z.object({
  /** Opaque reference the gateway echoes in `authorization_created` (not the frame's ref). */
  ref: z.string().min(1),
  resource: GatewayResourceSchema,
  client: AuthorizedClientSchema,
  client_ice_credentials: IceCredentialsSchema,
  gateway_ice_credentials: IceCredentialsSchema,
  /** Unix seconds; absent/null = no expiry. */
  expires_at: UnixSecondsSchema.nullable().optional(),
  use_iceless: z.boolean().default(false),
  flow_logs_ingest_token: z.string().min(1),
});
export type CreateAuthorization = z.output<typeof CreateAuthorizationSchema>;

function ev<E extends string, P extends z.ZodType>(event: E, payload: P) {
  return z.object({ event: z.literal(event), payload });
}

export const GatewayIngressSchema = z.discriminatedUnion('event', [
  ev('init', InitGatewaySchema),
  ev('create_authorization', CreateAuthorizationSchema),
  ev('ice_candidates', ClientIceCandidatesSchema),
  ev('invalidate_ice_candidates', ClientIceCandidatesSchema),
  ev('reject_access', z.object({ client_id: IdSchema, resource_id: IdSchema })),
  ev('relays_presence', RelaysPresenceSchema),
  ev('resource_updated', GatewayResourceSchema),
  ev(
    'access_authorization_expiry_updated',
    z.object({ client_id: IdSchema, resource_id: IdSchema, expires_at: UnixSecondsSchema.nullable().optional() }),
  ),
]);
export type GatewayIngressMessage = z.output<typeof GatewayIngressSchema>;
export type GatewayIngressWire = z.input<typeof GatewayIngressSchema>;
export type GatewayIngressEvent = GatewayIngressMessage['event'];

const GATEWAY_INGRESS: TopicParser = {
  events: new Set(GatewayIngressSchema.options.map((o) => o.shape.event.value)),
  aliases: {},
  inspect(event, payload) {
    switch (event) {
      case 'init': {
        const relays = field(payload, 'relays');
        const warnings: string[] = [];
        if (Array.isArray(relays)) {
          relays.forEach((r, i) => {
            if (!RelaySchema.safeParse(r).success) warnings.push(`skipped relay #${i}`);
          });
        }
        return { warnings };
      }
      case 'resource_updated':
        return isKnownGatewayResourceType(payload)
          ? { warnings: [] }
          : { skip: `unknown resource type ${JSON.stringify(field(payload, 'type'))}`, warnings: [] };
      case 'ice_candidates':
      case 'invalidate_ice_candidates':
        return { warnings: candidateWarnings(payload, isIceCandidate) };
      default:
        return { warnings: [] };
    }
  },
};

/** Parses a portal -> gateway frame. Unknown events and resource types are not errors. */
export function parseGatewayIngress(frame: EventAndPayload): ParseResult<GatewayIngressMessage> {
  return parseWith(GatewayIngressSchema, GATEWAY_INGRESS, frame);
}

export const BroadcastIceCandidatesSchema = z.object({ client_ids: z.array(IdSchema), candidates: CandidateListSchema });

export const GatewayEgressSchema = z.discriminatedUnion('event', [
  ev('authorization_created', z.object({ ref: z.string().min(1) })),
  ev('broadcast_ice_candidates', BroadcastIceCandidatesSchema),
  ev('broadcast_invalidated_ice_candidates', BroadcastIceCandidatesSchema),
  ev('no_relays', EmptyPayloadSchema),
  ev('set_snownet_capabilities', SnownetCapabilitiesSchema),
]);
export type GatewayEgressMessage = z.output<typeof GatewayEgressSchema>;
export type GatewayEgressWire = z.input<typeof GatewayEgressSchema>;
export type GatewayEgressEvent = GatewayEgressMessage['event'];

const GATEWAY_EGRESS: TopicParser = {
  events: new Set(GatewayEgressSchema.options.map((o) => o.shape.event.value)),
  aliases: {},
  inspect: (event, payload) => ({
    warnings: event.endsWith('ice_candidates') ? candidateWarnings(payload, isIceCandidate) : [],
  }),
};

/** Parses a gateway -> portal frame (what the portal receives on the gateway topic). */
export function parseGatewayEgress(frame: EventAndPayload): ParseResult<GatewayEgressMessage> {
  return parseWith(GatewayEgressSchema, GATEWAY_EGRESS, frame);
}
