import { randomUUID } from 'node:crypto';
import type { ClaimedBatch } from '@outboxkit/outbox-core';
import { giveBack, type MysqlPoolLike, runStatement, selectRows } from './mysql-like.js';
import { toRecord } from './records.js';
import type { OutboxSql, RecordRow } from './sql/outbox-sql.js';
import { rollbackQuietly } from './transaction.js';

/**
 * Leases up to `batchSize` ready subject heads for `leaseMs` under a new token.
 *
 * Why two steps. The obvious single statement, `SELECT ... WHERE NOT EXISTS (earlier pending row of
 * the subject) ... FOR UPDATE SKIP LOCKED`, is only safe if the correlated subquery is a plain
 * consistent read. If the server treated it as part of the locking read, it would *skip* a
 * predecessor that another relay has locked, find no earlier row, and lease the second event of a
 * subject while the first is in flight. MariaDB 10.11 reads such subqueries without locks (checked
 * by test/claim-order.test.ts), and MySQL documents the same for subqueries, but MySQL 8.0.17+ rewrites
 * NOT EXISTS into an antijoin, after which whether that table is read with locks is an optimizer
 * detail we would be betting per-subject order on. So:
 *
 * 1. a non-locking, autocommit SELECT picks head candidates (up to 2 x batchSize, so a claimer that
 *    races another still finds rows the other did not take);
 * 2. a short READ COMMITTED transaction locks those rows by primary key with `FOR UPDATE SKIP
 *    LOCKED`, re-checking readiness on the latest committed version, sets lease and token, commits.
 *
 * A candidate stays a head until it is completed or dead-lettered: writers append with a larger
 * `seq` (update the aggregate, then append), so no earlier row of its subject can appear. Step 2
 * therefore needs no subquery, and no relay ever holds a row lock while waiting on another.
 * READ COMMITTED because under REPEATABLE READ a primary-key lookup of a row deleted since step 1
 * takes a gap lock, which would block writers' inserts at the end of the table. The transaction
 * never spans broker I/O: publishing starts after COMMIT, fenced by the token.
 */
export async function claimHeads(pool: MysqlPoolLike, sql: OutboxSql, batchSize: number, leaseMs: number): Promise<ClaimedBatch> {
  const token = randomUUID();
  // Taken before the lease is written, so the relay's deadline is never later than the database's.
  const leaseUntil = new Date(Date.now() + leaseMs);
  const connection = await pool.getConnection();
  let clean = false;
  try {
    const candidates = await selectRows<{ seq: number | string }>(connection, sql.candidates, [batchSize * 2]);
    if (candidates.length === 0) {
      clean = true;
      return { token, records: [], leaseUntil };
    }
    const seqs = candidates.map((row) => row.seq);
    await runStatement(connection, 'SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
    await runStatement(connection, 'START TRANSACTION');
    let rows: RecordRow[];
    try {
      rows = await selectRows<RecordRow>(connection, sql.lockCandidates(seqs.length), [...seqs, batchSize]);
      if (rows.length > 0) await runStatement(connection, sql.lease(rows.length), [token, leaseMs, ...rows.map((row) => row.seq)]);
      await runStatement(connection, 'COMMIT');
    } catch (error) {
      clean = await rollbackQuietly(connection);
      throw error;
    }
    clean = true;
    return { token, records: rows.map(toRecord), leaseUntil };
  } finally {
    giveBack(connection, clean);
  }
}
