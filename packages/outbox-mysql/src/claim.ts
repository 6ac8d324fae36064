import { randomUUID } from 'node:crypto';
import type { ClaimedBatch, OutboxRecord } from '@outboxkit/outbox-core';
import { giveBack, type MysqlConnectionLike, type MysqlPoolLike, runStatement, selectRows } from './mysql-like.js';
import { toRecord } from './records.js';
import type { ClaimRow, OutboxSql } from './sql/outbox-sql.js';
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
 * 1. non-locking, autocommit SELECTs pick head candidates (up to 2 x batchSize, so a claimer that
 *    races another still finds rows the other did not take): see `pickCandidates`;
 * 2. a short READ COMMITTED transaction locks those rows by primary key with `FOR UPDATE SKIP
 *    LOCKED`, re-checking readiness on the latest committed version, sets lease and token, commits.
 *
 * A candidate stays a head until it is completed or dead-lettered: writers append with a larger
 * `seq` and commit in `seq` order within a subject (the subject's counter row serialises them; with
 * `subjectSequence: false`, the caller's update-then-append does), so no earlier row of its subject
 * can appear. Step 2
 * therefore needs no subquery, and no relay ever holds a row lock while waiting on another.
 * READ COMMITTED because under REPEATABLE READ a primary-key lookup of a row deleted since step 1
 * takes a gap lock, which would block writers' inserts at the end of the table. The transaction
 * never spans broker I/O: publishing starts after COMMIT, fenced by the token.
 */
export async function claimHeads(
  pool: MysqlPoolLike,
  sql: OutboxSql,
  strategy: CandidateStrategy,
  batchSize: number,
  leaseMs: number,
  budget: ClaimBudget,
): Promise<ClaimedBatch> {
  const token = randomUUID();
  const connection = await pool.getConnection();
  // Taken just before the candidate query, whose database clock starts the lease: (with synchronised
  // clocks) the relay's deadline comes first, by less than one round trip.
  const leaseUntil = new Date(Date.now() + leaseMs);
  let clean = false;
  try {
    const { seqs, startedMs } = await pickCandidates(connection, sql, strategy, batchSize);
    if (seqs.length === 0) {
      clean = true;
      return { token, records: [], leaseUntil };
    }
    await runStatement(connection, 'SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
    await runStatement(connection, 'START TRANSACTION');
    let records: OutboxRecord[];
    try {
      const locked = await selectRows<ClaimRow>(connection, sql.lockCandidates(seqs.length), [...seqs, batchSize]);
      const rows = withinBudget(locked, budget);
      if (rows.length > 0)
        await runStatement(connection, sql.lease(rows.length), [token, startedMs + leaseMs, ...rows.map((row) => row.seq)]);
      const wanted = rows.filter((row) => Number(row.payload_bytes) <= budget.maxEventBytes).map((row) => row.seq);
      const payloads = new Map<string, string>();
      if (wanted.length > 0) {
        for (const row of await selectRows<{ seq: number | string; payload: string }>(connection, sql.payloads(wanted.length), wanted)) {
          payloads.set(String(row.seq), row.payload);
        }
      }
      records = rows.map((row) => {
        const bytes = Number(row.payload_bytes);
        if (bytes > budget.maxEventBytes) return { ...toRecord({ ...row, payload: '' }), oversizedBytes: bytes };
        return toRecord({ ...row, payload: payloads.get(String(row.seq)) ?? '' });
      });
      await runStatement(connection, 'COMMIT');
    } catch (error) {
      clean = await rollbackQuietly(connection);
      throw error;
    }
    clean = true;
    return { token, records, leaseUntil };
  } finally {
    giveBack(connection, clean);
  }
}

/** The byte budget of one claim (see `ClaimOptions.maxBatchBytes`) and the store's `maxEventBytes`. */
export interface ClaimBudget {
  readonly maxBatchBytes: number;
  readonly maxEventBytes: number;
}

/**
 * The locked candidates (in seq order) to lease: each while the payload bytes before it are under
 * `maxBatchBytes`, so the first always is. A row over `maxEventBytes` counts 0: its payload is
 * never read. The rest stay locked until COMMIT, unleased, for the next claim.
 */
function withinBudget(rows: readonly ClaimRow[], budget: ClaimBudget): ClaimRow[] {
  let before = 0;
  let end = 0;
  for (; end < rows.length && before < budget.maxBatchBytes; end++) {
    const bytes = Number((rows[end] as ClaimRow).payload_bytes);
    if (bytes <= budget.maxEventBytes) before += bytes;
  }
  return rows.slice(0, end);
}

/** Rows of the pending window scanned by the first candidate query. */
const WINDOW_ROWS_PER_BATCH_ROW = 10;
const MIN_WINDOW_ROWS = 1000;
/** After the window came up short, claims that go straight to the per-subject scan before trying it again. */
const SKIP_WINDOW_CLAIMS = 10;

/** A candidate head, with the database clock (epoch ms) when the query ran. */
interface CandidateRow {
  seq: number | string;
  now_ms: number | string;
}

/** What one store learned about the shape of its backlog: which candidate query to start with. */
export interface CandidateStrategy {
  skipWindow: number;
}

/**
 * Head candidates, oldest first: the window scan (cheap when heads are dense at the front), topped up
 * from the per-subject loose index scan when it found fewer than `batchSize`. When the window comes
 * up short, the next claims start with the per-subject scan (the backlog is a few deep subjects) and
 * try the window again after a while. Either query alone gives correct heads; this only picks the
 * cheaper one. Measured on a 20,000-row backlog (bench/scripts/outbox-mysql/claim-rate.mjs, shared 2-CPU machine): the
 * per-subject scan alone drained 200 deep subjects at ~3,000 rows/s but 20,000 one-row subjects at
 * only ~600 rows/s (it visits every subject per claim; the combination: ~2,000 rows/s); a NOT EXISTS
 * walk of the whole backlog took ~47 ms per claim once every head was leased.
 */
async function pickCandidates(
  connection: MysqlConnectionLike,
  sql: OutboxSql,
  strategy: CandidateStrategy,
  batchSize: number,
): Promise<{ seqs: Array<number | string>; startedMs: number }> {
  const want = batchSize * 2;
  let found: CandidateRow[] = [];
  if (strategy.skipWindow > 0) {
    strategy.skipWindow--;
  } else {
    const window = Math.max(MIN_WINDOW_ROWS, batchSize * WINDOW_ROWS_PER_BATCH_ROW);
    found = await selectRows<CandidateRow>(connection, sql.windowCandidates, [window, want]);
    if (found.length >= batchSize) return { seqs: found.map((row) => row.seq), startedMs: Number(found[0]!.now_ms) };
    // Short: a small backlog (then both queries are cheap) or a deep one (then the per-subject scan is).
    strategy.skipWindow = SKIP_WINDOW_CLAIMS;
  }
  const more = await selectRows<CandidateRow>(connection, sql.headCandidates, [want]);
  const first = found[0] ?? more[0];
  if (first === undefined) return { seqs: [], startedMs: 0 };
  const merged = new Map<string, number | string>();
  for (const row of [...found, ...more]) merged.set(String(row.seq), row.seq);
  const seqs = [...merged.values()].sort((a, b) => Number(a) - Number(b)).slice(0, want);
  return { seqs, startedMs: Number(first.now_ms) };
}
