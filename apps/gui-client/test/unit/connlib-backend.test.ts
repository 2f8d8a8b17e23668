// The real session's start (ConnlibBackend): socket, TUN and DNS control open concurrently while the portal
// connects (EarlyPortal); a part that fails closes the parts that did open. Needs root (SO_MARK on the UDP socket).
import { readdirSync } from 'node:fs';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SessionStartError, type SessionSink } from '../../src/service/backend';
import { ConnlibBackend } from '../../src/service/connlib-backend';

const isRoot = process.getuid?.() === 0;
const threads = (): number => readdirSync('/proc/self/task').length;

const sink = (): SessionSink & { joined: number } => ({
  joined: 0,
  connected() {
    this.joined++;
  },
  resources: () => undefined,
  allGatewaysOffline: () => undefined,
  failed: () => undefined,
});

describe.skipIf(!isRoot)('ConnlibBackend start', () => {
  it('fails with START_FAILED when the TUN cannot open, and closes the UDP socket (and its worker) it opened meanwhile', async () => {
    const before = threads();
    // A name the kernel would refuse (16 bytes): openTun rejects, while bindUdp opens a socket with a worker thread.
    const backend = new ConnlibBackend({ tunName: 'pgui-too-long-nm', dnsControl: 'disabled', logger: pino({ level: 'silent' }), version: '0.0.0' });
    const s = sink();
    // The portal URL is a closed port on loopback: the channel retries until the failed start closes it.
    const err = await backend.start({ token: 't', apiUrl: 'ws://127.0.0.1:9', deviceId: 'pgui-test-device', internetResourceActive: false }, s).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SessionStartError);
    expect(err).toMatchObject({ code: 'START_FAILED', message: 'cannot open the TUN device pgui-too-long-nm' });
    expect(s.joined).toBe(0);
    // The socket's receive worker exits once closeOnFailure has closed it.
    const deadline = Date.now() + 5000;
    while (threads() > before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(threads()).toBeLessThanOrEqual(before);
  });
});
