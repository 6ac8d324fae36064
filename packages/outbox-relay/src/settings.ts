/**
 * Every setting of the CLI as data: its flag, env var, default and meaning. The parser, the
 * `--help` text and the README's configuration table are all read from this one list.
 */
export interface SettingSpec {
  /** The key in `RelayCliSettings`. */
  readonly key: keyof RawSettings;
  /** Long flag without the dashes. */
  readonly flag: string;
  /** Environment variable; absent for per-invocation switches such as `--json`. */
  readonly env?: string;
  readonly type: 'string' | 'boolean';
  /** Shown in `--help`; `undefined` means the setting is required or simply unset. */
  readonly defaultValue?: string;
  readonly description: string;
  /** A value that must never be printed (passwords, tokens). */
  readonly secret?: boolean;
}

/** The raw text of every setting, before validation. */
export interface RawSettings {
  databaseUrl?: string;
  dbTlsMode?: string;
  dbTlsCa?: string;
  dbTlsCert?: string;
  dbTlsKey?: string;
  schema?: string;
  table?: string;
  natsUrl?: string;
  natsUser?: string;
  natsPassword?: string;
  natsToken?: string;
  natsCreds?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
  stream?: string;
  subjectPrefix?: string;
  ensureStream?: string;
  duplicateWindowMs?: string;
  streamReplicas?: string;
  streamPlacementCluster?: string;
  streamPlacementTags?: string;
  publishTimeoutMs?: string;
  batchSize?: string;
  maxBatchBytes?: string;
  maxEventBytes?: string;
  pollIntervalMs?: string;
  leaseMs?: string;
  maxAttempts?: string;
  blockSubject?: string;
  metricsAddr?: string;
  statsIntervalMs?: string;
  logLevel?: string;
  shutdownTimeoutMs?: string;
  once?: string;
  json?: string;
  all?: string;
  limit?: string;
  after?: string;
  dlqStream?: string;
  dlqPrefix?: string;
  consumer?: string;
  eventType?: string;
  eventSubject?: string;
  code?: string;
  console?: string;
  consoleHost?: string;
  consolePort?: string;
  consoleToken?: string;
}

const spec = (s: SettingSpec): SettingSpec => s;

export const databaseSettings: readonly SettingSpec[] = [
  spec({
    key: 'databaseUrl',
    flag: 'database-url',
    env: 'OUTBOX_DATABASE_URL',
    type: 'string',
    description: 'The service database: postgres:// or postgresql:// (PostgreSQL) or mysql:// (MySQL 8, MariaDB 10.6+). Required.',
  }),
  spec({
    key: 'schema',
    flag: 'schema',
    env: 'OUTBOX_SCHEMA',
    type: 'string',
    defaultValue: 'public',
    description: 'PostgreSQL schema of the outbox table (MySQL: the database comes from the URL).',
  }),
  spec({ key: 'table', flag: 'table', env: 'OUTBOX_TABLE', type: 'string', defaultValue: 'outbox', description: 'Outbox table name.' }),
  spec({
    key: 'dbTlsMode',
    flag: 'db-tls-mode',
    env: 'OUTBOX_DB_TLS_MODE',
    type: 'string',
    description:
      'Database TLS: disable, require (encrypt, no certificate check), verify-ca (the chain must lead to the CA; any host name) or verify-full (chain and host name). Unset: as the URL says (plaintext unless it asks for TLS).',
  }),
  spec({
    key: 'dbTlsCa',
    flag: 'db-tls-ca',
    env: 'OUTBOX_DB_TLS_CA',
    type: 'string',
    description: 'Path of the CA certificate (PEM) for verify-ca / verify-full. Unset: the system CAs.',
  }),
  spec({
    key: 'dbTlsCert',
    flag: 'db-tls-cert',
    env: 'OUTBOX_DB_TLS_CERT',
    type: 'string',
    description: 'Path of a client certificate (PEM), with --db-tls-key, for servers that authenticate clients by certificate.',
  }),
  spec({
    key: 'dbTlsKey',
    flag: 'db-tls-key',
    env: 'OUTBOX_DB_TLS_KEY',
    type: 'string',
    description: 'Path of the client key (PEM, unencrypted), with --db-tls-cert.',
  }),
];

