import type { Migration } from '../migrate.js';
import { quoteIdent, type TableNames } from '../table-name.js';

/** The inbox table: one row per (consumer, message id) applied; `recorded_at` drives cleanup. */
export const inboxInit: Migration = {
  version: 1,
  name: 'inbox-init',
  sql: (n: TableNames) => `
CREATE TABLE ${n.qualified} (
  consumer text NOT NULL,
  message_id text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, message_id)
);
CREATE INDEX ${quoteIdent(`${n.table}_recorded_idx`)} ON ${n.qualified} (recorded_at);
`,
};

/** Every inbox migration, in order. */
export const inboxMigrations: readonly Migration[] = [inboxInit];

/** The inbox schema version this code reads and writes: the last migration's. */
export const INBOX_SCHEMA_VERSION: number = inboxInit.version;
