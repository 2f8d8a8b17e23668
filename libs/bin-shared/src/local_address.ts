// The address this host uses to reach the portal: with the UDP socket's port, our host candidate (TunnelSession's
// localAddress). A connected UDP socket asks the kernel for the route's source address; nothing is sent.
// Platform glue shared by the gateway and both clients (postern-client needs it before @postern/tunnel loads).
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';

export async function outwardAddress(apiUrl: string): Promise<string> {
  const url = new URL(apiUrl);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port === '' ? (url.protocol === 'https:' || url.protocol === 'wss:' ? 443 : 80) : Number(url.port);
  const { address, family } = await lookup(host);
  const sock = createSocket(family === 6 ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.connect(port, address, () => {
        resolve();
      });
    });
    return sock.address().address;
  } finally {
    sock.close();
  }
}
