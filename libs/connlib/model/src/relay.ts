// Relays as handed to clients and gateways (`init.relays`, `relays_presence`).
import { z } from 'zod';
import { IdSchema, UnixSecondsSchema } from './ids';

/** One entry per address family with the same id = one dual-stack relay. `addr` is `ip:port` / `[ip6]:port`. */
export const TurnRelaySchema = z.object({
  type: z.literal('turn'),
  id: IdSchema,
  addr: z.string().min(1),
  /** `<expires_unix>:<salt>` */
  username: z.string(),
  password: z.string(),
  expires_at: UnixSecondsSchema,
});
export type TurnRelay = z.infer<typeof TurnRelaySchema>;

export const StunRelaySchema = z.object({ type: z.literal('stun'), id: IdSchema, addr: z.string().min(1) });
export type StunRelay = z.infer<typeof StunRelaySchema>;

export const RelaySchema = z.discriminatedUnion('type', [TurnRelaySchema, StunRelaySchema]);
export type Relay = z.infer<typeof RelaySchema>;

/** Relay list where unknown relay types and malformed entries are skipped. */
export const RelayListSchema = z
  .array(z.unknown())
  .transform((list) => list.flatMap((item) => {
    const parsed = RelaySchema.safeParse(item);
    return parsed.success ? [parsed.data] : [];
  }));

export const RelaysPresenceSchema = z.object({
  disconnected_ids: z.array(IdSchema),
  connected: RelayListSchema,
});
export type RelaysPresence = z.output<typeof RelaysPresenceSchema>;
