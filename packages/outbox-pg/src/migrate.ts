import type { MigrationResult } from '@outboxkit/outbox-core';
import { checkSchemaVersion, type MigrationConnection, migrateSchema, type SchemaTarget } from '@outboxkit/outbox-core/driver';
import { absorbClientErrors, type PgPoolLike } from './pg-like.js';
import type { TableNames } from './table-name.js';
import { translatePgError } from './translate-pg-error.js';

/** One numbered schema change. `sql` gets the store's quoted names and may hold several statements. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  sql(names: TableNames): string;
}

/** What one store's schema is: its tables and the migrations that build them. */
export interface MigrationTarget {
  readonly names: TableNames;
  readonly migrations: readonly Migration[];
  /** For messages: `outbox` or `inbox`. */
  readonly kind: string;
}

/** The schema version a target's migrations build. */
export function latestVersion(target: MigrationTarget): number {
  return target.migrations.at(-1)?.version ?? 0;
}

/**
 * Applies the missing migrations with core's `migrateSchema`, each in its own transaction and recorded
 * in `<table>_migrations`. All of it runs under a session advisory lock keyed by the schema, so
 * concurrent `migrate()` calls (several relays starting at once, outbox and inbox in one schema)
 * queue instead of racing on `CREATE`. A database already at a newer version than this package
 * knows is refused.
 *
 * @throws SchemaVersionError when the database is newer than this package.
 */
export function runMigrations(pool: PgPoolLike, target: MigrationTarget): Promise<MigrationResult> {
  const expectedVersion = latestVersion(target);
  return migrateSchema(
    {
      connect: async () => migrationConnection(await pool.connect(), target.names),
      translateError: (error) => translatePgError(error, { operation: 'migrate()', expectedVersion }),
    },
    target.migrations,
    schemaTarget(target),
  );
}

/** The PostgreSQL statements of a migration run, on one pooled client. */
function migrationConnection(client: Awaited<ReturnType<PgPoolLike['connect']>>, names: TableNames): MigrationConnection<Migration> {
  const stopAbsorbing = absorbClientErrors(client);
  const lockKey = `outboxkit.migrate.${names.schema}`;
  return {
    lock: async () => {
      await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lockKey]);
    },
    unlock: async () => {
      await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lockKey]);
    },
    readVersion: async () => {
      // Checked first: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the
      // schema is there, which a migration role limited to its schema may not have.
      const schemaFound = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [names.schema]);
      if (schemaFound.rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${names.quotedSchema}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${names.migrations} (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      return currentVersion(client, names);
    },
    apply: async (migration) => {
      await client.query('BEGIN');
      try {
        await client.query(migration.sql(names));
        await client.query(`INSERT INTO ${names.migrations} (version, name) VALUES ($1, $2)`, [migration.version, migration.name]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    },
    release: (reusable) => {
      stopAbsorbing();
      client.release(reusable ? undefined : true);
    },
  };
}

/**
 * Checks that the database holds exactly the schema version this package knows (core's `checkSchemaVersion`).
 * @throws SchemaVersionError saying to run `outbox-relay migrate` / `store.migrate()`, or to upgrade.
 */
export async function assertSchemaVersion(pool: PgPoolLike, target: MigrationTarget): Promise<void> {
  const latest = latestVersion(target);
  let found: number | null;
  try {
    found = await currentVersion(pool, target.names);
  } catch (error) {
    if ((error as { code?: unknown }).code === '42P01') found = null;
    else throw translatePgError(error, { operation: 'assertSchema()', expectedVersion: latest });
  }
  checkSchemaVersion(found, latest, schemaTarget(target));
}

async function currentVersion(client: Pick<PgPoolLike, 'query'>, names: TableNames): Promise<number | null> {
  const result = await client.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${names.migrations}`);
  return result.rows[0]?.version ?? null;
}

function schemaTarget(target: MigrationTarget): SchemaTarget {
  return { kind: target.kind, table: `${target.names.schema}.${target.names.table}`, packageName: '@outboxkit/outbox-pg' };
}
