/**
 * Every setting of the CLI as data: its flag, env var, default and meaning. This is the only place
 * a default is written: the parser fills it in, `--help` prints it, and the README's configuration
 * tables are generated from it (`npm run readme -w @outboxkit/outbox-relay`; settings.test.ts fails
 * when they differ).
 */
export interface SettingSpec {
  /** Long flag without the dashes. */
  readonly flag: string;
  /** Environment variable; absent for per-invocation switches such as `--json`. */
  readonly env?: string;
  /** How `parseArgs` reads the flag: a value, or a switch without one. */
  readonly type: 'string' | 'boolean';
  /** Filled in when neither the flag nor the env var is given; absent: the setting is required or simply unset. */
  readonly defaultValue?: string;
  /** For an integer: the smallest and largest value accepted. */
  readonly range?: readonly [min: number, max: number];
  /** One paragraph, Markdown inline code allowed (it is printed by `--help` as it is). */
  readonly description: string;
  /**
   * Where a secret hides in the value, to scrub it from every log line and error: the whole value,
   * the credentials of a URL, or those of each URL in a comma-separated list.
   */
  readonly secret?: 'value' | 'url' | 'url-list';
}

/** The values an integer setting accepts, as `--help` and the README say them: `1 to 10000`, `1024 or more`. */
export function rangeText(setting: SettingSpec): string | undefined {
  if (!setting.range) return undefined;
  const [min, max] = setting.range;
  return max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `${min} to ${max}`;
}

/** The database every command but `dlq` reads. */
export const databaseSettings = {
  url: {
    flag: 'database-url',
    env: 'OUTBOX_DATABASE_URL',
    type: 'string',
    description: 'The service database: postgres:// or postgresql:// (PostgreSQL) or mysql:// (MySQL 8, MariaDB 10.6+). Required.',
    secret: 'url',
  },
  schema: {
    flag: 'schema',
    env: 'OUTBOX_SCHEMA',
    type: 'string',
    defaultValue: 'public',
    description: 'PostgreSQL schema of the outbox table (MySQL: the database comes from the URL).',
  },
  table: { flag: 'table', env: 'OUTBOX_TABLE', type: 'string', defaultValue: 'outbox', description: 'Outbox table name.' },
  tlsMode: {
    flag: 'db-tls-mode',
    env: 'OUTBOX_DB_TLS_MODE',
    type: 'string',
    description:
      'Database TLS: disable, require (encrypt, no certificate check), verify-ca (the chain must lead to the CA; any host name) or verify-full (chain and host name). Unset: as the URL says (plaintext unless it asks for TLS).',
  },
  tlsCa: {
    flag: 'db-tls-ca',
    env: 'OUTBOX_DB_TLS_CA',
    type: 'string',
    description: 'Path of the CA certificate (PEM) for verify-ca / verify-full. Unset: the system CAs.',
  },
  tlsCert: {
    flag: 'db-tls-cert',
    env: 'OUTBOX_DB_TLS_CERT',
    type: 'string',
    description: 'Path of a client certificate (PEM), with --db-tls-key, for servers that authenticate clients by certificate.',
  },
  tlsKey: {
    flag: 'db-tls-key',
    env: 'OUTBOX_DB_TLS_KEY',
    type: 'string',
    description: 'Path of the client key (PEM, unencrypted), with --db-tls-cert.',
  },
} as const satisfies Record<string, SettingSpec>;

/** Every command reads it. */
export const logLevelSetting: SettingSpec = {
  flag: 'log-level',
  env: 'OUTBOX_LOG_LEVEL',
  type: 'string',
  defaultValue: 'info',
  description: 'trace, debug, info, warn, error, fatal or silent. JSON lines on stdout; debug logs one line per batch.',
};