export const logSettings: readonly SettingSpec[] = [
  spec({
    key: 'logLevel',
    flag: 'log-level',
    env: 'OUTBOX_LOG_LEVEL',
    type: 'string',
    defaultValue: 'info',
    description: 'trace, debug, info, warn, error, fatal or silent. JSON lines on stdout; debug logs one line per batch.',
  }),
];

export const natsSettings: readonly SettingSpec[] = [
  spec({
    key: 'natsUrl',
    flag: 'nats-url',
    env: 'OUTBOX_NATS_URL',
    type: 'string',
    description: 'NATS server(s), comma-separated, e.g. nats://nats:4222. Required.',
  }),
  spec({ key: 'natsUser', flag: 'nats-user', env: 'OUTBOX_NATS_USER', type: 'string', description: 'NATS user (with --nats-password).' }),
  spec({
    key: 'natsPassword',
    flag: 'nats-password',
    env: 'OUTBOX_NATS_PASSWORD',
    type: 'string',
    description: 'NATS password. Prefer the env var to the flag.',
    secret: true,
  }),
  spec({
    key: 'natsToken',
    flag: 'nats-token',
    env: 'OUTBOX_NATS_TOKEN',
    type: 'string',
    description: 'NATS auth token. Prefer the env var to the flag.',
    secret: true,
  }),
  spec({
    key: 'natsCreds',
    flag: 'nats-creds',
    env: 'OUTBOX_NATS_CREDS',
    type: 'string',
    description: 'Path of a NATS .creds file (JWT + NKey seed).',
  }),
  spec({
    key: 'natsTlsCa',
    flag: 'nats-tls-ca',
    env: 'OUTBOX_NATS_TLS_CA',
    type: 'string',
    description: 'Path of the CA certificate (PEM) that signed the server certificate.',
  }),
  spec({
    key: 'natsTlsCert',
    flag: 'nats-tls-cert',
    env: 'OUTBOX_NATS_TLS_CERT',
    type: 'string',
    description: 'Path of the client certificate (PEM), for mutual TLS (with --nats-tls-key).',
  }),
  spec({
    key: 'natsTlsKey',
    flag: 'nats-tls-key',
    env: 'OUTBOX_NATS_TLS_KEY',
    type: 'string',
    description: 'Path of the client key (PEM), for mutual TLS.',
  }),
  spec({
    key: 'stream',
    flag: 'stream',
    env: 'OUTBOX_STREAM',
    type: 'string',
    defaultValue: 'EVENTS',
    description: 'JetStream stream that stores the events.',
  }),
  spec({
    key: 'subjectPrefix',
    flag: 'subject-prefix',
    env: 'OUTBOX_SUBJECT_PREFIX',
    type: 'string',
    defaultValue: 'events',
    description: 'Events are published on <prefix>.<event type>; the stream captures <prefix>.>.',
  }),
  spec({
    key: 'ensureStream',
    flag: 'ensure-stream',
    env: 'OUTBOX_ENSURE_STREAM',
    type: 'string',
    defaultValue: 'true',
    description:
      'true: create the stream when missing. false: only verify it exists. Either way its duplicate_window must cover the lease + retry horizon.',
  }),
  spec({
    key: 'duplicateWindowMs',
    flag: 'duplicate-window-ms',
    env: 'OUTBOX_DUPLICATE_WINDOW_MS',
    type: 'string',
    defaultValue: '120000',
    description: 'duplicate_window of a stream the relay creates (must be >= lease + 60000 ms of retry delay).',
  }),
  spec({
    key: 'streamReplicas',
    flag: 'stream-replicas',
    env: 'OUTBOX_STREAM_REPLICAS',
    type: 'string',
    defaultValue: '1',
    description: 'num_replicas of a stream the relay creates, 1 to 5 (3 on a 3-node cluster). An existing stream is not changed.',
  }),
  spec({
    key: 'streamPlacementCluster',
    flag: 'stream-placement-cluster',
    env: 'OUTBOX_STREAM_PLACEMENT_CLUSTER',
    type: 'string',
    description:
      'placement.cluster of a stream the relay creates: the JetStream cluster (of a super-cluster) to put it in. Unset: the server picks.',
  }),
  spec({
    key: 'streamPlacementTags',
    flag: 'stream-placement-tags',
    env: 'OUTBOX_STREAM_PLACEMENT_TAGS',
    type: 'string',
    description:
      'placement.tags of a stream the relay creates, comma-separated (az:1,ssd): every replica goes to a server whose server_tags has them all.',
  }),
  spec({
    key: 'publishTimeoutMs',
    flag: 'publish-timeout-ms',
    env: 'OUTBOX_PUBLISH_TIMEOUT_MS',
    type: 'string',
    defaultValue: '5000',
    description: 'How long to wait for a PubAck.',
  }),
];

