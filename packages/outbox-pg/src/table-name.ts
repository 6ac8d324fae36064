import { validateIdentifier } from '@outboxkit/outbox-core/driver';

/** Quotes an identifier already checked by `validateIdentifier` (so it holds no `"`). */
export function quoteIdent(name: string): string {
  return `"${name}"`;
}

/** The validated, quoted names of one store's tables. */
export interface TableNames {
  readonly schema: string;
  readonly table: string;
  /** `"schema"."table"` */
  readonly qualified: string;
  /** `"schema"."table_migrations"` */
  readonly migrations: string;
  /** `"schema"."table_wakeup"` */
  readonly wakeup: string;
  /** `"schema"."table_subject_seq"`: the outbox's per-subject sequence counters. */
  readonly subjectSeq: string;
  /** `"schema"."table_position"`: the inbox's per-subject positions. */
  readonly position: string;
  /** `"schema"."table_gap"`: the inbox's recorded gaps. */
  readonly gap: string;
  /** `"schema"` */
  readonly quotedSchema: string;
}

/**
 * Validates the schema and table settings and quotes them once. `longestSuffix` is the longest
 * suffix the store appends to the table name (`_migrations`, which is longer than the inbox's
 * `_position` and `_gap`; the outbox's `_subject_seq`): the
 * result must still fit PostgreSQL's 63-byte identifier limit.
 * @throws OutboxConfigError naming `schema` or `table` and the bad value.
 */
export function tableNames(schema: unknown, table: unknown, longestSuffix = '_migrations'): TableNames {
  const s = validateIdentifier(schema, 'schema');
  const t = validateIdentifier(table, 'table', 63 - longestSuffix.length);
  const quotedSchema = quoteIdent(s);
  return {
    schema: s,
    table: t,
    quotedSchema,
    qualified: `${quotedSchema}.${quoteIdent(t)}`,
    migrations: `${quotedSchema}.${quoteIdent(`${t}_migrations`)}`,
    wakeup: `${quotedSchema}.${quoteIdent(`${t}_wakeup`)}`,
    subjectSeq: `${quotedSchema}.${quoteIdent(`${t}_subject_seq`)}`,
    position: `${quotedSchema}.${quoteIdent(`${t}_position`)}`,
    gap: `${quotedSchema}.${quoteIdent(`${t}_gap`)}`,
  };
}
