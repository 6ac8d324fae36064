import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from '@outboxkit/outbox-core';
import { errorMessage } from '@outboxkit/outbox-core/driver';
import { listen } from '../http-server.js';
import { redactText } from '../redact.js';
import type { ConsoleApi } from './console-api.js';
import { type ConsoleActor, ConsoleRequestError, statusOf } from './console-request.js';
import { isLoopback } from './console-settings.js';

/** Options of {@link startConsoleServer}. */
export interface ConsoleServerOptions {
  readonly host: string;
  readonly port: number;
  /** Needed for every mutation, and for every read when `host` is not loopback. */
  readonly token?: string;
  readonly api: ConsoleApi;
  readonly logger: Logger;
  /** Every secret of the configuration: scrubbed from every answer. */
  readonly secrets: readonly string[];
}

/** A listening console. */
export interface ConsoleServer {
  /** `host:port` it listens on (the real port when 0 was asked for). */
  readonly address: string;
  close(): Promise<void>;
}

/** The page's files, shipped in `dist/console/` (copied there by the build). */
const staticFiles: Record<string, { file: string; type: string }> = {
  '/console/': { file: 'console.html', type: 'text/html; charset=utf-8' },
  '/console/console.js': { file: 'console.js', type: 'text/javascript; charset=utf-8' },
  '/console/console.css': { file: 'console.css', type: 'text/css; charset=utf-8' },
};

// The page's own files only; no inline script or style, no frames, no form posts, no other origin.
const contentSecurityPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const securityHeaders = {
  'content-security-policy': contentSecurityPolicy,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

/** Largest mutation body read (a list of at most 1000 ids). */
const MAX_BODY_BYTES = 256 * 1024;

/**
 * Serves the operator console: the page (`/console/`) and its JSON API (`/console/api/...`).
 *
 * Security model: reads need `Authorization: Bearer <token>` when `host` is not a loopback address;
 * every mutation (POST) needs it always, and is refused when no token is configured. Cookies are
 * never read, so a cross-site request cannot ride on a browser's credentials; a POST must also be
 * `application/json` and, when the browser says where it comes from (`Origin`,
 * `Sec-Fetch-Site`), same-origin. On loopback the `Host` header must name a loopback address (a
 * DNS-rebinding page cannot read it). Every answer passes through `redactText` with the
 * configuration's secrets, and names neither the database URL nor the NATS servers.
 */
export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const server = createServer((request, response) => {
    handle(options, request, response).catch((error: unknown) => {
      options.logger.warn({ err: error }, 'console request failed');
      if (!response.headersSent) sendJson(options, response, 500, { error: errorMessage(error) });
      else response.end();
    });
  });
  server.keepAliveTimeout = 5_000;
  return listen(server, options.host, options.port);
}

