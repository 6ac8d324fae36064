import { StoreError } from '@outboxkit/outbox-core';
import {
  checkSchemaVersion as checkVersion,
  type MigrationConnection,
  migrateSchema,
  type SchemaTarget,
} from '@outboxkit/outbox-core/driver';
import { giveBack, type MysqlConnectionLike, type MysqlPoolLike, runStatement, selectRows } from './mysql-like.js';
import type { TableName } from './table-name.js';
import { isMissingTable, isPrivilegeRefusal } from './translate-mysql-error.js';

/**
 * One step of a migration: a statement, or a statement with a query that returns a row when its
 * effect is already there (for DDL without `IF NOT EXISTS` on every server, such as MySQL 8's
 * `ADD COLUMN`): the statement runs only when the query returns none. An `optional` step that the
 * server refuses for a privilege the user lacks (`isPrivilegeRefusal`) is left out and the
 * migration goes on: what it adds must be something the code can do without.
 */
export type MigrationStep =
  | string
  | {
      readonly sql: string;
      readonly unless: { readonly sql: string; readonly values: readonly unknown[] };
      readonly optional?: boolean;
    };

/** One numbered migration: steps run in order, each one idempotent (DDL commits implicitly on MySQL). */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: (table: TableName) => readonly MigrationStep[];
}

/** How long `migrate()` waits for another process's migration lock. */
const LOCK_TIMEOUT_SECONDS = 60;

/**
 * Applies the missing migrations with core's `migrateSchema`, under `GET_LOCK` on one connection of
 * the pool, recording each version in `<table>_migrations`. DDL never runs inside a caller's
 * transaction: MySQL commits implicitly before and after DDL, so it runs on its own pooled
 * connection in autocommit mode. Concurrent callers serialise on the lock; the second finds
 * everything applied. Errors come back untranslated: the store translates them.
 *
 * @throws SchemaVersionError when the database is newer than this package.
 * @throws StoreError `LOCK_TIMEOUT` when another process held the lock for `LOCK_TIMEOUT_SECONDS`.
 */
export function applyMigrations(
  pool: MysqlPoolLike,
  table: TableName,
  migrations: readonly Migration[],
  kind: string,
): Promise<{ version: number; applied: number[] }> {
  return migrateSchema(
    { connect: async () => migrationConnection(await pool.getConnection(), table), translateError: (error) => error },
    migrations,
    schemaTarget(table, kind),
  );
}

/** The MySQL statements of a migration run, on one pooled connection. */
function migrationConnection(connection: MysqlConnectionLike, table: TableName): MigrationConnection<Migration> {
  // GET_LOCK names are limited to 64 characters: hash the schema-qualified table name.
  const lockName = `CONCAT('outboxkit:', SHA1(CONCAT(IFNULL(DATABASE(), ''), '|', ?)))`;
  return {
    lock: async () => {
      const [lock] = await selectRows<{ locked: number | null }>(connection, `SELECT GET_LOCK(${lockName}, ?) AS locked`, [
        table.display,
        LOCK_TIMEOUT_SECONDS,
      ]);
      if (Number(lock?.locked) !== 1) {
        throw new StoreError(
          'LOCK_TIMEOUT',
          `migrate(): another process held the migration lock of ${table.display} for ${LOCK_TIMEOUT_SECONDS} s; try again`,
          true,
        );
      }
    },
    unlock: async () => {
      await selectRows(connection, `SELECT RELEASE_LOCK(${lockName}) AS released`, [table.display]);
    },
    readVersion: async () => {
      await runStatement(
        connection,
        `CREATE TABLE IF NOT EXISTS ${table.migrationsQuoted} (
           version INT NOT NULL PRIMARY KEY,
           name VARCHAR(255) NOT NULL,
           applied_at DATETIME(3) NOT NULL
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      );
      const version = await readVersion(connection, table);
      return version === 0 ? null : version;
    },
    apply: async (migration) => {
      for (const step of migration.statements(table)) {
        if (typeof step === 'string') {
          await runStatement(connection, step);
        } else if ((await selectRows(connection, step.unless.sql, [...step.unless.values])).length === 0) {
          try {
            await runStatement(connection, step.sql);
          } catch (error) {
            if (!(step.optional === true && isPrivilegeRefusal(error))) throw error;
          }
        }
      }
      await runStatement(connection, `INSERT INTO ${table.migrationsQuoted} (version, name, applied_at) VALUES (?, ?, UTC_TIMESTAMP(3))`, [
        migration.version,
        migration.name,
      ]);
    },
    release: (reusable) => giveBack(connection, reusable),
  };
}

/** The newest version recorded, 0 when none. */
async function readVersion(target: Parameters<typeof selectRows>[0], table: TableName): Promise<number> {
  const [row] = await selectRows<{ version: number | null }>(target, `SELECT MAX(version) AS version FROM ${table.migrationsQuoted}`);
  return Number(row?.version ?? 0);
}

/**
 * Checks that the recorded version is the one this code knows (core's `checkSchemaVersion`).
 * @throws SchemaVersionError saying what to run, or to upgrade.
 */
export async function checkSchemaVersion(pool: MysqlPoolLike, table: TableName, expected: number, kind: string): Promise<void> {
  let found: number | null;
  try {
    const version = await readVersion(pool, table);
    found = version === 0 ? null : version;
  } catch (error) {
    if (!isMissingTable(error)) throw error;
    found = null;
  }
  checkVersion(found, expected, schemaTarget(table, kind));
}

function schemaTarget(table: TableName, kind: string): SchemaTarget {
  return { kind, table: table.display, packageName: '@outboxkit/outbox-mysql' };
}
