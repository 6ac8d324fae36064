import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

/** One readiness check: its name, and the reason it fails (`undefined` when it passes). */
export interface ReadinessCheck {
  readonly name: string;
  readonly failure: () => string | undefined;
}

/** Options of `startHttpServer`. */
export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  readonly checks: readonly ReadinessCheck[];
}

/** A listening health/metrics server. */
export interface RelayHttpServer {
  /** `host:port` it listens on (the real port when 0 was asked for). */
  readonly address: string;
  close(): Promise<void>;
}

/**
 * Serves `/healthz` (the process is alive: always 200), `/readyz` (200 when every check passes,
 * else 503 with the reasons, as text or as JSON when the client accepts it) and `/metrics`
 * (Prometheus text format).
 */
export async function startHttpServer(options: HttpServerOptions): Promise<RelayHttpServer> {
  const server = createServer((request, response) => {
    handle(options, request, response).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      response.end(`error: ${(error as Error).message}\n`);
    });
  });
  // A scrape that hangs must not keep the process from exiting on shutdown.
  server.keepAliveTimeout = 5_000;
  return listen(server, options.host, options.port);
}

async function handle(options: HttpServerOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
    return;
  }
  if (path === '/healthz' || path === '/livez') {
    response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('ok\n');
    return;
  }
  if (path === '/readyz') {
    const failures = options.checks
      .map((check) => ({ check: check.name, reason: check.failure() }))
      .filter((entry): entry is { check: string; reason: string } => entry.reason !== undefined);
    const status = failures.length === 0 ? 200 : 503;
    if ((request.headers.accept ?? '').includes('application/json')) {
      response.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify({ ready: status === 200, failures })}\n`);
    } else {
      const body = status === 200 ? 'ready\n' : failures.map((f) => `not ready: ${f.check}: ${f.reason}\n`).join('');
      response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
    }
    return;
  }
  if (path === '/metrics') {
    const body = await options.registry.metrics();
    response.writeHead(200, { 'content-type': options.registry.contentType }).end(body);
    return;
  }
  response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try /healthz, /readyz or /metrics\n');
}

/**
 * Starts `server` on `host:port` (port 0: any free one) and resolves once it listens, with the
 * address it got (`[::1]:9464` for IPv6) and a `close` that also ends kept-alive connections.
 * Shared by the metrics server and the console.
 */
export async function listen(server: Server, host: string, port: number): Promise<{ address: string; close(): Promise<void> }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address();
  const address =
    typeof bound === 'object' && bound ? `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}` : String(bound);
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return { address, close };
}