async function handle(options: ConsoleServerOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://console.invalid');
  const path = url.pathname;
  if (isLoopback(options.host) && !loopbackHost(request.headers.host)) {
    sendJson(options, response, 421, { error: 'the console answers only to a loopback Host (127.0.0.1, localhost, [::1])' });
    return;
  }
  if (path === '/' || path === '/console') {
    response.writeHead(302, { location: '/console/', ...securityHeaders }).end();
    return;
  }
  const file = staticFiles[path];
  if (file) {
    if (request.method !== 'GET' && request.method !== 'HEAD') return methodNotAllowed(response, 'GET, HEAD');
    const body = await readFile(new URL(`./console/${file.file}`, import.meta.url));
    response.writeHead(200, { 'content-type': file.type, etag: etagOf(body), ...securityHeaders }).end(body);
    return;
  }
  if (!path.startsWith('/console/api/')) {
    response
      .writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...securityHeaders })
      .end('not found: the console is at /console/\n');
    return;
  }
  const route = path.slice('/console/api/'.length);
  const authorized = tokenMatches(options.token, request.headers.authorization);
  if (request.method === 'GET' || request.method === 'HEAD') {
    if (!authorized && !isLoopback(options.host)) {
      sendJson(options, response, 401, { error: 'this console needs its token to read: enter it in the page', needsToken: true });
      return;
    }
    const api = options.api;
    let read: () => Promise<Record<string, unknown>>;
    if (route === 'overview') read = () => api.overview();
    else if (route === 'dead') read = () => api.deadEvents.list(url.searchParams);
    else if (route.startsWith('dead/')) read = () => api.deadEvents.get(decodeSegment(route.slice(5)));
    else if (route === 'dlq') read = () => api.deadLetters.list(url.searchParams);
    else if (/^dlq\/\d{1,15}$/.test(route)) read = () => api.deadLetters.get(Number(route.slice(4)));
    else {
      sendJson(options, response, 404, { error: `no API ${JSON.stringify(route).slice(0, 80)}` });
      return;
    }
    try {
      sendJson(options, response, 200, await read());
    } catch (error) {
      // A refused read (a bad filter, an id not found) answers its status; anything else is a 500.
      const status = statusOf(error);
      if (status === 500) throw error;
      sendJson(options, response, status, { error: errorMessage(error) });
    }
    return;
  }
  if (request.method !== 'POST') return methodNotAllowed(response, 'GET, HEAD, POST');
  const actor = actorOf(request);
  const refuse = (status: number, reason: string): void => {
    options.logger.warn({ console: true, route, who: actor, status, reason }, 'console: mutation refused');
    sendJson(options, response, status, { error: reason });
  };
  if (options.token === undefined)
    return refuse(403, 'this console is read-only: start it with OUTBOX_CONSOLE_TOKEN to retry, purge or replay');
  if (!authorized) return refuse(401, 'a retry, purge or replay needs the console token in the Authorization header');
  if (!(request.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
    return refuse(415, 'a mutation is a JSON request (content-type: application/json)');
  }
  if (!sameOrigin(request)) return refuse(403, 'cross-site request refused');
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readBody(request));
  } catch (error) {
    return refuse(400, error instanceof ConsoleRequestError ? error.message : 'the body is not JSON');
  }
  const api = options.api;
  const actions: Record<string, () => Promise<Record<string, unknown>>> = {
    'dead/retry': () => api.deadEvents.mutate('retry', parsed, actor),
    'dead/purge': () => api.deadEvents.mutate('purge', parsed, actor),
    'dlq/replay': () => api.deadLetters.mutate('replay', parsed, actor),
    'dlq/purge': () => api.deadLetters.mutate('purge', parsed, actor),
  };
  const action = actions[route];
  if (!action) return refuse(404, 'no such action');
  try {
    sendJson(options, response, 200, await action());
  } catch (error) {
    const status = statusOf(error);
    if (status === 500) options.logger.warn({ err: error, console: true, route, who: actor }, 'console: mutation failed');
    else if (status === 409 && (parsed as { confirm?: unknown }).confirm === -1) {
      // `confirm: -1` is the page asking how many an "all" would touch, before its dialog: not a refusal.
      options.logger.debug({ console: true, route, who: actor }, 'console: count asked before a confirmation');
    } else options.logger.warn({ console: true, route, who: actor, status, reason: errorMessage(error) }, 'console: mutation refused');
    sendJson(options, response, status, { error: errorMessage(error), ...(error instanceof ConsoleRequestError ? error.extra : {}) });
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ConsoleRequestError(400, 'bad id in the path');
  }
}

function tokenMatches(token: string | undefined, header: string | undefined): boolean {
  if (token === undefined || header === undefined) return false;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) return false;
  // Compared as digests: equal lengths, so the comparison time does not leak the token's length.
  const given = createHash('sha256')
    .update(match[1] as string)
    .digest();
  const expected = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, expected);
}

function loopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : (host.split(':')[0] ?? '');
  return isLoopback(name);
}

function sameOrigin(request: IncomingMessage): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

function actorOf(request: IncomingMessage): ConsoleActor {
  const raw = request.headers['x-outbox-operator'];
  const operator = typeof raw === 'string' ? raw.replace(/[^\p{L}\p{N} ._@-]/gu, '').slice(0, 64) : '';
  return { address: request.socket.remoteAddress ?? 'unknown', ...(operator ? { operator } : {}) };
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ConsoleRequestError(413, `the body is over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(options: ConsoleServerOptions, response: ServerResponse, status: number, body: unknown): void {
  // The whole answer is scrubbed: a driver error, a last_error or a payload may echo a connection string.
  const text = redactText(JSON.stringify(body), options.secrets);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...securityHeaders }).end(text);
}

function methodNotAllowed(response: ServerResponse, allow: string): void {
  response.writeHead(405, { allow, 'content-type': 'text/plain; charset=utf-8', ...securityHeaders }).end('method not allowed\n');
}

function etagOf(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`;
}
