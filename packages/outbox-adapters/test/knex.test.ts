import { knexExecutor, knexTransactions } from '@outboxkit/adapters/knex';
import knex, { type Knex } from 'knex';
import { describe } from 'vitest';
import { describeAdapter } from './adapter-suite.js';
import type { Dialect } from './databases.js';

for (const dialect of ['postgres', 'mysql'] as const satisfies Dialect[]) {
  describe(`Knex on ${dialect === 'postgres' ? 'PostgreSQL' : 'MariaDB'}`, () => {
    let db: Knex;
    describeAdapter<Knex.Transaction>({
      dialect,
      async open(test) {
        db = knex({ client: dialect === 'postgres' ? 'pg' : 'mysql2', connection: test.url, pool: { min: 0, max: 4 } });
      },
      transaction: (fn) => db.transaction(fn),
      executor: (trx) => knexExecutor(trx),
      executorOfRoot: () => knexExecutor(db as Knex.Transaction),
      runner: () => knexTransactions(db),
      insertItem: async (trx, key) => void (await trx('items').insert({ key, value: 1 })),
      nested: (trx, fn) => trx.transaction(fn),
      close: () => db.destroy(),
    });
  });
}
