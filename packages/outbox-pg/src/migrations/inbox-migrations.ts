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

/**
 * Subject order (docs/design/ordering.md, section 3): one position row per `(consumer, subject)`,
 * locked and moved in the consumer's transaction, never removed; a gap row per sequence recorded as
 * never to be applied, removed by cleanup once the position is past it. `position` has no index on
 * `updated_at`: a move then changes no indexed column, so PostgreSQL can update the row in place
 * (HOT), and only the operators' `positions()` sorts a consumer's rows.
 */
export const inboxSubjectOrder: Migration = {
  version: 2,
  name: 'inbox-subject-order',
  sql: (n: TableNames) => `
CREATE TABLE ${n.position} (
  consumer text NOT NULL,
  subject text NOT NULL,
  position bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, subject)
);
CREATE TABLE ${n.gap} (
  consumer text NOT NULL,
  subject text NOT NULL,
  sequence bigint NOT NULL,
  reason text NOT NULL,
  event_id text,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, subject, sequence)
);
`,
};

/** Every inbox migration, in order. */
export const inboxMigrations: readonly Migration[] = [inboxInit, inboxSubjectOrder];

/** The inbox schema version this code reads and writes: the last migration's. */
export const INBOX_SCHEMA_VERSION: number = inboxSubjectOrder.version;
