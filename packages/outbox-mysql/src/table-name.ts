import { validateIdentifier } from '@outboxkit/outbox-core/driver';

/** MySQL's identifier limit. */
const MAX_IDENTIFIER_LENGTH = 64;

/** A validated table name and the quoted forms the SQL uses, built once at configuration time. */
export interface TableName {
  /** `` `db`.`outbox` `` or `` `outbox` ``, safe to splice into SQL. */
  readonly quoted: string;
  /** The version table: `` `db`.`outbox_migrations` ``. */
  readonly migrationsQuoted: string;
  /** The outbox's per-subject sequence counters: `` `db`.`outbox_subject_seq` `` (unused by the inbox). */
  readonly subjectSeqQuoted: string;
  /** The outbox's trigger that stamps a row inside its INSERT: `` `db`.`outbox_stamp` `` (unused by the inbox). */
  readonly stampTriggerQuoted: string;
  /** That trigger's bare name, as `information_schema.TRIGGERS` lists it: `outbox_stamp`. */
  readonly stampTrigger: string;
  /** The inbox's per-subject positions: `` `db`.`inbox_position` `` (unused by the outbox). */
  readonly positionQuoted: string;
  /** The inbox's recorded gaps: `` `db`.`inbox_gap` `` (unused by the outbox). */
  readonly gapQuoted: string;
  /** The bare table name, for index names. */
  readonly bare: string;
  /** The database named by the `database` option; undefined for the connection's current one. */
  readonly database: string | undefined;
  /** `db.outbox` (or `outbox`), for messages and the migration lock name. */
  readonly display: string;
}

/**
 * Validates `table` (and `database` when given) with core's `validateIdentifier` and backtick-quotes
 * them once. Validation makes the quoting a second defence, not the only one. `longestSuffix` is
 * the longest suffix the store appends to the table name (`_migrations`; the outbox's
 * `_subject_seq`; the inbox's index `_recorded_at`, longer than its `_position` and `_gap` tables): the result must still fit MySQL's 64-character identifier limit.
 *
 * @throws OutboxConfigError naming `table` or `database`.
 */
export function resolveTableName(table: unknown, database: unknown, tableSetting = 'table', longestSuffix = '_migrations'): TableName {
  const bare = validateIdentifier(table, tableSetting, MAX_IDENTIFIER_LENGTH - longestSuffix.length);
  const db = database === undefined ? undefined : validateIdentifier(database, 'database', MAX_IDENTIFIER_LENGTH);
  const prefix = db === undefined ? '' : `\`${db}\`.`;
  return {
    quoted: `${prefix}\`${bare}\``,
    migrationsQuoted: `${prefix}\`${bare}_migrations\``,
    subjectSeqQuoted: `${prefix}\`${bare}_subject_seq\``,
    stampTriggerQuoted: `${prefix}\`${bare}_stamp\``,
    stampTrigger: `${bare}_stamp`,
    positionQuoted: `${prefix}\`${bare}_position\``,
    gapQuoted: `${prefix}\`${bare}_gap\``,
    bare,
    database: db,
    display: db === undefined ? bare : `${db}.${bare}`,
  };
}
