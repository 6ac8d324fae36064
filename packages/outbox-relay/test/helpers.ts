import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createEvent, type OutboxEvent } from '@outboxkit/outbox-core';
import { MysqlOutboxStore, transaction as mysqlTransaction } from '@outboxkit/outbox-mysql';
import { PgOutboxStore, transaction as pgTransaction } from '@outboxkit/outbox-pg';
import { MYSQL_URL, NATS_SERVER_BIN, NATS_URL, PG_URL } from '@outboxkit/test-services';
import { createPool, type Pool as MysqlPool } from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';

/** The real built CLI. */
export const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

export function randomName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/** A relay child process started from the built binary. */
export interface RelayProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
  /** Parsed JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
  /** Resolves with the first log line whose `msg` is `msg`. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

const started = new Set<ChildProcess>();

/** Starts `node dist/bin.js ...args` with only PATH and the given env (no inherited OUTBOX_* settings). */
export function startRelay(args: readonly string[], env: Record<string, string>): RelayProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      started.delete(child);
      resolve({ code, signal });
    });
  });
  const logs = (): Array<Record<string, unknown>> =>
    out
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    logs,
    async waitForLog(msg, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = logs().find((line) => line.msg === msg);
        if (found) return found;
        if (child.exitCode !== null || Date.now() > deadline) {
          throw new Error(`no log line "${msg}" (exit ${child.exitCode}); stdout:\n${out}\nstderr:\n${err}`);
        }
        await sleep(25);
      }
    },
  };
}

/** Runs the CLI to completion. */
export async function runRelay(
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const relay = startRelay(args, env);
  const { code } = await relay.exited;
  return { code, stdout: relay.stdout(), stderr: relay.stderr() };
}

