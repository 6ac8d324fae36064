import { randomBytes } from 'node:crypto';
import { MYSQL_URL } from '@outboxkit/test-services';
import mysql from 'mysql2/promise';

/** A fresh database for one test file, with pools on it; `dispose()` drops it and ends every pool. */
export interface TestDatabase {
  readonly name: string;
  /** A new pool on the database (ended by `dispose()`). */
  pool(connectionLimit?: number): mysql.Pool;
  /** A single connection on the database, for admin statements (KILL, inspection). */
  readonly admin: mysql.Connection;
  dispose(): Promise<void>;
}

/** Creates `outboxkit_<random>` on the test server. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `outboxkit_${randomBytes(6).toString('hex')}`;
  const admin = await mysql.createConnection({ uri: MYSQL_URL }).catch((error: unknown) => {
    throw new Error(`cannot reach MySQL/MariaDB at ${MYSQL_URL}: set OUTBOX_MYSQL_URL to a server the tests may create databases on`, {
      cause: error,
    });
  });
  await admin.query(`CREATE DATABASE \`${name}\``);
  await admin.query(`USE \`${name}\``);
  const pools: mysql.Pool[] = [];
  return {
    name,
    admin,
    pool(connectionLimit = 10) {
      const pool = mysql.createPool({ uri: MYSQL_URL, database: name, connectionLimit, maxIdle: connectionLimit });
      pools.push(pool);
      return pool;
    },
    async dispose() {
      await Promise.allSettled(pools.map((pool) => pool.end()));
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.end();
    },
  };
}
