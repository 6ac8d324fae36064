import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createConnection } from 'mysql2/promise';
import pg from 'pg';
import type { ExampleConfig } from '../config.js';

// A server that is down refuses at once; this only bounds one that does not answer. 3 s was once
// too short for PostgreSQL to accept a connection while the whole test suite ran in parallel.
const TIMEOUT_MS = 10_000;

/**
 * Checks that PostgreSQL, MariaDB/MySQL and NATS with JetStream answer. Resolves to `undefined`
 * when all do, or to one sentence naming the first one missing and the variable that points to it.
 */
export async function findMissingService(config: ExampleConfig): Promise<string | undefined> {
  const checks: [string, string, string, () => Promise<void>][] = [
    ['PostgreSQL', config.pgUrl, 'OUTBOX_PG_URL', () => checkPg(config.pgUrl)],
    ['MariaDB/MySQL', config.mysqlUrl, 'OUTBOX_MYSQL_URL', () => checkMysql(config.mysqlUrl)],
    ['NATS', config.natsUrl, 'OUTBOX_NATS_URL', () => checkNats(config.natsUrl)],
  ];
  const results = await Promise.all(
    checks.map(([, , , check]) =>
      check().then(
        () => undefined,
        (error: unknown) => error as Error,
      ),
    ),
  );
  for (const [index, error] of results.entries()) {
    if (!error) continue;
    const [service, url, variable] = checks[index] as [string, string, string, unknown];
    if (error instanceof NoJetStreamError) {
      return `NATS at ${redact(url)} answers but has no JetStream: run nats-server with -js, or set ${variable} to a server that has it.`;
    }
    return `${service} is not reachable at ${redact(url)} (${reason(error)}): start it, or set ${variable} to where it runs.`;
  }
  return undefined;
}

async function checkPg(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: TIMEOUT_MS });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function checkMysql(url: string): Promise<void> {
  const connection = await createConnection({ uri: url, connectTimeout: TIMEOUT_MS });
  try {
    await connection.query('SELECT 1');
  } finally {
    await connection.end().catch(() => undefined);
  }
}

async function checkNats(url: string): Promise<void> {
  const nats = await connect({ servers: url.split(','), timeout: TIMEOUT_MS, reconnect: false, name: 'catalog-price-change-preflight' });
  try {
    try {
      await (await jetstreamManager(nats)).getAccountInfo();
    } catch (error) {
      throw new NoJetStreamError((error as Error).message);
    }
  } finally {
    await nats.close();
  }
}

/** The server answers, but without JetStream: a different fix than starting it. */
class NoJetStreamError extends Error {}

function reason(error: Error): string {
  const code = (error as { code?: unknown }).code;
  const message = error.message || (error as AggregateError).errors?.map((inner: Error) => inner.message).join(', ') || error.name;
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

/** Never print a password. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
