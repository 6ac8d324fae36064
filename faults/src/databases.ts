import type { OutboxEvent } from '@outboxkit/outbox-core';
import { MysqlOutboxStore, transaction as mysqlTransaction } from '@outboxkit/outbox-mysql';
import { PgOutboxStore, transaction as pgTransaction } from '@outboxkit/outbox-pg';
import { MYSQL_URL, PG_URL } from '@outboxkit/test-services';
import { createPool, type Pool as MysqlPool, type RowDataPacket } from 'mysql2/promise';
import pg from 'pg';
import { uniqueName, waitUntil } from './env.js';

export type DatabaseKind = 'pg' | 'mysql';

/** What a scenario counts at the end, all read from the consumer's tables. */
export interface Counts {
  /** Rows of `written`: one per event committed with the outbox row, in the same transaction. */
  readonly written: number;
  /** Rows of `applied` (event id primary key): events applied at least once. */
  readonly applied: number;
  /** Written events with no `applied` row. */
  readonly lost: number;
  /** Events with more than one `effects` row: applied twice or more. */
  readonly twice: number;
}

/** One handler run that committed, as the order scenarios' handler records it (`applications`). */
export interface Application {
  readonly subject: string;
  /** `event.sequence` as the handler received it; null when the event had none. */
  readonly sequence: number | null;
  /** The producer's own count of the subject's events (`data.n`): 1, 2, 3 ... in write order. */
  readonly n: number;
}

/**
 * One scenario's database namespace (a PostgreSQL schema or a MariaDB database) with the outbox,
 * the consumer's inbox, and the tables that prove the outcome:
 * - `written(event_id)`: inserted in the producer's transaction, with the outbox row;
 * - `applied(event_id primary key)`: the handler's idempotent-looking write;
 * - `effects(event_id)`: no unique key, one row per handler run that committed, so a double
 *   application is countable.
 * The relay logs in as a user of its own, so its connections can be told apart and killed.
 */
export interface FaultDatabase {
  readonly kind: DatabaseKind;
  readonly label: string;
  /** The schema or database name. */
  readonly namespace: string;
  setup(): Promise<void>;
  /** `OUTBOX_DATABASE_URL` (and `OUTBOX_SCHEMA`) for the relay CLI, as its own user. */
  relayEnv(): Record<string, string>;
  /** `FAULT_DB*` settings for the worker. */
  workerEnv(): Record<string, string>;
  /** Enqueues the events in one transaction; with `record`, also one `written` row each. */
  write(events: readonly OutboxEvent[], record?: boolean): Promise<void>;
  /**
   * Inserts the events' outbox rows by hand, in one transaction, around enqueue's checks (as an
   * older version or a hand-written INSERT would): control characters, reserved headers, any size.
   */
  writeUnchecked(events: readonly OutboxEvent[], record?: boolean): Promise<void>;
  counts(): Promise<Counts>;
  /** Outbox rows not yet published (leased ones included), dead ones not. */
  pending(): Promise<number>;
  /** Ids of `applied` rows with their `effects` count. */
  appliedTimes(ids: readonly string[]): Promise<Map<string, number>>;
  /**
   * Creates the order scenarios' tables: `applications` (one row per handler run that committed,
   * with an identity column `app_order`: the order the handler ran in), `latest` (the last
   * sequence the handler wrote per subject, as a projection would) and `failed_once` (the events
   * whose first attempt the handler failed on purpose, written outside the handler's transaction).
   */
  setupOrderTables(): Promise<void>;
  /** Every `applications` row, by subject, then in application order (`app_order`). */
  applications(): Promise<Application[]>;
  /** `latest`: subject to the last sequence the handler wrote. */
  latest(): Promise<Map<string, number | null>>;
  /** Rows of `failed_once`. */
  failedOnce(): Promise<number>;
  /** Terminates every connection of the relay's user; returns how many. */
  killRelayConnections(): Promise<number>;
  /** The tables in the namespace. */
  tables(): Promise<string[]>;
  /**
   * PostgreSQL only: holds an exclusive lock on the outbox's wake-up table, waits until one of the
   * relay's connections is blocked on it (the relay is then inside `waitForWork`, arming its
   * wake-up), terminates the relay's connections, and releases the lock. Returns whether the relay
   * was caught waiting.
   */
  killRelayConnectionsWhileWaiting?(timeoutMs: number): Promise<boolean>;
  dispose(): Promise<void>;
}

