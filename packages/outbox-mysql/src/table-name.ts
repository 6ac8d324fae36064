import { validateIdentifier } from '@outboxkit/outbox-core/driver';

/** MySQL's identifier limit is 64; `_migrations` is appended to a table name for its version table. */
const MAX_TABLE_LENGTH = 64 - '_migrations'.length;

/** A validated table name and the quoted forms the SQL uses, built once at configuration time. */
export interface TableName {
  /** `` `db`.`outbox` `` or `` `outbox` ``, safe to splice into SQL. */
  readonly quoted: string;
  /** The version table: `` `db`.`outbox_migrations` ``. */
  readonly migrationsQuoted: string;
  /** The bare table name, for index names. */
  readonly bare: string;
  /** `db.outbox` (or `outbox`), for messages and the migration lock name. */
  readonly display: string;
}

/**
 * Validates `table` (and `database` when given) with core's `validateIdentifier` and backtick-quotes
 * them once. Validation makes the quoting a second defence, not the only one.
 *
 * @throws OutboxConfigError naming `table` or `database`.
 */
export function resolveTableName(table: unknown, database: unknown, tableSetting = 'table'): TableName {
  const bare = validateIdentifier(table, tableSetting, MAX_TABLE_LENGTH);
  const db = database === undefined ? undefined : validateIdentifier(database, 'database', 64);
  const prefix = db === undefined ? '' : `\`${db}\`.`;
  return {
    quoted: `${prefix}\`${bare}\``,
    migrationsQuoted: `${prefix}\`${bare}_migrations\``,
    bare,
    display: db === undefined ? bare : `${db}.${bare}`,
  };
}
