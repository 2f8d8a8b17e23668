// The fuzz helpers: run budgets from the environment, input counting, corpus replay.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { currentInputs, fuzzRuns, fuzzTimeLimitMs, hexInput, installFuzzCounter, loadCorpus, replayCorpus, textInput } from '../../src/index';

installFuzzCounter();
const dir = mkdtempSync(join(tmpdir(), 'pfuzz-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
mkdirSync(join(dir, 'corpus'));
writeFileSync(join(dir, 'corpus', 'bytes.json'), JSON.stringify([{ note: 'empty', input: '' }, { note: 'two bytes', input: 'ff00' }]));

describe('fuzz helpers', () => {
  it('take the run budget from FUZZ_RUNS or POSTERN_FUZZ_RUNS, else the default', () => {
    const saved = [process.env['FUZZ_RUNS'], process.env['POSTERN_FUZZ_RUNS']];
    delete process.env['FUZZ_RUNS'];
    delete process.env['POSTERN_FUZZ_RUNS'];
    expect(fuzzRuns(123)).toBe(123);
    process.env['POSTERN_FUZZ_RUNS'] = '77';
    expect(fuzzRuns(123)).toBe(77);
    process.env['FUZZ_RUNS'] = '100000';
    expect(fuzzRuns(123)).toBe(100000);
    process.env['FUZZ_RUNS'] = 'lots';
    expect(fuzzRuns(123)).toBe(123);
    delete process.env['FUZZ_RUNS'];
    delete process.env['POSTERN_FUZZ_RUNS'];
    if (saved[0] !== undefined) process.env['FUZZ_RUNS'] = saved[0];
    if (saved[1] !== undefined) process.env['POSTERN_FUZZ_RUNS'] = saved[1];
  });

  it('cap each property at 8 s in bounded runs, not in long ones, FUZZ_TIME_LIMIT_MS overriding', () => {
    const keys = ['FUZZ_RUNS', 'POSTERN_FUZZ_RUNS', 'FUZZ_TIME_LIMIT_MS'] as const;
    const saved = keys.map((k) => process.env[k]);
    for (const k of keys) Reflect.deleteProperty(process.env, k);
    expect(fuzzTimeLimitMs()).toBe(8000);
    process.env['FUZZ_RUNS'] = '100000';
    expect(fuzzTimeLimitMs()).toBeUndefined();
    process.env['FUZZ_TIME_LIMIT_MS'] = '2500';
    expect(fuzzTimeLimitMs()).toBe(2500);
    process.env['FUZZ_TIME_LIMIT_MS'] = '0';
    expect(fuzzTimeLimitMs()).toBeUndefined();
    keys.forEach((k, i) => {
      const v = saved[i];
      if (v === undefined) Reflect.deleteProperty(process.env, k);
      else process.env[k] = v;
    });
  });

  it('count every input fast-check runs, also with an explicit numRuns, and corpus replays', () => {
    expect(currentInputs()).toBe(0);
    fc.assert(fc.property(fc.nat(), () => true), { numRuns: 321 });
    expect(currentInputs()).toBe(321);
    const seen: number[] = [];
    expect(replayCorpus(dir, 'bytes', hexInput, (b) => { seen.push(b.length); })).toBe(2);
    expect(seen).toEqual([0, 2]);
    expect(currentInputs()).toBe(323);
  });

  it('name the corpus entry that fails, and refuse malformed corpus files', () => {
    expect(() => replayCorpus(dir, 'bytes', hexInput, (b) => { if (b.length > 1) throw new Error('boom'); })).toThrow(/corpus bytes: "two bytes" fails/);
    expect(loadCorpus(dir, 'absent', textInput)).toEqual([]);
    writeFileSync(join(dir, 'corpus', 'bad.json'), JSON.stringify([{ note: 'x', input: 'zz' }]));
    expect(() => loadCorpus(dir, 'bad', hexInput)).toThrow(/hex string/);
    writeFileSync(join(dir, 'corpus', 'notarray.json'), '{}');
    expect(() => loadCorpus(dir, 'notarray', textInput)).toThrow(/array/);
  });
});