/** The NATS connection: servers, credentials, TLS (`run`, `console`, `dlq`). */
export const natsSettings = {
  url: {
    flag: 'nats-url',
    env: 'OUTBOX_NATS_URL',
    type: 'string',
    description: 'NATS server(s), comma-separated, e.g. nats://nats:4222. Required.',
    secret: 'url-list',
  },
  user: { flag: 'nats-user', env: 'OUTBOX_NATS_USER', type: 'string', description: 'NATS user (with --nats-password).' },
  password: {
    flag: 'nats-password',
    env: 'OUTBOX_NATS_PASSWORD',
    type: 'string',
    description: 'NATS password. Prefer the env var to the flag.',
    secret: 'value',
  },
  token: {
    flag: 'nats-token',
    env: 'OUTBOX_NATS_TOKEN',
    type: 'string',
    description: 'NATS auth token. Prefer the env var to the flag.',
    secret: 'value',
  },
  creds: { flag: 'nats-creds', env: 'OUTBOX_NATS_CREDS', type: 'string', description: 'Path of a NATS .creds file (JWT + NKey seed).' },
  tlsCa: {
    flag: 'nats-tls-ca',
    env: 'OUTBOX_NATS_TLS_CA',
    type: 'string',
    description: 'Path of the CA certificate (PEM) that signed the server certificate.',
  },
  tlsCert: {
    flag: 'nats-tls-cert',
    env: 'OUTBOX_NATS_TLS_CERT',
    type: 'string',
    description: 'Path of the client certificate (PEM), for mutual TLS (with --nats-tls-key).',
  },
  tlsKey: {
    flag: 'nats-tls-key',
    env: 'OUTBOX_NATS_TLS_KEY',
    type: 'string',
    description: 'Path of the client key (PEM), for mutual TLS.',
  },
} as const satisfies Record<string, SettingSpec>;

/** The stream `run` publishes to (`console` reads its name only). */
export const streamSettings = {
  name: {
    flag: 'stream',
    env: 'OUTBOX_STREAM',
    type: 'string',
    defaultValue: 'EVENTS',
    description: 'JetStream stream that stores the events.',
  },
  subjectPrefix: {
    flag: 'subject-prefix',
    env: 'OUTBOX_SUBJECT_PREFIX',
    type: 'string',
    defaultValue: 'events',
    description: 'Events are published on `<prefix>.<event type>`; the stream captures `<prefix>.>`.',
  },
  partitions: {
    flag: 'partitions',
    env: 'OUTBOX_PARTITIONS',
    type: 'string',
    defaultValue: '0',
    range: [0, 1_024],
    description:
      "Publish on `<prefix>.p<k>.<event type>`, `k` = the partition of the event's subject (FNV-1a mod this count), so the instances of a consumer divide the subjects (`PartitionedSubscriber`). Every relay of the stream and every partitioned consumer must use the same count. 0: no partition token.",
  },
  ensure: {
    flag: 'ensure-stream',
    env: 'OUTBOX_ENSURE_STREAM',
    type: 'string',
    defaultValue: 'true',
    description:
      'true: create the stream when missing. false: only verify it exists. Either way its duplicate_window must cover the lease + retry horizon.',
  },
  duplicateWindowMs: {
    flag: 'duplicate-window-ms',
    env: 'OUTBOX_DUPLICATE_WINDOW_MS',
    type: 'string',
    defaultValue: '120000',
    range: [1_000, 7 * 24 * 3_600_000],
    description: 'duplicate_window of a stream the relay creates (must be >= lease + 60000 ms of retry delay).',
  },
  replicas: {
    flag: 'stream-replicas',
    env: 'OUTBOX_STREAM_REPLICAS',
    type: 'string',
    defaultValue: '1',
    range: [1, 5],
    description: 'num_replicas of a stream the relay creates (3 on a 3-node cluster). An existing stream is not changed.',
  },
  placementCluster: {
    flag: 'stream-placement-cluster',
    env: 'OUTBOX_STREAM_PLACEMENT_CLUSTER',
    type: 'string',
    description:
      'placement.cluster of a stream the relay creates: the JetStream cluster (of a super-cluster) to put it in. Unset: the server picks.',
  },
  placementTags: {
    flag: 'stream-placement-tags',
    env: 'OUTBOX_STREAM_PLACEMENT_TAGS',
    type: 'string',
    description:
      'placement.tags of a stream the relay creates, comma-separated (az:1,ssd): every replica goes to a server whose server_tags has them all.',
  },
  publishTimeoutMs: {
    flag: 'publish-timeout-ms',
    env: 'OUTBOX_PUBLISH_TIMEOUT_MS',
    type: 'string',
    defaultValue: '5000',
    range: [100, 600_000],
    description: 'How long to wait for a PubAck.',
  },
} as const satisfies Record<string, SettingSpec>;

