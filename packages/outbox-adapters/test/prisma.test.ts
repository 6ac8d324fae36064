import { prismaExecutor, prismaTransactions } from '@outboxkit/adapters/prisma';
import { PrismaMariaDb } from '@prisma/adapter-mariadb';
import { PrismaPg } from '@prisma/adapter-pg';
import { describe } from 'vitest';
import { describeAdapter } from './adapter-suite.js';
import { PrismaClient as MysqlPrismaClient } from './prisma/mysql/generated/client.js';
import { PrismaClient as PgPrismaClient } from './prisma/pg/generated/client.js';

type PgTx = Parameters<Parameters<PgPrismaClient['$transaction']>[0]>[0];
type MysqlTx = Parameters<Parameters<MysqlPrismaClient['$transaction']>[0]>[0];

describe('Prisma 7 on PostgreSQL (@prisma/adapter-pg)', () => {
  let prisma: PgPrismaClient;
  describeAdapter<PgTx>({
    dialect: 'postgres',
    async open(test) {
      prisma = new PgPrismaClient({ adapter: new PrismaPg({ connectionString: test.url, max: 4 }, { schema: test.name }) });
    },
    transaction: (fn) => prisma.$transaction(fn),
    executor: (tx) => prismaExecutor(tx),
    executorOfRoot: () => prismaExecutor(prisma),
    runner: () => prismaTransactions(prisma),
    insertItem: async (tx, key) => void (await tx.item.create({ data: { key, value: 1 } })),
    nested: (tx, fn) => tx.$transaction(fn),
    close: () => prisma.$disconnect(),
  });
});

describe('Prisma 7 on MariaDB (@prisma/adapter-mariadb)', () => {
  let prisma: MysqlPrismaClient;
  describeAdapter<MysqlTx>({
    dialect: 'mysql',
    async open(test) {
      const url = new URL(test.url);
      prisma = new MysqlPrismaClient({
        adapter: new PrismaMariaDb({
          host: url.hostname,
          port: Number(url.port || 3306),
          user: decodeURIComponent(url.username),
          password: decodeURIComponent(url.password),
          database: test.name,
          connectionLimit: 4,
        }),
      });
    },
    transaction: (fn) => prisma.$transaction(fn),
    executor: (tx) => prismaExecutor(tx),
    executorOfRoot: () => prismaExecutor(prisma),
    runner: () => prismaTransactions(prisma),
    insertItem: async (tx, key) => void (await tx.item.create({ data: { key, value: 1 } })),
    nested: (tx, fn) => tx.$transaction(fn),
    close: () => prisma.$disconnect(),
  });
});