export function createFaultDatabase(kind: DatabaseKind): FaultDatabase {
  return kind === 'pg' ? new PgFaultDatabase() : new MysqlFaultDatabase();
}

const countsSql = (q: (name: string) => string): string => `SELECT
  (SELECT count(*) FROM ${q('written')}) AS written,
  (SELECT count(*) FROM ${q('applied')}) AS applied,
  (SELECT count(*) FROM ${q('written')} w WHERE NOT EXISTS (SELECT 1 FROM ${q('applied')} a WHERE a.event_id = w.event_id)) AS lost,
  (SELECT count(*) FROM (SELECT event_id FROM ${q('effects')} GROUP BY event_id HAVING count(*) > 1) t) AS twice`;

function toCounts(row: Record<string, unknown>): Counts {
  return { written: Number(row.written), applied: Number(row.applied), lost: Number(row.lost), twice: Number(row.twice) };
}

class PgFaultDatabase implements FaultDatabase {
  readonly kind = 'pg';
  readonly label = 'PostgreSQL';
  readonly namespace = uniqueName('faults');
  readonly #role = uniqueName('faults_relay');
  readonly #pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
  readonly #store = new PgOutboxStore({ pool: this.#pool, schema: this.namespace, table: 'outbox', listen: false });
  readonly #q = (name: string): string => `"${this.namespace}"."${name}"`;

  async setup(): Promise<void> {
    // Least privilege: the relay's role owns its schema and nothing else, so `outbox-relay
    // migrate` must not need CREATE on the database when the schema exists.
    await this.#pool.query(`CREATE ROLE "${this.#role}" LOGIN`);
    await this.#pool.query(`CREATE SCHEMA "${this.namespace}" AUTHORIZATION "${this.#role}"`);
    await this.#pool.query(`CREATE TABLE ${this.#q('written')} (event_id text PRIMARY KEY)`);
    await this.#pool.query(`CREATE TABLE ${this.#q('applied')} (event_id text PRIMARY KEY, subject text NOT NULL, n int NOT NULL)`);
    await this.#pool.query(`CREATE TABLE ${this.#q('effects')} (event_id text NOT NULL, at timestamptz NOT NULL DEFAULT now())`);
  }

  relayEnv(): Record<string, string> {
    const url = new URL(PG_URL);
    url.username = this.#role;
    url.password = '';
    return { OUTBOX_DATABASE_URL: url.toString(), OUTBOX_SCHEMA: this.namespace };
  }

  workerEnv(): Record<string, string> {
    return { FAULT_DB: 'pg', FAULT_DB_URL: PG_URL, FAULT_SCHEMA: this.namespace };
  }

