import type { OutboxEvent } from '@outboxkit/outbox-core';
import { MysqlOutboxStore, transaction as mysqlTransaction } from '@outboxkit/outbox-mysql';
import { MYSQL_URL } from '@outboxkit/test-services';
import { createPool, type Pool as MysqlPool } from 'mysql2/promise';
import { randomName } from './random-name.js';

/** A MariaDB database of its own for one test file. */
export class MysqlFixture {
  readonly database = randomName('relay');
  readonly #admin: MysqlPool = createPool({ uri: MYSQL_URL, connectionLimit: 1 });
  #pool: MysqlPool | undefined;

  get url(): string {
    const url = new URL(MYSQL_URL);
    url.pathname = `/${this.database}`;
    return url.toString();
  }

  async init(): Promise<void> {
    await this.#admin.query(`CREATE DATABASE \`${this.database}\``);
    this.#pool = createPool({ uri: this.url, connectionLimit: 4 });
  }

  async enqueue(table: string, events: readonly OutboxEvent[]): Promise<void> {
    const pool = this.#pool as MysqlPool;
    const store = new MysqlOutboxStore({ pool, table });
    await mysqlTransaction(pool, async (connection) => {
      for (let i = 0; i < events.length; i += 1000) await store.enqueue(connection, events.slice(i, i + 1000));
    });
  }

  async dispose(): Promise<void> {
    await this.#pool?.end();
    await this.#admin.query(`DROP DATABASE IF EXISTS \`${this.database}\``);
    await this.#admin.end();
  }
}
