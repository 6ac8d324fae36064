import { randomBytes } from 'node:crypto';
import { PG_URL } from '@outboxkit/test-services';
import pg from 'pg';

/** A fresh schema name, so each test file is isolated from the others. */
export function freshSchemaName(prefix = 'obx'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/** A pool on the test server with a fresh schema created; `drop()` removes the schema and ends the pool. */
export async function testDatabase(options: { max?: number; prefix?: string; asyncCommit?: boolean } = {}) {
  const pool = new pg.Pool({
    connectionString: PG_URL,
    max: options.max ?? 10,
    // For load tests only: commits skip the WAL flush wait, which is durability, not visibility.
    ...(options.asyncCommit ? { options: '-c synchronous_commit=off' } : {}),
  });
  // A test that kills backends makes the pool report errors on idle clients; they are expected.
  pool.on('error', () => {});
  const schema = freshSchemaName(options.prefix);
  await pool.query(`CREATE SCHEMA "${schema}"`);
  return {
    pool,
    schema,
    async drop(): Promise<void> {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    },
  };
}
