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
];

/** The inbox schema version this code reads and writes. */
export const INBOX_SCHEMA_VERSION = 1;
