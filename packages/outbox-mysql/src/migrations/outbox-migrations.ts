import type { Migration } from '../migrate.js';

/**
 * The outbox table.
 * - `seq` is the clustered primary key: inserts append to the end of the B-tree, and it is the
 *   write order that per-subject ordering follows.
 * - `id` is `CHAR(36) ascii`, not `BINARY(16)`: measured on MariaDB 10.11 (8 writers, 1 and 100
 *   events per transaction) the difference was inside the noise of the commit's fsync, while text
 *   needs no conversion, works on servers without `UUID_TO_BIN`, returns the id exactly as written
 *   (it becomes `Nats-Msg-Id`) and reads in plain SQL. `ascii_general_ci` makes lookups case-insensitive.
 * - `payload` is `LONGTEXT`, not `JSON`: MySQL's JSON type re-serialises the document (key order,
 *   spacing), MariaDB's is LONGTEXT plus a `JSON_VALID` check; core already validated the JSON and the
 *   publisher needs the text exactly as written.
 * - `time` is the event's instant; it drives the lag figures and is handed back as ISO 8601 (UTC, ms).
 * - All `DATETIME(3)` columns hold UTC, written from UTC strings or `UTC_TIMESTAMP(3)` and read back
 *   as epoch milliseconds computed by the server, so neither the session's nor mysql2's time zone
 *   setting ever matters.
 * - `<table>_head (state, subject, seq)` answers "is there an earlier pending row of this subject?"
 *   with one index dive; the claim scans the primary key in `seq` order.
 */
export const outboxMigrations: readonly Migration[] = [
  {
    version: 1,
    name: '0001_init',
    statements: (table) => [
      `CREATE TABLE IF NOT EXISTS ${table.quoted} (
         seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
         id CHAR(36) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
         type VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         source VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         subject VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         \`time\` DATETIME(3) NOT NULL,
         payload LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         headers MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         state ENUM('pending', 'dead') NOT NULL DEFAULT 'pending',
         attempts INT UNSIGNED NOT NULL DEFAULT 0,
         available_at DATETIME(3) NOT NULL,
         locked_until DATETIME(3) NULL,
         claim_token CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
         last_error TEXT CHARACTER SET utf8mb4 NULL,
         dead_at DATETIME(3) NULL,
         PRIMARY KEY (seq),
         UNIQUE KEY \`${table.bare}_id\` (id),
         KEY \`${table.bare}_head\` (state, subject, seq)
       ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
  /**
   * The producer's per-subject sequence (docs/design/ordering.md, section 1): `subject_seq` is the
   * row's place among its subject's events, stamped by `enqueue` from the subject's row in
   * `<table>_subject_seq`, in the producer's transaction. NULL for rows written before this
   * migration or by a store built with `subjectSequence: false`. A nullable column added last is an
   * instant change on MySQL 8.0.12+ and MariaDB 10.3+ (no table copy, however large the outbox).
   * MySQL 8 has no `ADD COLUMN IF NOT EXISTS`, so the column is looked up first: a migration
   * interrupted between its steps runs again from the start.
   * The counter's `subject` has the outbox column's type and collation (`utf8mb4_bin`, which ignores
   * trailing spaces as the `<table>_head` index does), so a subject is the same key in both tables.
   */
  {
    version: 2,
    name: '0002_subject_sequence',
    statements: (table) => [
      {
        sql: `ALTER TABLE ${table.quoted} ADD COLUMN subject_seq BIGINT NULL`,
        unless: {
          sql: `SELECT 1 FROM information_schema.COLUMNS
                WHERE TABLE_SCHEMA = IFNULL(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME = 'subject_seq'`,
          values: [table.database ?? null, table.bare],
        },
      },
      `CREATE TABLE IF NOT EXISTS ${table.subjectSeqQuoted} (
         subject VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         seq BIGINT NOT NULL,
         PRIMARY KEY (subject)
       ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
];

/** The outbox schema version this code reads and writes: the last migration's. */
export const OUTBOX_SCHEMA_VERSION = 2;
