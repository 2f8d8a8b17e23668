// Relay topic: the relay joins with its stamp secret; the portal answers `init {}`.
import { z } from 'zod';
import { parseWith, type ParseResult, type TopicParser } from './parse';
import type { EventAndPayload } from './phoenix';

export const RELAY_TOPIC = 'relay';

/** `phx_join` payload of a relay: hex of 32 random bytes, used as a literal string in TURN passwords. */
export const RelayJoinSchema = z.object({ stamp_secret: z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex characters') });
export type RelayJoin = z.infer<typeof RelayJoinSchema>;

export const RelayIngressSchema = z.discriminatedUnion('event', [
  z.object({ event: z.literal('init'), payload: z.object({}).nullish().transform(() => ({})) }),
]);
export type RelayIngressMessage = z.output<typeof RelayIngressSchema>;
export type RelayIngressWire = z.input<typeof RelayIngressSchema>;

const RELAY_INGRESS: TopicParser = { events: new Set(['init']), aliases: {} };

/** Parses a portal -> relay frame. */
export function parseRelayIngress(frame: EventAndPayload): ParseResult<RelayIngressMessage> {
  return parseWith(RelayIngressSchema, RELAY_INGRESS, frame);
}
