import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { freePort } from '@outboxkit/test-services';

/**
 * A TCP proxy the scenario owns, in front of a real database server: `cut()` resets every
 * connection through it and stops listening, so new connections are refused, as when the
 * database host goes away; `restore()` listens again on the same port.
 */
export class TcpProxy {
  readonly port: number;
  readonly #targetHost: string;
  readonly #targetPort: number;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  /** Connections accepted since the start. */
  accepted = 0;

  private constructor(port: number, targetHost: string, targetPort: number) {
    this.port = port;
    this.#targetHost = targetHost;
    this.#targetPort = targetPort;
  }

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(await freePort(), targetHost, targetPort);
    await proxy.restore();
    return proxy;
  }

  /** `url` with its host and port replaced by the proxy's. */
  proxied(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString();
  }

  /** Listens (again) on the proxy's port. */
  async restore(): Promise<void> {
    if (this.#server) return;
    const server = createServer((client) => {
      this.accepted++;
      const upstream = tcpConnect(this.#targetPort, this.#targetHost);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
  }

  /** Resets every connection and stops listening: connections in use fail, new ones are refused. */
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const socket of this.#sockets) socket.resetAndDestroy();
    this.#sockets.clear();
    await closed;
  }

  async dispose(): Promise<void> {
    await this.cut();
  }
}