/** Kills (SIGKILL) every relay process this test file started and that is still running. */
export function killStartedRelays(): void {
  for (const child of started) {
    if (child.exitCode === null && child.pid !== undefined) child.kill('SIGKILL');
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** `count` events over `subjects` aggregate keys, round-robin, with a per-subject sequence number in the data. */
export function makeEvents(count: number, subjects: number, type = 'test.item.changed'): OutboxEvent[] {
  const seq = new Map<string, number>();
  return Array.from({ length: count }, (_, index) => {
    const subject = `item-${index % subjects}`;
    const n = (seq.get(subject) ?? 0) + 1;
    seq.set(subject, n);
    return createEvent({ type, source: 'relay-test', subject, data: { index, n } });
  });
}

/** A PostgreSQL schema of its own for one test file. */
export class PgFixture {
  readonly schema = randomName('relay');
  readonly pool = new pg.Pool({ connectionString: PG_URL, max: 4 });

  store(table: string): PgOutboxStore {
    return new PgOutboxStore({ pool: this.pool, schema: this.schema, table, listen: false });
  }

  /** Enqueues through the store inside one transaction (in chunks of 1000 rows). */
  async enqueue(table: string, events: readonly OutboxEvent[]): Promise<void> {
    const store = this.store(table);
    await pgTransaction(this.pool, async (client) => {
      for (let i = 0; i < events.length; i += 1000) await store.enqueue(client, events.slice(i, i + 1000));
    });
  }

  async tableExists(table: string): Promise<boolean> {
    const result = await this.pool.query('SELECT to_regclass($1) AS t', [`"${this.schema}"."${table}"`]);
    return result.rows[0]?.t !== null;
  }

  async dispose(): Promise<void> {
    await this.pool.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`);
    await this.pool.end();
  }
}

/**
 * The per-file setup of relay tests on PostgreSQL: a schema of the file's own, created before its
 * tests (then `before` runs); after them every relay they started is killed, `after` runs, and
 * the schema is dropped.
 */
export function pgFixturePerFile(hooks: { before?: () => Promise<void>; after?: () => Promise<void> } = {}): PgFixture {
  const fixture = new PgFixture();
  beforeAll(async () => {
    await fixture.pool.query(`CREATE SCHEMA "${fixture.schema}"`);
    await hooks.before?.();
  });
  afterAll(async () => {
    killStartedRelays();
    await hooks.after?.();
    await fixture.dispose();
  });
  return fixture;
}

/**
 * `pgFixturePerFile` plus a connection to the shared nats-server (handed to `connected`); the
 * streams pushed onto the returned list are deleted after the file's tests.
 */
export function pgFixtureWithNatsPerFile(connected: (nc: NatsConnection) => void): { fixture: PgFixture; streams: string[] } {
  const streams: string[] = [];
  let nc: NatsConnection | undefined;
  const fixture = pgFixturePerFile({
    before: async () => {
      nc = await natsConnect();
      connected(nc);
    },
    after: async () => {
      if (!nc) return;
      for (const stream of streams) await deleteStream(nc, stream);
      await nc.close();
    },
  });
  return { fixture, streams };
}

/** A MariaDB database of its own for one test file. */
export class MysqlFixture {
  readonly database = randomName('relay');
  readonly #admin: MysqlPool = createPool({ uri: MYSQL_URL, connectionLimit: 1 });
  #pool: MysqlPool | undefined;

  get url(): string {
    const url = new URL(MYSQL_URL);
    url.pathname = `/${this.database}`;
    return url.toString();
  }

  async init(): Promise<void> {
    await this.#admin.query(`CREATE DATABASE \`${this.database}\``);
    this.#pool = createPool({ uri: this.url, connectionLimit: 4 });
  }

  async enqueue(table: string, events: readonly OutboxEvent[]): Promise<void> {
    const pool = this.#pool as MysqlPool;
    const store = new MysqlOutboxStore({ pool, table });
    await mysqlTransaction(pool, async (connection) => {
      for (let i = 0; i < events.length; i += 1000) await store.enqueue(connection, events.slice(i, i + 1000));
    });
  }

  async dispose(): Promise<void> {
    await this.#pool?.end();
    await this.#admin.query(`DROP DATABASE IF EXISTS \`${this.database}\``);
    await this.#admin.end();
  }
}

/** What the stream holds, in stream order. */
export interface StoredMessage {
  readonly msgId: string;
  /** The event's aggregate key (`ce-subject`). */
  readonly subject: string;
  readonly data: { index: number; n: number };
}

export async function natsConnect(url = NATS_URL): Promise<NatsConnection> {
  return connect({ servers: url });
}

export async function streamCount(nc: NatsConnection, stream: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  try {
    return (await jsm.streams.info(stream)).state.messages;
  } catch {
    return 0;
  }
}

/** Reads every message of the stream in order with an ordered consumer. */
export async function readStream(nc: NatsConnection, stream: string): Promise<StoredMessage[]> {
  const total = await streamCount(nc, stream);
  const out: StoredMessage[] = [];
  if (total === 0) return out;
  const consumer = await jetstream(nc).consumers.get(stream);
  const messages = await consumer.consume({ max_messages: 1000 });
  for await (const m of messages) {
    out.push({ msgId: m.headers?.get('Nats-Msg-Id') ?? '', subject: m.headers?.get('ce-subject') ?? '', data: m.json() });
    if (out.length >= total) break;
  }
  await messages.close();
  return out;
}

export async function deleteStream(nc: NatsConnection, stream: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(stream).catch(() => undefined);
}

/** Asserts-by-return: the stream holds exactly the given events once each (ids compared as sets). */
export function idsOf(messages: readonly StoredMessage[]): string[] {
  return messages.map((m) => m.msgId).sort();
}

/** For each subject, the `n` values in stream order (1, 2, 3, ... when order is kept). */
export function perSubjectSequences(messages: readonly StoredMessage[]): Map<string, number[]> {
  const bySubject = new Map<string, number[]>();
  for (const m of messages) {
    const list = bySubject.get(m.subject) ?? [];
    list.push(m.data.n);
    bySubject.set(m.subject, list);
  }
  return bySubject;
}

/** A fresh table and stream on the fixture's schema, and the env a relay needs for them. */
export function pgRelaySetup(
  fixture: PgFixture,
  streams: string[],
  overrides: Record<string, string> = {},
): { table: string; stream: string; env: Record<string, string> } {
  const table = randomName('outbox');
  const stream = randomName('RELAY').toUpperCase();
  streams.push(stream);
  const env = {
    OUTBOX_DATABASE_URL: PG_URL,
    OUTBOX_SCHEMA: fixture.schema,
    OUTBOX_TABLE: table,
    OUTBOX_NATS_URL: NATS_URL,
    OUTBOX_STREAM: stream,
    OUTBOX_SUBJECT_PREFIX: stream.toLowerCase(),
    OUTBOX_METRICS_ADDR: 'off',
    ...overrides,
  };
  return { table, stream, env };
}

/** A nats-server of the test's own, with JetStream, on a free port and a temp store dir; stopped by pid. */
export class OwnNatsServer {
  readonly #storeDir = mkdtempSync(join(tmpdir(), 'outbox-relay-nats-'));
  #child: ChildProcess | undefined;
  port = 0;

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts it (on the same port as before when restarted) and waits until it accepts clients. */
  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    this.#child = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.#storeDir], { stdio: 'ignore' });
    await waitUntil('nats-server to accept connections', async () => {
      try {
        const nc = await natsConnect(this.url);
        await nc.close();
        return true;
      } catch {
        return false;
      }
    });
  }

  /** Sends a signal to the server process (SIGSTOP freezes it: connections stay open, nothing is answered). */
  signal(signal: NodeJS.Signals): void {
    this.#child?.kill(signal);
  }

  /** Kills it (SIGKILL) and waits for the exit. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.#storeDir, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
