// The shape every topic parser returns: a message, or why the frame was skipped or refused. Never throws.
import type { z } from 'zod';
import { formatIssues, type EventAndPayload } from './phoenix';

export type ParseResult<M> =
  /** `warnings` name entries inside the message that were skipped (unknown resource types, bad candidates). */
  | { kind: 'message'; msg: M; warnings: string[] }
  /** An event this model does not know: log it and skip it. */
  | { kind: 'unknown-event'; event: string }
  /** A known event whose content we deliberately ignore (e.g. a resource of an unknown type). */
  | { kind: 'skipped'; event: string; reason: string }
  /** A known event whose payload does not validate. */
  | { kind: 'invalid'; event: string; error: string };

export interface TopicParser {
  /** Every event name the union knows (canonical names). */
  readonly events: ReadonlySet<string>;
  /** Old wire names -> canonical names. */
  readonly aliases: Readonly<Record<string, string>>;
  /** Looks at the raw payload of a known event: a reason to skip it, and warnings to report. */
  readonly inspect?: (event: string, payload: unknown) => { skip?: string; warnings: string[] };
}

export function parseWith<S extends z.ZodType>(schema: S, topic: TopicParser, input: EventAndPayload): ParseResult<z.output<S>> {
  const event = topic.aliases[input.event] ?? input.event;
  if (!topic.events.has(event)) return { kind: 'unknown-event', event: input.event };
  const inspected = topic.inspect?.(event, input.payload) ?? { warnings: [] };
  if (inspected.skip !== undefined) return { kind: 'skipped', event, reason: inspected.skip };
  const parsed = schema.safeParse({ event, payload: input.payload });
  if (!parsed.success) return { kind: 'invalid', event, error: formatIssues(parsed.error) };
  return { kind: 'message', msg: parsed.data, warnings: inspected.warnings };
}

/** Counts entries of `payload[field]` that a skipping list would drop, as a warning. */
export function candidateWarnings(payload: unknown, keep: (v: unknown) => boolean): string[] {
  if (typeof payload !== 'object' || payload === null || !('candidates' in payload)) return [];
  const list = payload.candidates;
  if (!Array.isArray(list)) return [];
  const dropped = list.filter((c) => !keep(c)).length;
  return dropped > 0 ? [`skipped ${dropped} malformed ICE candidate(s)`] : [];
}

export function field(payload: unknown, name: string): unknown {
  if (typeof payload !== 'object' || payload === null) return undefined;
  const value: unknown = Reflect.get(payload, name);
  return value;
}
