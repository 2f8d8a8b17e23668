// RFC 9457 problem details as the portal returns them on a refused websocket upgrade (HTTP 401 etc).
import { z } from 'zod';

export const PROBLEM_JSON = 'application/problem+json';

export const ProblemDetailsSchema = z.object({
  type: z.string().optional(),
  title: z.string().optional(),
  status: z.number().int().optional(),
  detail: z.string().optional(),
  /** `invalid_token` / `missing_token` -> sign-in required; unknown codes kept as strings. */
  code: z.string().optional(),
});
export type ProblemDetails = z.infer<typeof ProblemDetailsSchema>;

/** Problem details from a response, or undefined unless the media type is problem+json and the body parses. */
export function parseProblemDetails(contentType: string | null | undefined, body: string): ProblemDetails | undefined {
  if (contentType === null || contentType === undefined) return undefined;
  const media = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  if (media !== PROBLEM_JSON) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return undefined;
  }
  const parsed = ProblemDetailsSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

/** True when the problem means "the token is bad: sign in again" (never retried). */
export function requiresSignIn(problem: ProblemDetails | undefined): boolean {
  return problem?.code === 'invalid_token' || problem?.code === 'missing_token';
}