  async write(events: readonly OutboxEvent[], record = true): Promise<void> {
    await pgTransaction(this.#pool, async (client) => {
      await this.#store.enqueue(client, events);
      if (record) {
        await client.query(`INSERT INTO ${this.#q('written')} (event_id) SELECT unnest($1::text[])`, [events.map((e) => e.id)]);
      }
    });
  }

  async writeUnchecked(events: readonly OutboxEvent[], record = true): Promise<void> {
    await pgTransaction(this.#pool, async (client) => {
      for (const e of events) {
        await client.query(
          `INSERT INTO ${this.#q('outbox')} (id, type, source, subject, time, payload, headers) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)`,
          [e.id, e.type, e.source, e.subject, e.time, JSON.stringify(e.data), JSON.stringify(e.headers)],
        );
        if (record) await client.query(`INSERT INTO ${this.#q('written')} (event_id) VALUES ($1)`, [e.id]);
      }
    });
  }

  async counts(): Promise<Counts> {
    return toCounts((await this.#pool.query(countsSql(this.#q))).rows[0]);
  }

  async pending(): Promise<number> {
    return (await this.#store.stats()).pending;
  }

  async appliedTimes(ids: readonly string[]): Promise<Map<string, number>> {
    const result = await this.#pool.query<{ event_id: string; times: string }>(
      `SELECT event_id, count(*) AS times FROM ${this.#q('effects')} WHERE event_id = ANY($1) GROUP BY event_id`,
      [ids],
    );
    return new Map(result.rows.map((row) => [row.event_id, Number(row.times)]));
  }

  async setupOrderTables(): Promise<void> {
    // A sequence hands out increasing values in the order the inserts run (no cache): the order in
    // which the handler ran, whichever process ran it.
    await this.#pool.query(
      `CREATE TABLE ${this.#q('applications')} (app_order bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, subject text NOT NULL, sequence bigint, n int NOT NULL, event_id text NOT NULL)`,
    );
    await this.#pool.query(`CREATE TABLE ${this.#q('latest')} (subject text PRIMARY KEY, sequence bigint)`);
    await this.#pool.query(`CREATE TABLE ${this.#q('failed_once')} (event_id text PRIMARY KEY)`);
  }

  async applications(): Promise<Application[]> {
    const result = await this.#pool.query<{ subject: string; sequence: string | null; n: number }>(
      `SELECT subject, sequence, n FROM ${this.#q('applications')} ORDER BY subject, app_order`,
    );
    return result.rows.map((row) => ({ subject: row.subject, sequence: row.sequence === null ? null : Number(row.sequence), n: row.n }));
  }

  async latest(): Promise<Map<string, number | null>> {
    const result = await this.#pool.query<{ subject: string; sequence: string | null }>(
      `SELECT subject, sequence FROM ${this.#q('latest')}`,
    );
    return new Map(result.rows.map((row) => [row.subject, row.sequence === null ? null : Number(row.sequence)]));
  }

  async failedOnce(): Promise<number> {
    return Number((await this.#pool.query(`SELECT count(*) AS c FROM ${this.#q('failed_once')}`)).rows[0].c);
  }

  async killRelayConnections(): Promise<number> {
    const result = await this.#pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [this.#role]);
    return result.rowCount ?? 0;
  }

  async killRelayConnectionsWhileWaiting(timeoutMs: number): Promise<boolean> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`LOCK TABLE ${this.#q('outbox_wakeup')} IN ACCESS EXCLUSIVE MODE`);
      const waitingOnLock = async () => {
        const waiting = await this.#pool.query(
          "SELECT 1 FROM pg_stat_activity WHERE usename = $1 AND state = 'active' AND wait_event_type = 'Lock'",
          [this.#role],
        );
        return (waiting.rowCount ?? 0) > 0;
      };
      const caught = await waitUntil('a relay connection waiting on the wake-up lock', waitingOnLock, timeoutMs, 20).then(
        () => true,
        () => false,
      );
      if (caught) await this.killRelayConnections();
      return caught;
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  }

  async tables(): Promise<string[]> {
    const result = await this.#pool.query<{ name: string }>(
      'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1',
      [this.namespace],
    );
    return result.rows.map((row) => row.name);
  }

  async dispose(): Promise<void> {
    await this.#pool.query(`DROP SCHEMA IF EXISTS "${this.namespace}" CASCADE`);
    await this.killRelayConnections();
    // DROP OWNED also revokes the role's privileges, which DROP ROLE requires.
    await this.#pool.query(`DROP OWNED BY "${this.#role}"`).catch(() => undefined);
    await this.#pool.query(`DROP ROLE IF EXISTS "${this.#role}"`);
    await this.#pool.end();
  }
}

class MysqlFaultDatabase implements FaultDatabase {
  readonly kind = 'mysql';
  readonly label = 'MariaDB';
  readonly namespace = uniqueName('faults');
  readonly #user = uniqueName('faults_relay');
  readonly #admin: MysqlPool = createPool({ uri: MYSQL_URL, connectionLimit: 2 });
  #pool: MysqlPool | undefined;
  #store: MysqlOutboxStore | undefined;
  readonly #q = (name: string): string => `\`${name}\``;