/** How `run` claims, publishes, retries, reports and stops. */
export const relaySettings = {
  batchSize: {
    flag: 'batch-size',
    env: 'OUTBOX_BATCH_SIZE',
    type: 'string',
    defaultValue: '500',
    range: [1, 10_000],
    description: 'Most events claimed and published per batch.',
  },
  maxBatchBytes: {
    flag: 'max-batch-bytes',
    env: 'OUTBOX_MAX_BATCH_BYTES',
    type: 'string',
    defaultValue: '8388608',
    range: [1_024, Number.MAX_SAFE_INTEGER],
    description:
      "A claim stops once its events' payloads reach this many bytes (default 8 MiB), whatever the batch size (bounds the relay's memory).",
  },
  maxEventBytes: {
    flag: 'max-event-bytes',
    env: 'OUTBOX_MAX_EVENT_BYTES',
    type: 'string',
    defaultValue: '1048576',
    range: [1_024, Number.MAX_SAFE_INTEGER],
    description:
      "The services' enqueue limit (default 1 MiB): a pending row with a larger payload is dead-lettered (`PAYLOAD_TOO_LARGE`) without being loaded. Checked against the server's `max_payload` at start.",
  },
  pollIntervalMs: {
    flag: 'poll-interval-ms',
    env: 'OUTBOX_POLL_INTERVAL_MS',
    type: 'string',
    defaultValue: '1000',
    range: [1, 3_600_000],
    description: 'Longest wait between claims when the outbox is empty (PostgreSQL also wakes up on NOTIFY).',
  },
  leaseMs: {
    flag: 'lease-ms',
    env: 'OUTBOX_LEASE_MS',
    type: 'string',
    defaultValue: '30000',
    range: [100, 3_600_000],
    description: "How long a claimed batch is exclusive; a crashed relay's events are re-published after it.",
  },
  claimAhead: {
    flag: 'claim-ahead',
    env: 'OUTBOX_CLAIM_AHEAD',
    type: 'string',
    defaultValue: 'auto',
    description:
      'true: claim the next batch while the current one is published (the lease must cover two batches). false: one batch at a time. auto: true on MariaDB/MySQL when the lease covers two batches (one, two and four relays gained with it there), false on PostgreSQL (several relays on one table gained nothing steady with it, and were slower before its claim read a bounded window).',
  },
  maxAttempts: {
    flag: 'max-attempts',
    env: 'OUTBOX_MAX_ATTEMPTS',
    type: 'string',
    defaultValue: '10',
    range: [1, 1_000_000],
    description: 'Failed publishes before an event is dead-lettered.',
  },
  blockSubject: {
    flag: 'block-subject',
    env: 'OUTBOX_BLOCK_SUBJECT',
    type: 'string',
    defaultValue: 'false',
    description:
      'true: a dead-lettered event holds back the later events of its subject until `dead retry` or `dead purge` (strict order). false: the subject goes on without it (a gap marker on NATS tells consumers its number will not come), and a retried event lands after newer ones.',
  },
  metricsAddr: {
    flag: 'metrics-addr',
    env: 'OUTBOX_METRICS_ADDR',
    type: 'string',
    defaultValue: '0.0.0.0:9464',
    description: 'host:port of /healthz, /readyz and /metrics; `off` disables the HTTP server.',
  },
  statsIntervalMs: {
    flag: 'stats-interval-ms',
    env: 'OUTBOX_STATS_INTERVAL_MS',
    type: 'string',
    defaultValue: '5000',
    range: [100, 3_600_000],
    description: 'How often the pending/lag/dead gauges are refreshed.',
  },
  shutdownTimeoutMs: {
    flag: 'shutdown-timeout-ms',
    env: 'OUTBOX_SHUTDOWN_TIMEOUT_MS',
    type: 'string',
    defaultValue: '10000',
    range: [0, 3_600_000],
    description: 'On SIGTERM/SIGINT, how long to let the in-flight batch finish before exiting 1.',
  },
} as const satisfies Record<string, SettingSpec>;

/** The operator console: `console`, or `run --console`. */
export const consoleSettings = {
  enabled: {
    flag: 'console',
    env: 'OUTBOX_CONSOLE',
    type: 'boolean',
    defaultValue: 'false',
    description: '`run` only. Also serve the operator console (not with `--once`); the env var takes true or false.',
  },
  host: {
    flag: 'console-host',
    env: 'OUTBOX_CONSOLE_HOST',
    type: 'string',
    defaultValue: '127.0.0.1',
    description: 'Address the console listens on. Any non-loopback address needs `OUTBOX_CONSOLE_TOKEN`, else exit 2.',
  },
  port: {
    flag: 'console-port',
    env: 'OUTBOX_CONSOLE_PORT',
    type: 'string',
    defaultValue: '9465',
    range: [0, 65_535],
    description:
      'Port of the console, its own server (the metrics server may listen on all addresses; the console stays on loopback). 0: a free port, logged.',
  },
  token: {
    flag: 'console-token',
    env: 'OUTBOX_CONSOLE_TOKEN',
    type: 'string',
    description:
      'Bearer token, 16+ characters: needed by every retry, purge and replay, and for reading when not on loopback. Without it the console is read-only. Prefer the env var.',
    secret: 'value',
  },
} as const satisfies Record<string, SettingSpec>;

