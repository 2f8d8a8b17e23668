// Telemetry as a bundled app uses it: DSN from POSTERN_TELEMETRY_DSN, one error, clean stop.
import { Telemetry } from '../../../src/index';

const t = new Telemetry();
t.start({ component: 'relay', version: '2.0.0', gitSha: 'bundled', apiUrl: 'wss://portal.corp.example' });
t.captureError(new Error('bundled outer', { cause: new Error('bundled root') }));
await t.stop(5000);