export const relaySettings: readonly SettingSpec[] = [
  spec({
    key: 'batchSize',
    flag: 'batch-size',
    env: 'OUTBOX_BATCH_SIZE',
    type: 'string',
    defaultValue: '500',
    description: 'Most events claimed and published per batch (1-10000).',
  }),
  spec({
    key: 'maxBatchBytes',
    flag: 'max-batch-bytes',
    env: 'OUTBOX_MAX_BATCH_BYTES',
    type: 'string',
    defaultValue: '8388608',
    description: "A claim stops once its events' payloads reach this many bytes, whatever the batch size (bounds the relay's memory).",
  }),
  spec({
    key: 'maxEventBytes',
    flag: 'max-event-bytes',
    env: 'OUTBOX_MAX_EVENT_BYTES',
    type: 'string',
    defaultValue: '1048576',
    description:
      "The services' enqueue limit: a pending row with a larger payload is dead-lettered (PAYLOAD_TOO_LARGE) without being loaded. Checked against the server's max_payload at start.",
  }),
  spec({
    key: 'pollIntervalMs',
    flag: 'poll-interval-ms',
    env: 'OUTBOX_POLL_INTERVAL_MS',
    type: 'string',
    defaultValue: '1000',
    description: 'Longest wait between claims when the outbox is empty (PostgreSQL also wakes up on NOTIFY).',
  }),
  spec({
    key: 'leaseMs',
    flag: 'lease-ms',
    env: 'OUTBOX_LEASE_MS',
    type: 'string',
    defaultValue: '30000',
    description: "How long a claimed batch is exclusive; a crashed relay's events are re-published after it.",
  }),
  spec({
    key: 'maxAttempts',
    flag: 'max-attempts',
    env: 'OUTBOX_MAX_ATTEMPTS',
    type: 'string',
    defaultValue: '10',
    description: 'Failed publishes before an event is dead-lettered.',
  }),
  spec({
    key: 'blockSubject',
    flag: 'block-subject',
    env: 'OUTBOX_BLOCK_SUBJECT',
    type: 'string',
    defaultValue: 'false',
    description:
      'true: a dead-lettered event holds back the later events of its subject until `dead retry` or `dead purge` (strict order). false: the subject goes on without it, and a retried event lands after newer ones.',
  }),
  spec({
    key: 'metricsAddr',
    flag: 'metrics-addr',
    env: 'OUTBOX_METRICS_ADDR',
    type: 'string',
    defaultValue: '0.0.0.0:9464',
    description: 'host:port of /healthz, /readyz and /metrics; "off" disables the HTTP server.',
  }),
  spec({
    key: 'statsIntervalMs',
    flag: 'stats-interval-ms',
    env: 'OUTBOX_STATS_INTERVAL_MS',
    type: 'string',
    defaultValue: '5000',
    description: 'How often the pending/lag/dead gauges are refreshed.',
  }),
  spec({
    key: 'shutdownTimeoutMs',
    flag: 'shutdown-timeout-ms',
    env: 'OUTBOX_SHUTDOWN_TIMEOUT_MS',
    type: 'string',
    defaultValue: '10000',
    description: 'On SIGTERM/SIGINT, how long to let the in-flight batch finish before exiting 1.',
  }),
];

export const onceSetting = spec({
  key: 'once',
  flag: 'once',
  type: 'boolean',
  description: 'Publish the backlog, then exit (cron jobs, tests).',
});
export const jsonSetting = spec({ key: 'json', flag: 'json', type: 'boolean', description: 'Print JSON instead of text.' });
export const allSetting = spec({ key: 'all', flag: 'all', type: 'boolean', description: 'Act on every dead event.' });
export const limitSetting = spec({
  key: 'limit',
  flag: 'limit',
  type: 'string',
  defaultValue: '100',
  description: 'Most dead events to list.',
});
export const afterSetting = spec({
  key: 'after',
  flag: 'after',
  type: 'string',
  description: 'List dead events written after this event id (pagination).',
});
