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

/**
 * The producer's per-subject sequence (docs/design/ordering.md, section 1): `subject_seq` is the
 * row's place among its subject's events, stamped by `enqueue` from the counter row of its subject
 * in `<table>_subject_seq`, in the producer's transaction. NULL for rows written before this
 * migration or by a store built with `subjectSequence: false`. Adding a nullable column without a
 * default only changes the catalog: no table rewrite, however large the outbox.
 */
export const outboxSubjectSequence: Migration = {
  version: 2,
  name: 'outbox-subject-sequence',
  sql: (n: TableNames) => `
ALTER TABLE ${n.qualified} ADD COLUMN subject_seq bigint;
CREATE TABLE ${n.subjectSeq} (
  subject text PRIMARY KEY,
  seq bigint NOT NULL
);
`,
};

/** Every outbox migration, in order. The last one's version is the schema this package expects. */
export const outboxMigrations: readonly Migration[] = [outboxInit, outboxSubjectSequence];

/** The outbox schema version this code reads and writes: the last migration's. */
export const OUTBOX_SCHEMA_VERSION: number = outboxSubjectSequence.version;
