import { describe, expect, it } from 'vitest';
import { SchemaVersionError, StoreError } from '../errors.js';
import { type MigrationConnection, migrateSchema, type NumberedMigration } from './migration-runner.js';

const target = { kind: 'outbox', table: 'public.outbox', packageName: '@outboxkit/outbox-test' };
const migrations: NumberedMigration[] = [{ version: 1 }, { version: 2 }, { version: 3 }];

/** An in-memory dialect that records what the runner asked of it. */
function recordingDialect(recorded: number | null, options: { failOn?: number; failUnlock?: boolean } = {}) {
  const calls: string[] = [];
  let version = recorded;
  const connection: MigrationConnection<NumberedMigration> = {
    lock: async () => void calls.push('lock'),
    unlock: async () => {
      calls.push('unlock');
      if (options.failUnlock) throw new Error('connection lost');
    },
    readVersion: async () => version,
    apply: async (migration) => {
      if (migration.version === options.failOn) throw new Error(`migration ${migration.version} failed`);
      calls.push(`apply ${migration.version}`);
      version = migration.version;
    },
    release: (reusable) => void calls.push(`release ${reusable}`),
  };
  const dialect = {
    connect: async () => connection,
    translateError: (error: unknown) =>
      error instanceof Error && !(error instanceof SchemaVersionError) ? new StoreError('DUPLICATE', error.message, false) : error,
  };
  return { calls, dialect, version: () => version };
}

describe('migrateSchema', () => {
  it('applies the migrations above the recorded version, in order, under the lock', async () => {
    const run = recordingDialect(1);
    await expect(migrateSchema(run.dialect, migrations, target)).resolves.toEqual({ version: 3, applied: [2, 3] });
    expect(run.calls).toEqual(['lock', 'apply 2', 'apply 3', 'unlock', 'release true']);
  });

  it('applies nothing and reports the recorded version when the schema is current', async () => {
    const run = recordingDialect(3);
    await expect(migrateSchema(run.dialect, migrations, target)).resolves.toEqual({ version: 3, applied: [] });
  });

  it('refuses a newer schema before applying anything, and releases the lock', async () => {
    const run = recordingDialect(4);
    await expect(migrateSchema(run.dialect, migrations, target)).rejects.toThrow(SchemaVersionError);
    expect(run.calls).toEqual(['lock', 'unlock', 'release true']);
  });

  it('stops at a failed migration, keeps the ones before it, and passes the error through translateError', async () => {
    const run = recordingDialect(null, { failOn: 2 });
    await expect(migrateSchema(run.dialect, migrations, target)).rejects.toThrow(StoreError);
    expect(run.version()).toBe(1);
    expect(run.calls).toEqual(['lock', 'apply 1', 'unlock', 'release true']);
  });

  it('does not pool the connection again when releasing the lock failed', async () => {
    const run = recordingDialect(3, { failUnlock: true });
    await expect(migrateSchema(run.dialect, migrations, target)).rejects.toThrow('connection lost');
    expect(run.calls).toEqual(['lock', 'unlock', 'release false']);
  });
});
