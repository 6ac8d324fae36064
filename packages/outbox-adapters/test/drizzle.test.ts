import { drizzleExecutor, drizzleTransactions } from '@outboxkit/adapters/drizzle';
import { int, mysqlTable, varchar } from 'drizzle-orm/mysql-core';
import { drizzle as drizzleMysql, type MySql2Database } from 'drizzle-orm/mysql2';
import { drizzle as drizzlePg, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { createPool } from 'mysql2';
import pg from 'pg';
import { describe } from 'vitest';
import { describeAdapter } from './adapter-suite.js';

const pgItems = pgTable('items', { key: text('key').primaryKey(), value: integer('value').notNull() });
const mysqlItems = mysqlTable('items', { key: varchar('key', { length: 64 }).primaryKey(), value: int('value').notNull() });

type PgTx = Parameters<Parameters<NodePgDatabase['transaction']>[0]>[0];
type MysqlTx = Parameters<Parameters<MySql2Database['transaction']>[0]>[0];

describe('Drizzle on PostgreSQL (node-postgres)', () => {
  let pool: pg.Pool;
  let db: NodePgDatabase;
  describeAdapter<PgTx>({
    dialect: 'postgres',
    async open(test) {
      pool = new pg.Pool({ connectionString: test.url, max: 4 });
      db = drizzlePg(pool);
    },
    transaction: (fn) => db.transaction(fn),
    executor: (tx) => drizzleExecutor(tx),
    executorOfRoot: () => drizzleExecutor(db as never),
    runner: () => drizzleTransactions(db),
    insertItem: async (tx, key) => void (await tx.insert(pgItems).values({ key, value: 1 })),
    nested: (tx, fn) => tx.transaction(fn),
    close: () => pool.end(),
  });
});

describe('Drizzle on MariaDB (mysql2)', () => {
  let pool: ReturnType<typeof createPool>;
  let db: MySql2Database;
  describeAdapter<MysqlTx>({
    dialect: 'mysql',
    async open(test) {
      pool = createPool({ uri: test.url, connectionLimit: 4 });
      db = drizzleMysql(pool);
    },
    transaction: (fn) => db.transaction(fn),
    executor: (tx) => drizzleExecutor(tx),
    executorOfRoot: () => drizzleExecutor(db as never),
    runner: () => drizzleTransactions(db),
    insertItem: async (tx, key) => void (await tx.insert(mysqlItems).values({ key, value: 1 })),
    nested: (tx, fn) => tx.transaction(fn),
    close: () => new Promise<void>((resolve, reject) => pool.end((error) => (error ? reject(error) : resolve()))),
  });
});
