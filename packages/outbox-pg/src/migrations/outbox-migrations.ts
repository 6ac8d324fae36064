import type { Migration } from '../migrate.js';
import { quoteIdent, type TableNames } from '../table-name.js';

/**
 * The outbox table. `seq` is the write order the relay publishes in; `payload` is `text` so the
 * JSON written by `encodeEvents` reaches the bus byte for byte, never re-parsed. The two partial
 * indexes serve the claim: `(seq)` walks pending rows in write order, `(subject, seq)` answers
 * "is there an earlier pending row of this subject?" with one index probe.
 */
export const outboxInit: Migration = {
  version: 1,
  name: 'outbox-init',
  sql: (n: TableNames) => `
CREATE TABLE ${n.qualified} (
  seq bigint GENERATED ALWAYS AS IDENTITY,
  id uuid PRIMARY KEY,
  type text NOT NULL,
  source text NOT NULL,
  subject text NOT NULL,
  time timestamptz NOT NULL,
  payload text NOT NULL,
  headers jsonb NOT NULL DEFAULT '{}',
  attempts integer NOT NULL DEFAULT 0,
  available_at timestamptz NOT NULL DEFAULT now(),
  locked_until timestamptz,
  claim_token uuid,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead')),
  last_error text,
  dead_at timestamptz
);
CREATE INDEX ${quoteIdent(`${n.table}_head_idx`)} ON ${n.qualified} (subject, seq) WHERE state = 'pending';
CREATE INDEX ${quoteIdent(`${n.table}_seq_idx`)} ON ${n.qualified} (seq) WHERE state = 'pending';
CREATE INDEX ${quoteIdent(`${n.table}_dead_idx`)} ON ${n.qualified} (seq) WHERE state = 'dead';
CREATE TABLE ${n.wakeup} (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  armed boolean NOT NULL DEFAULT false
);
INSERT INTO ${n.wakeup} DEFAULT VALUES;
`,
};

/** Every outbox migration, in order. The last one's version is the schema this package expects. */
export const outboxMigrations: readonly Migration[] = [outboxInit];

/** The outbox schema version this code reads and writes: the last migration's. */
export const OUTBOX_SCHEMA_VERSION: number = outboxInit.version;
