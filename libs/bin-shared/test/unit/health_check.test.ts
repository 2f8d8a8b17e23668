import { describe, expect, it } from 'vitest';
import { startHealthCheck } from '../../src/index';

describe('health_check', () => {
  it('answers /healthz 200 and /readyz from the callback', async () => {
    let ready = false;
    const h = await startHealthCheck({ host: '127.0.0.1', port: 0, isReady: () => ready });
    try {
      const base = `http://127.0.0.1:${h.port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(503);
      ready = true;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect((await fetch(`${base}/other`)).status).toBe(404);
    } finally {
      await h.close();
    }
  });

  it('a throwing readiness callback means 503; a taken port is HEALTH_CHECK_BIND', async () => {
    const h = await startHealthCheck({ host: '127.0.0.1', port: 0, isReady: () => Promise.reject(new Error('x')) });
    try {
      expect((await fetch(`http://127.0.0.1:${h.port}/readyz`)).status).toBe(503);
      await expect(startHealthCheck({ host: '127.0.0.1', port: h.port, isReady: () => true })).rejects.toMatchObject({ code: 'HEALTH_CHECK_BIND' });
    } finally {
      await h.close();
    }
  });
});
