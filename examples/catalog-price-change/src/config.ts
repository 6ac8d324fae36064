import { OutboxConfigError } from '@outboxkit/outbox-core';

/**
 * Everything the three processes read from the environment, with the defaults of the machines
 * this repository is developed on. The demo passes the same values to every child, so a test can
 * give it a schema, a database and a stream of its own.
 */
export interface ExampleConfig {
  /** Catalog's database (also the relay's: the outbox lives beside the products). */
  readonly pgUrl: string;
  /** PostgreSQL schema of Catalog's products and outbox. */
  readonly pgSchema: string;
  /** Basket's server; the database is `mysqlDatabase`. */
  readonly mysqlUrl: string;
  readonly mysqlDatabase: string;
  readonly natsUrl: string;
  /** The JetStream stream the relay publishes into and Basket reads from. */
  readonly stream: string;
  /** Events go to `<subjectPrefix>.p<k>.<event type>`; the stream stores `<subjectPrefix>.>`. */
  readonly subjectPrefix: string;
  /**
   * The stream's partitions: the relay puts each product's events in partition `k` (from the
   * product id), and Basket's instances divide the partitions between them through leases.
   */
  readonly partitions: number;
  /** Where Basket puts the messages it gives up on. */
  readonly deadLetterStream: string;
  readonly deadLetterPrefix: string;
  /** Basket's durable consumer name (and its name in the inbox). */
  readonly consumer: string;
  /** Address the HTTP services listen on. */
  readonly host: string;
  /** 0 lets the system pick a free port; the service prints the one it got. */
  readonly catalogPort: number;
  readonly basketPort: number;
}

/**
 * Reads the configuration; throws a one-line error naming a bad variable. The example reads its
 * own env (rather than the repository's private test-services module, which its tests use) because
 * it is the code a user copies into a service of theirs; the defaults are the same local servers
 * and an empty variable counts as unset there too.
 */
export function readConfig(env: NodeJS.ProcessEnv = process.env): ExampleConfig {
  return {
    pgUrl: env.OUTBOX_PG_URL || 'postgres://postgres@127.0.0.1:5432/test',
    pgSchema: identifier(env, 'DEMO_PG_SCHEMA', 'catalog_demo'),
    mysqlUrl: env.OUTBOX_MYSQL_URL || 'mysql://root@127.0.0.1:3306/test',
    mysqlDatabase: identifier(env, 'DEMO_MYSQL_DATABASE', 'basket_demo'),
    natsUrl: env.OUTBOX_NATS_URL || 'nats://127.0.0.1:4222',
    stream: identifier(env, 'DEMO_STREAM', 'CATALOG_DEMO'),
    subjectPrefix: identifier(env, 'DEMO_SUBJECT_PREFIX', 'catalogdemo'),
    partitions: integer(env, 'DEMO_PARTITIONS', 8, 1, 1_024, 'a partition count'),
    deadLetterStream: identifier(env, 'DEMO_DEAD_LETTER_STREAM', 'CATALOG_DEMO_DEAD'),
    deadLetterPrefix: identifier(env, 'DEMO_DEAD_LETTER_PREFIX', 'catalogdemodlq'),
    consumer: identifier(env, 'DEMO_CONSUMER', 'basket'),
    host: env.LISTEN_HOST || '127.0.0.1',
    catalogPort: port(env, 'CATALOG_PORT', 3001),
    basketPort: port(env, 'BASKET_PORT', 3002),
  };
}

/** The environment that hands `config` on to a child process. */
export function configEnv(config: ExampleConfig): Record<string, string> {
  return {
    OUTBOX_PG_URL: config.pgUrl,
    DEMO_PG_SCHEMA: config.pgSchema,
    OUTBOX_MYSQL_URL: config.mysqlUrl,
    DEMO_MYSQL_DATABASE: config.mysqlDatabase,
    OUTBOX_NATS_URL: config.natsUrl,
    DEMO_STREAM: config.stream,
    DEMO_SUBJECT_PREFIX: config.subjectPrefix,
    DEMO_PARTITIONS: String(config.partitions),
    DEMO_DEAD_LETTER_STREAM: config.deadLetterStream,
    DEMO_DEAD_LETTER_PREFIX: config.deadLetterPrefix,
    DEMO_CONSUMER: config.consumer,
    LISTEN_HOST: config.host,
    CATALOG_PORT: String(config.catalogPort),
    BASKET_PORT: String(config.basketPort),
  };
}

/** Schema, database, stream and subject names end up in SQL and subjects: plain identifiers only. */
function identifier(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const value = env[name] || fallback;
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(value)) {
    throw new OutboxConfigError(
      name,
      `${name} must be letters, digits and '_' (not starting with a digit, at most 63 characters); got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** An integer env var within `min`-`max` (`what` names the range in the error), or `fallback` when unset or empty. */
function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number, what: string): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be ${what} (${min}-${max}); got ${text}`);
  return value;
}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  return integer(env, name, fallback, 0, 65_535, 'a port number');
}
