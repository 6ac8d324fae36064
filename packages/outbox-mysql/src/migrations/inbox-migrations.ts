import type { Migration } from '../migrate.js';

/**
 * The inbox table: one row per `(consumer, message_id)`, the primary key that turns a redelivery
 * into a duplicate-key error. `recorded_at` (UTC) is indexed so cleanup deletes the oldest rows in
 * bounded batches without a scan.
 */
export const inboxMigrations: readonly Migration[] = [
  {
    version: 1,
    name: '0001_init',
    statements: (table) => [
      `CREATE TABLE IF NOT EXISTS ${table.quoted} (
         consumer VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         message_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         recorded_at DATETIME(3) NOT NULL,
         PRIMARY KEY (consumer, message_id),
         KEY \`${table.bare}_recorded_at\` (recorded_at)
       ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
  /**
   * Subject order (docs/design/ordering.md, section 3): one position row per `(consumer, subject)`,
   * locked and moved in the consumer's transaction, never removed; a gap row per sequence recorded
   * as never to be applied, removed by cleanup once the position is past it. `consumer` and
   * `subject` have the inbox's and the outbox's types and collation (`utf8mb4_bin`, which ignores
   * trailing spaces: `'a'` and `'a '` are one subject, as in the outbox's counter). `updated_at` has
   * microseconds so that `positions()` lists the most recent moves first; it has no index, so a
   * move changes no secondary index.
   */
  {
    version: 2,
    name: '0002_subject_order',
    statements: (table) => [
      `CREATE TABLE IF NOT EXISTS ${table.positionQuoted} (
         consumer VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         subject VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         \`position\` BIGINT NOT NULL,
         updated_at DATETIME(6) NOT NULL,
         PRIMARY KEY (consumer, subject)
       ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      `CREATE TABLE IF NOT EXISTS ${table.gapQuoted} (
         consumer VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         subject VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         \`sequence\` BIGINT NOT NULL,
         reason VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         event_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
         recorded_at DATETIME(3) NOT NULL,
         PRIMARY KEY (consumer, subject, \`sequence\`)
       ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
];

/** The inbox schema version this code reads and writes. */
export const INBOX_SCHEMA_VERSION = 2;
