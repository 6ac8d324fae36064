import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** An HTTP error with the status and the JSON body `{ error, message }` it is answered with. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Most bytes a request body may have: these services take tiny JSON documents. */
const MAX_BODY_BYTES = 16 * 1024;

/** Reads a JSON request body. @throws HttpError 400 on bad JSON, 413 on a body too large. */
export async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'body_too_large', `the body must be at most ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'invalid_json', 'the body must be a JSON document, e.g. {"price": 12.5}');
  }
}

/** Answers with `body` as JSON. */
export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

/** A route handler: gets the path's parameters, returns the JSON body of a 200 answer. */
export type RouteHandler = (request: IncomingMessage, params: readonly string[]) => Promise<unknown>;

/** A route: method, path pattern (`:name` segments are parameters) and handler. */
export interface Route {
  readonly method: string;
  readonly path: string;
  readonly handler: RouteHandler;
}

/**
 * A request listener for `routes`: a thrown `HttpError` becomes its status and JSON body; any
 * other error a 500 that does not leak internals (it is logged by `onError`).
 */
export function router(routes: readonly Route[], onError: (error: unknown) => void) {
  const compiled = routes.map((route) => ({ ...route, segments: route.path.split('/').filter(Boolean) }));
  return async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    try {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      let pathMatched = false;
      for (const route of compiled) {
        const params = match(route.segments, segments);
        if (!params) continue;
        pathMatched = true;
        if (route.method !== request.method) continue;
        sendJson(response, 200, await route.handler(request, params));
        return;
      }
      if (pathMatched) throw new HttpError(405, 'method_not_allowed', `${request.method} is not allowed on ${url.pathname}`);
      throw new HttpError(404, 'not_found', `no route for ${request.method} ${url.pathname}`);
    } catch (error) {
      if (error instanceof HttpError) {
        sendJson(response, error.status, { error: error.code, message: error.message });
        return;
      }
      onError(error);
      if (!response.headersSent) sendJson(response, 500, { error: 'internal', message: 'internal error; see the service log' });
    }
  };
}

function match(pattern: readonly string[], segments: readonly string[]): string[] | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const expected = pattern[i] as string;
    const actual = segments[i] as string;
    if (expected.startsWith(':')) params.push(actual);
    else if (expected !== actual) return undefined;
  }
  return params;
}

/** Listens on `host:port` (0: any free port) and resolves to the port it got. */
export async function listen(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : port;
}

/** Stops accepting connections and closes idle keep-alive ones; resolves when the server has closed. */
export async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
