// The portal becomes unreachable (its link is cut) for PORTAL_CUT_SECONDS (default 30 in CI; the issue's full
// 60 s run: PORTAL_CUT_SECONDS=60): existing tunnels keep carrying traffic the whole time, a policy change made
// during the cut is not lost, and it applies once the portal is back. Needs root.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApps, EXTRA_IP, FaultWorld, sleep, waitFor, destroyWorlds } from './world';

const isRoot = process.getuid?.() === 0;
const CUT_S = Number(process.env['PORTAL_CUT_SECONDS'] ?? 20);

describe.runIf(isRoot)(`portal unreachable for ${String(CUT_S)} s`, () => {
  let w: FaultWorld;

  beforeAll(async () => {
    buildApps(['portal', 'gateway', 'headless-client']);
    w = await FaultWorld.create({ files: { 'blob-1m': 1 << 20 } });
    await waitFor('first download', async () => (await w.download('blob-1m', { maxTimeS: 5 })).ok, 20_000, 300);
  }, 180_000);

  afterAll(async () => {
    await destroyWorlds();
  });

  it(`existing tunnels keep working through a ${String(CUT_S)} s portal cut; a change made meanwhile applies after`, async () => {
    const wan = w.get('wan');
    await wan.exec('ip', ['link', 'set', 'v-portal', 'down']);
    const cutAt = performance.now();
    const results: { at: number; ok: boolean; ms: number }[] = [];
    try {
      // the policy change happens while nobody can hear it
      w.setPolicies(['lab', 'extra']);
      while (performance.now() - cutAt < CUT_S * 1000) {
        const r = await w.download('blob-1m', { maxTimeS: 10 });
        results.push({ at: Math.round((performance.now() - cutAt) / 1000), ok: r.ok, ms: Math.round(r.ms) });
        await sleep(2_000);
      }
      expect((await w.curlText('portal', 'http://198.18.64.2:8080/healthz', 1)).ok).toBe(true); // the portal itself is alive
    } finally {
      await wan.exec('ip', ['link', 'set', 'v-portal', 'up']);
    }
    console.log(`downloads during the cut (s after the cut: ok, ms): ${results.map((r) => `${String(r.at)}:${String(r.ok)},${String(r.ms)}`).join(' ')}`);
    expect(results.length).toBeGreaterThanOrEqual(Math.floor(CUT_S / 6));
    expect(results.filter((r) => !r.ok)).toEqual([]);
    // the change resumes: the newly allowed resource becomes reachable once the portal is back
    const elapsed = await waitFor('the change made during the cut to apply', async () => (await w.curlText('cl', `http://${EXTRA_IP}/`, 2)).ok, 60_000, 500);
    console.log(`policy change applied ${String(Math.round(elapsed))} ms after the portal came back`);
    expect(w.procs.get('client')?.child.exitCode).toBeNull();
    expect(w.procs.get('gateway')?.child.exitCode).toBeNull();
  }, CUT_S * 1000 + 120_000);
});
