import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { entryNodeFlags } from '../../src/proc';

describe('entryNodeFlags (the flags the installed binary starts node with)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pbn-entry-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const entry = (name: string, text: string): string => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  it('reads the flags of a `#!/usr/bin/env -S node <flags>` line', () => {
    expect(entryNodeFlags(entry('a.js', '#!/usr/bin/env -S node --max-semi-space-size=2 --no-memory-reducer\nrequire("x");\n'))).toEqual([
      '--max-semi-space-size=2',
      '--no-memory-reducer',
    ]);
  });

  it('none for a plain node line, another first line, an empty or missing file', () => {
    expect(entryNodeFlags(entry('b.js', '#!/usr/bin/env node\n--no-memory-reducer\n'))).toEqual([]);
    expect(entryNodeFlags(entry('c.js', '#!/usr/bin/env -S python3 --x\n'))).toEqual([]);
    expect(entryNodeFlags(entry('d.js', '#!/usr/bin/env -S node; rm -rf /\n'))).toEqual([]);
    expect(entryNodeFlags(entry('e.js', ''))).toEqual([]);
    expect(entryNodeFlags(join(dir, 'missing.js'))).toEqual([]);
  });
});
