import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleHostProbe, formatHostProbe, parseHostProbe, runHostProbe } from '../../src/host-probe';
import { BenchError } from '../../src/proc';
import { probeMeta } from '../../src/system';

const good = { hostProbe: { sealNs: 1779.17, jsNs: 1859.7, sealRounds: [1795.36, 1773.73, 1779.17], jsRounds: [1947.94, 1859.7, 1833.84], sink: 0 } };

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof BenchError ? e.code : `not a BenchError: ${String(e)}`;
  }
  return undefined;
}

describe('host probe output', () => {
  it('parses the result line among other output, the last one winning', () => {
    const other = JSON.stringify({ hostProbe: { ...good.hostProbe, sealNs: 900 } });
    const p = parseHostProbe(`(node:1) some warning\n${other}\n${JSON.stringify(good)}\n`);
    expect(p.sealNs).toBe(1779.17);
    expect(p.jsNs).toBe(1859.7);
    expect(p.sealRounds).toEqual([1795.36, 1773.73, 1779.17]);
    expect(formatHostProbe(p)).toBe('seal 1,232 B 1779 ns, JS sum 1860 ns (rounds 1774-1795 / 1834-1948)');
  });

  it.each([
    ['no output', ''],
    ['no result line', 'host-probe: --rounds must be an integer in [1, 100]\n'],
    ['truncated JSON', '{"hostProbe":{"sealNs":17'],
    ['not an object', '{"hostProbe":5}'],
    ['null', '{"hostProbe":null}'],
    ['missing jsNs', JSON.stringify({ hostProbe: { ...good.hostProbe, jsNs: undefined } })],
    ['a string number', JSON.stringify({ hostProbe: { ...good.hostProbe, sealNs: '1779' } })],
    ['zero', JSON.stringify({ hostProbe: { ...good.hostProbe, sealNs: 0 } })],
    ['negative', JSON.stringify({ hostProbe: { ...good.hostProbe, jsNs: -3 } })],
    ['empty rounds', JSON.stringify({ hostProbe: { ...good.hostProbe, sealRounds: [] } })],
    ['a bad round', JSON.stringify({ hostProbe: { ...good.hostProbe, jsRounds: [1, null, 2] } })],
    ['rounds not a list', JSON.stringify({ hostProbe: { ...good.hostProbe, jsRounds: { 0: 1 } } })],
  ])('refuses %s with PROBE_OUTPUT', (_name, text) => {
    expect(codeOf(() => parseHostProbe(text))).toBe('PROBE_OUTPUT');
  });

  it('puts rounded medians into the results meta, and nothing for a probe that did not run', () => {
    const p = parseHostProbe(JSON.stringify(good));
    expect(probeMeta(p, undefined)).toEqual({ hostSealNsStart: 1779, hostJsNsStart: 1860 });
    expect(probeMeta(undefined, p)).toEqual({ hostSealNsEnd: 1779, hostJsNsEnd: 1860 });
    expect(probeMeta(undefined, undefined)).toEqual({});
  });
});

describe('host probe, bundled and run', () => {
  const root = join(import.meta.dirname, '..', '..', '..', '..');

  it('measures both workloads and refuses bad arguments with exit 2 and a message', async () => {
    const script = await bundleHostProbe(root);
    const p = runHostProbe(script, 2, 20);
    expect(p.sealRounds).toHaveLength(2);
    expect(p.jsRounds).toHaveLength(2);
    // a seal of 1,232 bytes is not free and does not take a millisecond: the numbers are measured, not made up
    expect(p.sealNs).toBeGreaterThan(50);
    expect(p.sealNs).toBeLessThan(1_000_000);
    expect(p.jsNs).toBeGreaterThan(50);
    for (const bad of [['--rounds', 'x'], ['--ms', '0'], ['--rounds', '101']]) {
      const r = spawnSync('node', [script, ...bad], { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^host-probe: --(rounds|ms) must be an integer/);
    }
  });
});
