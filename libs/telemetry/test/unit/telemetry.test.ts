import { describe, expect, it } from 'vitest';
import { OFFICIAL_DSNS, ReportLimiter, Telemetry, sentryRequested, environmentForApiUrl, telemetryDisabledByEnv, telemetryPlan } from '../../src/index';

describe('environment from the portal URL', () => {
  it('knows the official portals and calls everything else on-prem', () => {
    expect(environmentForApiUrl('wss://api.postern.dev')).toBe('production');
    expect(environmentForApiUrl('wss://api.postern.dev/')).toBe('production');
    expect(environmentForApiUrl('WSS://API.POSTERN.DEV:443/socket')).toBe('production');
    expect(environmentForApiUrl('wss://api.postern-staging.dev')).toBe('staging');
    expect(environmentForApiUrl('wss://api.postern.dev.evil.example')).toBe('on-prem');
    expect(environmentForApiUrl('ws://127.0.0.1:8081')).toBe('on-prem');
    expect(environmentForApiUrl('not a url')).toBe('on-prem');
  });
});

describe('telemetryPlan', () => {
  const base = { component: 'headless-client' as const, version: '1.0.0', gitSha: 'abc', env: {} };
  it('uses the built-in DSN only for official portals', () => {
    expect(telemetryPlan({ ...base, apiUrl: 'wss://api.postern.dev' })).toEqual({
      enabled: true,
      environment: 'production',
      release: 'headless-client@1.0.0',
      dsn: OFFICIAL_DSNS['headless-client'],
    });
    expect(telemetryPlan({ ...base, apiUrl: 'wss://portal.corp.example' })).toMatchObject({ enabled: false, environment: 'on-prem', reason: 'on-prem-without-dsn' });
  });

  it('sends on-prem when a DSN is given by flag or POSTERN_TELEMETRY_DSN', () => {
    expect(telemetryPlan({ ...base, apiUrl: 'wss://portal.corp.example', dsn: 'http://k@127.0.0.1/1' })).toMatchObject({ enabled: true, dsn: 'http://k@127.0.0.1/1' });
    expect(telemetryPlan({ ...base, apiUrl: 'wss://portal.corp.example', env: { POSTERN_TELEMETRY_DSN: 'http://k@h/2' } })).toMatchObject({ enabled: true, dsn: 'http://k@h/2' });
  });

  it('--no-telemetry and POSTERN_NO_TELEMETRY switch it off', () => {
    expect(telemetryPlan({ ...base, apiUrl: 'wss://api.postern.dev', noTelemetry: true }).reason).toBe('no-telemetry');
    expect(telemetryPlan({ ...base, apiUrl: 'wss://api.postern.dev', env: { POSTERN_NO_TELEMETRY: 'true' } }).reason).toBe('no-telemetry');
    expect(telemetryDisabledByEnv({ POSTERN_NO_TELEMETRY: '0' })).toBe(false);
    expect(telemetryDisabledByEnv({ POSTERN_NO_TELEMETRY: 'false' })).toBe(false);
    expect(telemetryDisabledByEnv({})).toBe(false);
  });

  it('a disabled Telemetry accepts every call and sends nothing', async () => {
    const t = new Telemetry();
    t.start({ ...base, apiUrl: 'wss://portal.corp.example' });
    t.captureError(new Error('x'));
    t.captureMessage('y');
    t.startSession();
    t.endSession();
    t.setAccount('acme');
    expect(await t.flush()).toBe(true);
    await t.stop();
    // @sentry/node is loaded only when reporting is on (start-up time).
    expect(sentryRequested()).toBe(false);
  });
});

describe('ReportLimiter', () => {
  it('lets the same key through at most once per window', () => {
    const l = new ReportLimiter(300_000, 3);
    expect(l.allow('a', 0)).toBe(true);
    expect(l.allow('a', 299_999)).toBe(false);
    expect(l.allow('b', 1)).toBe(true);
    expect(l.allow('a', 300_000)).toBe(true);
    for (const k of ['c', 'd', 'e']) l.allow(k, 300_001);
    expect(l.allow('b', 300_002)).toBe(true); // evicted when the map was full
  });
});
