// Reads the config file (YAML or JSON: both go through the YAML 1.2 parser, which keeps line numbers)
// and validates it; every error names the file, line, column and field path.
import { readFileSync } from 'node:fs';
import { LineCounter, isNode, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { PortalConfigSchema, type PortalConfig } from './schema';

export class ConfigError extends Error {
  readonly code: 'CONFIG_READ' | 'CONFIG_SYNTAX' | 'CONFIG_INVALID';
  /** One line per problem: `file:line:col: path: message`. */
  readonly problems: readonly string[];
  constructor(code: ConfigError['code'], problems: readonly string[], options?: { cause?: unknown }) {
    super(`${code === 'CONFIG_INVALID' ? 'invalid configuration' : code === 'CONFIG_SYNTAX' ? 'configuration syntax error' : 'cannot read configuration'}: ${problems.join('; ')}`, options);
    this.name = 'ConfigError';
    this.code = code;
    this.problems = problems;
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(root)';
}

function locate(doc: Document, counter: LineCounter, path: readonly PropertyKey[]): string {
  // The deepest node that exists on the path (a missing key points at its parent).
  for (let n = path.length; n >= 0; n--) {
    const node: unknown = doc.getIn(path.slice(0, n).map((p) => (typeof p === 'symbol' ? String(p) : p)), true);
    if (isNode(node) && node.range) {
      const { line, col } = counter.linePos(node.range[0]);
      return `${line}:${col}`;
    }
  }
  return '1:1';
}

export function parseConfigText(text: string, file = 'config'): PortalConfig {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      'CONFIG_SYNTAX',
      doc.errors.map((e) => {
        const { line, col } = counter.linePos(e.pos[0]);
        return `${file}:${line}:${col}: ${e.message.split('\n')[0] ?? e.message}`;
      }),
    );
  }
  let raw: unknown;
  try {
    // Aliases are resolved here: an unknown anchor or an alias bomb is a syntax error, not a crash.
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError('CONFIG_SYNTAX', [`${file}: ${err instanceof Error ? err.message : String(err)}`], { cause: err });
  }
  const parsed = PortalConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new ConfigError('CONFIG_INVALID', issues(parsed.error, doc, counter, file));
  }
  return parsed.data;
}

function issues(error: z.ZodError, doc: Document, counter: LineCounter, file: string): string[] {
  return error.issues.map((issue) => `${file}:${locate(doc, counter, issue.path)}: ${formatPath(issue.path)}: ${issue.message}`);
}

export function loadConfigFile(path: string): PortalConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError('CONFIG_READ', [`${path}: ${cause instanceof Error ? cause.message : String(cause)}`], { cause });
  }
  return parseConfigText(text, path);
}