/** The consumers' dead letters on NATS: bus-nats's `ensureDeadLetterStream` and `DeadLetterQuery` (`dlq`, and the console). */
export const dlqSettings = {
  stream: {
    flag: 'dlq-stream',
    env: 'OUTBOX_DLQ_STREAM',
    type: 'string',
    defaultValue: 'DEAD_LETTERS',
    description: "The consumers' dead-letter stream.",
  },
  prefix: {
    flag: 'dlq-prefix',
    env: 'OUTBOX_DLQ_PREFIX',
    type: 'string',
    defaultValue: 'dlq',
    description: 'First subject token of dead letters: `<prefix>.<consumer>.<original subject>`.',
  },
  consumer: { flag: 'consumer', type: 'string', description: 'Only the dead letters of this durable consumer.' },
  type: { flag: 'type', type: 'string', description: 'Only events of this type (`ce-type`).' },
  subject: { flag: 'subject', type: 'string', description: 'Only events of this subject, the aggregate key (`ce-subject`).' },
  code: { flag: 'code', type: 'string', description: 'Only letters with this reason code, e.g. `HANDLER_FAILED`, `FORGED_SUBJECT`.' },
  listLimit: {
    flag: 'limit',
    type: 'string',
    defaultValue: '100',
    range: [1, 100_000],
    description: '`dlq list`: most letters listed, oldest first.',
  },
  changeLimit: {
    flag: 'limit',
    type: 'string',
    defaultValue: '100000',
    range: [1, 100_000],
    description: '`dlq replay` and `dlq purge`: most letters acted on, oldest first (by default every match).',
  },
} as const satisfies Record<string, SettingSpec>;

/** A consumer's inbox, for `inbox positions` and `inbox skip` (the database comes from `--database-url`). */
/** `partitions`: the partitioned consumer whose leases it reads. */
export const partitionSettings = {
  consumer: {
    flag: 'consumer',
    type: 'string',
    description: 'The partitioned consumer (its lease bucket is `outbox-leases_<stream>_<consumer>`). Required.',
  },
} as const satisfies Record<string, SettingSpec>;

export const inboxSettings = {
  table: {
    flag: 'inbox-table',
    env: 'OUTBOX_INBOX_TABLE',
    type: 'string',
    defaultValue: 'inbox',
    description: 'The inbox table of the consumer (its position and gap tables are named after it).',
  },
  consumer: { flag: 'consumer', type: 'string', description: 'The consumer (its durable name), as the inbox records it. Required.' },
  subject: {
    flag: 'subject',
    type: 'string',
    description:
      '`inbox positions`: only this subject (the aggregate key). `inbox skip`: the subject to move on. Required by `inbox skip`.',
  },
  to: {
    flag: 'to',
    type: 'string',
    range: [1, Number.MAX_SAFE_INTEGER],
    description: '`inbox skip`: record every sequence after the position, up to this one, as skipped (at most 100000 at once). Required.',
  },
  limit: {
    flag: 'limit',
    type: 'string',
    defaultValue: '100',
    range: [1, 100_000],
    description: '`inbox positions`: most subjects listed, most recently moved first.',
  },
} as const satisfies Record<string, SettingSpec>;

/** Per-invocation switches of one command or a few; none has an env var. */
export const invocationSettings = {
  once: { flag: 'once', type: 'boolean', description: 'Publish the backlog, then exit (cron jobs, tests).' },
  json: { flag: 'json', type: 'boolean', description: 'Print JSON instead of text.' },
  limit: { flag: 'limit', type: 'string', defaultValue: '100', range: [1, 100_000], description: 'Most dead events to list.' },
  after: { flag: 'after', type: 'string', description: 'List dead events written after this event id (pagination).' },
  all: { flag: 'all', type: 'boolean', description: 'Act on every dead event (dead) or every letter the filters match (dlq).' },
} as const satisfies Record<string, SettingSpec>;
