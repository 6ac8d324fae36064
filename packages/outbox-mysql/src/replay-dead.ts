import { giveBack, type MysqlPoolLike, runStatement, selectRows } from './mysql-like.js';
import type { OutboxSql } from './sql/outbox-sql.js';
import { stampPlan } from './subject-sequence.js';
import { rollbackQuietly } from './transaction.js';

/** Dead rows re-stamped per transaction by `replayDead('all')`. */
const RESTAMP_BATCH = 500;

/**
 * Makes dead rows pending again, attempts reset. Without `restamp` (no sequences, or
 * deadBlocksSubject) one UPDATE: each row keeps its `seq` and sequence, so it goes before the later
 * rows of its subject. With `restamp`, a row that has a sequence gets a new one at the end of its
 * subject (the relay published a gap marker for the old number) and a new `seq` at the end of the
 * table, so it is claimed after its subject's pending rows; rows without a sequence stay in place.
 * Returns how many rows became pending. Errors come back untranslated: the store retries and
 * translates them.
 */
export async function replayDead(pool: MysqlPoolLike, sql: OutboxSql, ids: readonly string[] | 'all', restamp: boolean): Promise<number> {
  const which = ids === 'all' ? 'all' : ids.length;
  const idValues = ids === 'all' ? [] : [...ids];
  if (!restamp) return (await runStatement(pool, sql.replayInPlace(which, false), idValues)).affectedRows;
  if (ids !== 'all') return restampBatch(pool, sql, idValues, idValues.length);
  let replayed = (await runStatement(pool, sql.replayInPlace('all', true))).affectedRows;
  for (;;) {
    const moved = await restampBatch(pool, sql, 'all', RESTAMP_BATCH);
    replayed += moved;
    if (moved < RESTAMP_BATCH) return replayed;
  }
}

/**
 * One READ COMMITTED transaction: locks up to `limit` dead rows with a sequence (all of `ids`, or
 * the oldest of all), bumps their subjects' counters (locked in subject order, as `enqueue` does),
 * copies them to the end of the table with their new numbers and deletes the originals; with
 * `ids`, also makes those without a sequence pending in place. Returns the rows made pending.
 *
 * The dead rows are locked before the counters, the reverse of `enqueue`, which cannot deadlock
 * with it: `enqueue` never touches an existing row. READ COMMITTED, as the claim, so that the
 * locking read of the dead rows takes no gap locks that would block producers' inserts.
 */
async function restampBatch(pool: MysqlPoolLike, sql: OutboxSql, ids: string[] | 'all', limit: number): Promise<number> {
  const connection = await pool.getConnection();
  let clean = false;
  try {
    await runStatement(connection, 'SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
    await runStatement(connection, 'START TRANSACTION');
    let replayed = 0;
    try {
      const which = ids === 'all' ? 'all' : ids.length;
      const idValues = ids === 'all' ? [] : ids;
      const rows = await selectRows<{ seq: number | string; subject: string }>(connection, sql.lockRestamp(which), [...idValues, limit]);
      if (rows.length > 0) {
        const seqs = rows.map((row) => row.seq);
        const plan = stampPlan(rows);
        await runStatement(connection, sql.bumpCounters(plan.subjects), plan.counters);
        await runStatement(connection, sql.parkIds(seqs.length), seqs);
        const offsets = rows.flatMap((row, index) => [row.seq, plan.offsets[index]]);
        replayed += (await runStatement(connection, sql.copyRestamped(seqs.length), [...offsets, ...seqs])).affectedRows;
        await runStatement(connection, sql.deleteParked(seqs.length), seqs);
      }
      if (ids !== 'all') replayed += (await runStatement(connection, sql.replayInPlace(ids.length, true), ids)).affectedRows;
      await runStatement(connection, 'COMMIT');
    } catch (error) {
      clean = await rollbackQuietly(connection);
      throw error;
    }
    clean = true;
    return replayed;
  } finally {
    giveBack(connection, clean);
  }
}
