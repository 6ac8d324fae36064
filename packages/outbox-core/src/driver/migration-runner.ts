import type { MigrationResult } from '../contracts/outbox-store.js';
import { checkSchemaVersion, type SchemaTarget } from './schema-version.js';

/** What the runner needs of a driver's migration: its number. The rest (its SQL, its name) is the dialect's. */
export interface NumberedMigration {
  readonly version: number;
}

/**
 * The one connection a migration run holds from start to end, with the dialect's SQL. The runner
 * calls `lock`, `readVersion`, `apply` for each missing migration, `unlock`, then `release`.
 */
export interface MigrationConnection<M extends NumberedMigration> {
  /** Takes the schema's migration lock, waiting while another process holds it. */
  lock(): Promise<void>;
  /** Releases the lock `lock` took. */
  unlock(): Promise<void>;
  /** Creates the version table when missing and returns the newest version recorded, `null` when none. */
  readVersion(): Promise<number | null>;
  /** Applies one migration and records its version (in one transaction where the dialect's DDL allows it). */
  apply(migration: M): Promise<void>;
  /**
   * Gives the connection back. `reusable` is false when the lock may still be held or the session
   * is in an unknown state: the driver then discards the connection instead of pooling it.
   */
  release(reusable: boolean): void;
}

/** A dialect's part of a migration run: how to get a connection, and how its errors read. */
export interface MigrationDialect<M extends NumberedMigration> {
  /** Checks out the connection the run holds. */
  connect(): Promise<MigrationConnection<M>>;
  /** Turns a native error into the driver's typed error; an `OutboxError` passes through unchanged. */
  translateError(error: unknown): unknown;
}

/**
 * Applies the migrations above the recorded version, in order, on one connection under the
 * dialect's migration lock, so concurrent callers queue and the later one finds everything applied.
 *
 * `migrations` are in ascending `version` order; the last one is the version the driver knows. A
 * database already recorded at a newer version is refused before anything runs. The lock is
 * released whatever happens, and the connection is pooled again only when that release succeeded.
 * @returns the version now recorded and the versions this call applied.
 * @throws SchemaVersionError when the database is at a newer version than `migrations` reach.
 * @throws whatever `dialect.translateError` makes of a failed statement (the migration that failed
 *   is not recorded; the ones before it are).
 */
export async function migrateSchema<M extends NumberedMigration>(
  dialect: MigrationDialect<M>,
  migrations: readonly M[],
  target: SchemaTarget,
): Promise<MigrationResult & { applied: number[] }> {
  let connection: MigrationConnection<M>;
  try {
    connection = await dialect.connect();
  } catch (error) {
    throw dialect.translateError(error);
  }
  let unlocked = false;
  try {
    await connection.lock();
    try {
      const found = await connection.readVersion();
      checkSchemaVersion(found, migrations.at(-1)?.version ?? 0, target, true);
      const applied: number[] = [];
      for (const migration of migrations) {
        if (found !== null && migration.version <= found) continue;
        await connection.apply(migration);
        applied.push(migration.version);
      }
      return { version: applied.at(-1) ?? found ?? 0, applied };
    } finally {
      await connection.unlock();
      unlocked = true;
    }
  } catch (error) {
    throw dialect.translateError(error);
  } finally {
    connection.release(unlocked);
  }
}
