// Bundled and run inside a namespace by mark.e2e.ts: one PhoenixChannel (optionally SO_MARKed) to argv[2];
// prints `joined` or the first hiccup's code as one JSON line, then exits.
import { pino } from 'pino';
import { PhoenixChannel } from '../../src/index';

const [url, markArg] = process.argv.slice(2);
if (url === undefined) throw new Error('usage: marked-client-main <url> [mark]');
const mark = markArg === undefined || markArg === 'none' ? undefined : Number(markArg);
const ch = new PhoenixChannel<unknown>({
  url: new URL(url),
  token: 'test-token',
  userAgent: 'test/1 headless-client/0.1.0 (x86_64; 6.1.0)',
  topic: 'client',
  joinPayload: null,
  decode: () => ({ ok: false, error: new Error('no events expected') }),
  logger: pino({ level: 'silent' }),
  connectTimeoutMs: 3000,
  ...(mark === undefined ? {} : { mark }),
});
ch.onEvent((e) => {
  if (e.type === 'joined' || e.type === 'hiccup' || e.type === 'fatal') {
    process.stdout.write(`${JSON.stringify({ event: e.type, code: e.type === 'joined' ? undefined : e.error.code, message: e.type === 'joined' ? undefined : e.error.message })}\n`);
    void ch.close().then(() => process.exit(0));
  }
});
ch.start();
