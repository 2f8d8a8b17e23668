import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { crc32, zipStored } from '../../src/gui/zip';

const hasUnzip = spawnSync('unzip', ['-v']).status === 0;

/** A reader for what zipStored writes: end record -> central directory -> local headers. */
function readStored(zip: Buffer): { name: string; data: Buffer }[] {
  const end = zip.length - 22;
  expect(zip.readUInt32LE(end)).toBe(0x06054b50);
  const count = zip.readUInt16LE(end + 10);
  let p = zip.readUInt32LE(end + 16);
  const out = [];
  for (let i = 0; i < count; i++) {
    expect(zip.readUInt32LE(p)).toBe(0x02014b50);
    const size = zip.readUInt32LE(p + 24);
    const nameLen = zip.readUInt16LE(p + 28);
    const crc = zip.readUInt32LE(p + 16);
    const local = zip.readUInt32LE(p + 42);
    const name = zip.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    expect(zip.readUInt32LE(local)).toBe(0x04034b50);
    const dataAt = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(dataAt, dataAt + size);
    expect(crc32(data)).toBe(crc);
    out.push({ name, data });
    p += 46 + nameLen;
  }
  return out;
}

describe('stored zip writer', () => {
  it('writes entries that a reader of the format finds with matching CRCs', () => {
    const zip = zipStored([
      { name: 'a.log', data: Buffer.from('one') },
      { name: 'dir/b.log', data: Buffer.from('two two') },
    ]);
    expect(readStored(zip).map((e) => [e.name, e.data.toString()])).toEqual([
      ['a.log', 'one'],
      ['dir/b.log', 'two two'],
    ]);
  });

  it('computes the CRC-32 check value of "123456789"', () => {
    expect(crc32(Buffer.from('123456789')).toString(16)).toBe('cbf43926');
    expect(crc32(new Uint8Array())).toBe(0);
  });

  it.skipIf(!hasUnzip)('writes an archive that unzip tests and extracts byte for byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgui-zip-'));
    try {
      const big = new Uint8Array(70_000).map((_, i) => (i * 7) & 0xff);
      const zip = zipStored([
        { name: 'gui/gui.2026.log', data: Buffer.from('{"msg":"hello"}\n'), mtime: new Date(2026, 10, 25, 22, 30, 10) },
        { name: 'tunnel-service/tunnel-service.log', data: big },
        { name: 'empty.txt', data: new Uint8Array() },
      ]);
      const file = join(dir, 'logs.zip');
      writeFileSync(file, zip);
      const test = execFileSync('unzip', ['-t', file], { encoding: 'utf8' });
      expect(test).toContain('No errors detected');
      execFileSync('unzip', ['-q', file, '-d', join(dir, 'out')]);
      expect(readFileSync(join(dir, 'out/gui/gui.2026.log'), 'utf8')).toBe('{"msg":"hello"}\n');
      expect(Buffer.compare(readFileSync(join(dir, 'out/tunnel-service/tunnel-service.log')), Buffer.from(big))).toBe(0);
      expect(readFileSync(join(dir, 'out/empty.txt')).length).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
