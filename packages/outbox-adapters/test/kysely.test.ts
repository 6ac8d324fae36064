import { kyselyExecutor, kyselyTransactions } from '@outboxkit/adapters/kysely';
import { type ControlledTransaction, Kysely, MysqlDialect, PostgresDialect } from 'kysely';
import { createPool } from 'mysql2';
import pg from 'pg';
import { describe } from 'vitest';
import { describeAdapter } from './adapter-suite.js';
import type { Dialect } from './databases.js';

interface Database {
  items: { key: string; value: number };
}

for (const dialect of ['postgres', 'mysql'] as const satisfies Dialect[]) {
  describe(`Kysely on ${dialect === 'postgres' ? 'PostgreSQL' : 'MariaDB'}`, () => {
    let db: Kysely<Database>;
    describeAdapter<ControlledTransaction<Database>>({
      dialect,
      async open(test) {
        db = new Kysely<Database>({
          dialect:
            dialect === 'postgres'
              ? new PostgresDialect({ pool: new pg.Pool({ connectionString: test.url, max: 4 }) })
              : new MysqlDialect({ pool: createPool({ uri: test.url, connectionLimit: 4 }) }),
        });
      },
      async transaction(fn) {
        const trx = await db.startTransaction().execute();
        try {
          const value = await fn(trx);
          await trx.commit().execute();
          return value;
        } catch (error) {
          await trx.rollback().execute();
          throw error;
        }
      },
      executor: (trx) => kyselyExecutor(trx),
      executorOfRoot: () => kyselyExecutor(db as never),
      runner: () => kyselyTransactions(db),
      insertItem: async (trx, key) => void (await trx.insertInto('items').values({ key, value: 1 }).execute()),
      async nested(trx, fn) {
        const savepoint = await trx.savepoint('nested').execute();
        try {
          await fn(savepoint as unknown as ControlledTransaction<Database>);
          await savepoint.releaseSavepoint('nested').execute();
        } catch (error) {
          await savepoint.rollbackToSavepoint('nested').execute();
          throw error;
        }
      },
      close: () => db.destroy(),
    });
  });
}
