// `outer: cause: root` — an error with its whole chain of causes in one line, so that two different failures
// never share a message. AggregateError members are listed in brackets: `all failed: [a: a's cause; b]`.

export function errWithSources(err: unknown): string {
  return describe(err, new Set());
}

function describe(err: unknown, seen: Set<unknown>): string {
  if (seen.has(err)) return '<cycle>';
  seen.add(err);
  let text = message(err);
  if (err instanceof AggregateError && Array.isArray(err.errors) && err.errors.length > 0) {
    const members: unknown[] = err.errors;
    text += `: [${members.map((e) => describe(e, seen)).join('; ')}]`;
  }
  if (err instanceof Error && err.cause !== undefined) text += `: ${describe(err.cause, seen)}`;
  return text;
}

function message(err: unknown): string {
  if (err instanceof Error) return err.message === '' ? err.name : err.message;
  if (typeof err === 'string') return err;
  if (typeof err === 'object' && err !== null && 'message' in err && typeof err.message === 'string') return err.message;
  try {
    return String(err);
  } catch {
    return '<unprintable>';
  }
}
