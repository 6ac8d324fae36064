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
];

/** The outbox schema version this code reads and writes. */
export const OUTBOX_SCHEMA_VERSION = 1;
