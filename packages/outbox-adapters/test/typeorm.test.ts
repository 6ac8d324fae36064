import 'reflect-metadata';
import { typeormExecutor, typeormTransactions } from '@outboxkit/adapters/typeorm';
import { DataSource, type EntityManager, EntitySchema } from 'typeorm';
import { describe } from 'vitest';
import { describeAdapter } from './adapter-suite.js';
import type { Dialect } from './databases.js';

interface Item {
  key: string;
  value: number;
}

const ItemEntity = new EntitySchema<Item>({
  name: 'Item',
  tableName: 'items',
  columns: { key: { type: String, primary: true }, value: { type: Number } },
});

for (const dialect of ['postgres', 'mysql'] as const satisfies Dialect[]) {
  describe(`TypeORM on ${dialect === 'postgres' ? 'PostgreSQL' : 'MariaDB'}`, () => {
    let dataSource: DataSource;
    describeAdapter<EntityManager>({
      dialect,
      async open(test) {
        dataSource = new DataSource(
          dialect === 'postgres'
            ? { type: 'postgres', url: test.url, schema: test.name, entities: [ItemEntity], poolSize: 4 }
            : { type: 'mariadb', url: test.url, entities: [ItemEntity], poolSize: 4 },
        );
        await dataSource.initialize();
      },
      transaction: (fn) => dataSource.transaction(fn),
      executor: (manager) => typeormExecutor(manager),
      executorOfRoot: () => typeormExecutor(dataSource.manager),
      runner: () => typeormTransactions(dataSource),
      insertItem: async (manager, key) => void (await manager.getRepository(ItemEntity).insert({ key, value: 1 })),
      nested: (manager, fn) => manager.transaction(fn),
      close: () => dataSource.destroy(),
    });
  });
}
