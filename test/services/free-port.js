import { createServer } from 'node:net';

/**
 * A loopback TCP port that nothing listens on right now: the kernel picks it for a probe server,
 * which closes at once. Tests start their own servers (nats-server, proxies) there, or use it as an
 * address that refuses connections.
 * @returns {Promise<number>}
 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
