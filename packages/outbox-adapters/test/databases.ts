import { randomBytes } from 'node:crypto';
import { MYSQL_URL, PG_URL } from '@outboxkit/test-services';
import mysql from 'mysql2/promise';
import pg from 'pg';

export type Dialect = 'postgres' | 'mysql';

/** A fresh schema (PostgreSQL) or database (MariaDB) for one test file, with an `items` table the ORMs write to. */
export interface TestDatabase {
  readonly dialect: Dialect;
  /** The schema or database name. */
  readonly name: string;
  /** Connection settings onto it: every new connection's default schema is `name`. */
  readonly url: string;
  /** A plain query on it, outside any transaction. */
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
  /** The keys in `items`, sorted. */
  items(): Promise<string[]>;
  drop(): Promise<void>;
}

export async function createTestDatabase(dialect: Dialect): Promise<TestDatabase> {
  const name = `obx_adapters_${randomBytes(5).toString('hex')}`;
  return dialect === 'postgres' ? createPgSchema(name) : createMysqlDatabase(name);
}

async function createPgSchema(name: string): Promise<TestDatabase> {
  const url = new URL(PG_URL);
  url.searchParams.set('options', `-c search_path=${name}`);
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  await pool.query(`CREATE SCHEMA "${name}"`);
  await pool.query(`CREATE TABLE "${name}".items (key text PRIMARY KEY, value integer NOT NULL)`);
  const query = async <Row>(sql: string, params?: unknown[]) => (await pool.query(sql, params)).rows as Row[];
  return {
    dialect: 'postgres',
    name,
    url: url.toString(),
    query,
    async items() {
      return (await query<{ key: string }>('SELECT key FROM items ORDER BY key')).map((row) => row.key);
    },
    async drop() {
      await pool.query(`DROP SCHEMA "${name}" CASCADE`);
      await pool.end();
    },
  };
}

async function createMysqlDatabase(name: string): Promise<TestDatabase> {
  const admin = await mysql.createConnection({ uri: MYSQL_URL });
  await admin.query(`CREATE DATABASE \`${name}\``);
  await admin.query(`USE \`${name}\``);
  await admin.query('CREATE TABLE items (`key` varchar(64) PRIMARY KEY, value int NOT NULL) ENGINE=InnoDB');
  const url = new URL(MYSQL_URL);
  url.pathname = `/${name}`;
  const query = async <Row>(sql: string, params?: unknown[]) => (await admin.query(sql, params))[0] as Row[];
  return {
    dialect: 'mysql',
    name,
    url: url.toString(),
    query,
    async items() {
      return (await query<{ key: string }>('SELECT `key` FROM items ORDER BY `key`')).map((row) => row.key);
    },
    async drop() {
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.end();
    },
  };
}
