import type { Migration } from '../migrate.js';
import type { TableName } from '../table-name.js';

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
  /**
   * The stamp inside the INSERT (docs/design/ordering.md, "The MySQL/MariaDB stamp's third round
   * trip"): for a row written with `subject_seq = 0`, the trigger bumps the subject's counter row
   * and gives the row the new value, before the row is written, so an `enqueue` of one subject's
   * events needs no statement of its own for the stamp (2 round trips instead of 3). Any other value
   * (NULL from `subjectSequence: false`, a number the store computed) passes untouched.
   * `LAST_INSERT_ID(expr)` carries the value on both the insert and the update path of the upsert;
   * a trigger's `LAST_INSERT_ID` is restored when it ends, so the session never sees it.
   * Optional: with a binary log (MySQL 8's default, any replicated server) creating a trigger needs
   * SUPER or `log_bin_trust_function_creators = 1`, and a user may lack the TRIGGER privilege; then
   * the migration goes on without it and `enqueue` stamps with its own statement, as before.
   * The trigger is looked up first: MySQL 8 before 8.0.29 has no `CREATE TRIGGER IF NOT EXISTS`.
   */
  {
    version: 3,
    name: '0003_stamp_trigger',
    statements: (table) => [
      {
        sql: `CREATE TRIGGER ${table.stampTriggerQuoted} BEFORE INSERT ON ${table.quoted} FOR EACH ROW
              BEGIN
                IF NEW.subject_seq = 0 THEN
                  INSERT INTO ${table.subjectSeqQuoted} (subject, seq) VALUES (NEW.subject, LAST_INSERT_ID(1))
                    ON DUPLICATE KEY UPDATE seq = LAST_INSERT_ID(seq + 1);
                  SET NEW.subject_seq = LAST_INSERT_ID();
                END IF;
              END`,
        unless: stampTriggerLookup(table),
        optional: true,
      },
    ],
  },
];

/** A query that returns a row when the outbox's stamp trigger exists. */
export function stampTriggerLookup(table: TableName): { readonly sql: string; readonly values: readonly unknown[] } {
  return {
    sql: `SELECT 1 FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = IFNULL(?, DATABASE()) AND TRIGGER_NAME = ?`,
    values: [table.database ?? null, table.stampTrigger],
  };
}

/** The outbox schema version this code reads and writes: the last migration's. */
export const OUTBOX_SCHEMA_VERSION = 3;