  #url(user?: string): string {
    const url = new URL(MYSQL_URL);
    url.pathname = `/${this.namespace}`;
    if (user) {
      url.username = user;
      url.password = '';
    }
    return url.toString();
  }

  async setup(): Promise<void> {
    await this.#admin.query(`CREATE DATABASE \`${this.namespace}\``);
    await this.#admin.query(`CREATE USER '${this.#user}'@'%'`);
    await this.#admin.query(`GRANT ALL PRIVILEGES ON \`${this.namespace}\`.* TO '${this.#user}'@'%'`);
    this.#pool = createPool({ uri: this.#url(), connectionLimit: 4 });
    this.#store = new MysqlOutboxStore({ pool: this.#pool, table: 'outbox' });
    await this.#pool.query('CREATE TABLE written (event_id varchar(64) PRIMARY KEY)');
    await this.#pool.query('CREATE TABLE applied (event_id varchar(64) PRIMARY KEY, subject varchar(255) NOT NULL, n int NOT NULL)');
    await this.#pool.query('CREATE TABLE effects (event_id varchar(64) NOT NULL, at timestamp(6) NOT NULL DEFAULT current_timestamp(6))');
  }

  relayEnv(): Record<string, string> {
    return { OUTBOX_DATABASE_URL: this.#url(this.#user) };
  }

  workerEnv(): Record<string, string> {
    return { FAULT_DB: 'mysql', FAULT_DB_URL: this.#url() };
  }

  async write(events: readonly OutboxEvent[], record = true): Promise<void> {
    const store = this.#store as MysqlOutboxStore;
    await mysqlTransaction(this.#pool as MysqlPool, async (connection) => {
      await store.enqueue(connection, events);
      if (record) await connection.query('INSERT INTO written (event_id) VALUES ?', [events.map((e) => [e.id])]);
    });
  }

  async writeUnchecked(events: readonly OutboxEvent[], record = true): Promise<void> {
    await mysqlTransaction(this.#pool as MysqlPool, async (connection) => {
      for (const e of events) {
        await connection.query(
          'INSERT INTO outbox (id, type, source, subject, `time`, payload, headers, available_at) VALUES (?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3))',
          [e.id, e.type, e.source, e.subject, e.time.slice(0, 23).replace('T', ' '), JSON.stringify(e.data), JSON.stringify(e.headers)],
        );
        if (record) await connection.query('INSERT INTO written (event_id) VALUES (?)', [e.id]);
      }
    });
  }

  async counts(): Promise<Counts> {
    const [rows] = await (this.#pool as MysqlPool).query<RowDataPacket[]>(countsSql(this.#q));
    return toCounts(rows[0] as Record<string, unknown>);
  }

  async pending(): Promise<number> {
    return (await (this.#store as MysqlOutboxStore).stats()).pending;
  }

  async appliedTimes(ids: readonly string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const [rows] = await (this.#pool as MysqlPool).query<RowDataPacket[]>(
      'SELECT event_id, count(*) AS times FROM effects WHERE event_id IN (?) GROUP BY event_id',
      [ids],
    );
    return new Map(rows.map((row) => [String(row.event_id), Number(row.times)]));
  }

  async setupOrderTables(): Promise<void> {
    const pool = this.#pool as MysqlPool;
    // AUTO_INCREMENT values are handed out in the order the inserts run: the order in which the
    // handler ran, whichever process ran it.
    await pool.query(
      'CREATE TABLE applications (app_order bigint AUTO_INCREMENT PRIMARY KEY, subject varchar(255) NOT NULL, sequence bigint NULL, n int NOT NULL, event_id varchar(64) NOT NULL)',
    );
    await pool.query('CREATE TABLE latest (subject varchar(255) PRIMARY KEY, sequence bigint NULL)');
    await pool.query('CREATE TABLE failed_once (event_id varchar(64) PRIMARY KEY)');
  }

  async applications(): Promise<Application[]> {
    const [rows] = await (this.#pool as MysqlPool).query<RowDataPacket[]>(
      'SELECT subject, sequence, n FROM applications ORDER BY subject, app_order',
    );
    return rows.map((row) => ({
      subject: String(row.subject),
      sequence: row.sequence === null ? null : Number(row.sequence),
      n: Number(row.n),
    }));
  }

  async latest(): Promise<Map<string, number | null>> {
    const [rows] = await (this.#pool as MysqlPool).query<RowDataPacket[]>('SELECT subject, sequence FROM latest');
    return new Map(rows.map((row) => [String(row.subject), row.sequence === null ? null : Number(row.sequence)]));
  }

  async failedOnce(): Promise<number> {
    const [rows] = await (this.#pool as MysqlPool).query<RowDataPacket[]>('SELECT count(*) AS c FROM failed_once');
    return Number(rows[0]?.c);
  }

  async killRelayConnections(): Promise<number> {
    const [rows] = await this.#admin.query<RowDataPacket[]>('SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?', [this.#user]);
    let killed = 0;
    for (const row of rows) {
      // The connection may have closed since the listing.
      await this.#admin.query(`KILL CONNECTION ${Number(row.ID)}`).then(
        () => killed++,
        () => undefined,
      );
    }
    return killed;
  }

  async tables(): Promise<string[]> {
    const [rows] = await this.#admin.query<RowDataPacket[]>(
      'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1',
      [this.namespace],
    );
    return rows.map((row) => String(row.name));
  }

  async dispose(): Promise<void> {
    await this.#pool?.end();
    await this.killRelayConnections();
    await this.#admin.query(`DROP DATABASE IF EXISTS \`${this.namespace}\``);
    await this.#admin.query(`DROP USER IF EXISTS '${this.#user}'@'%'`);
    await this.#admin.end();
  }
}
