import type { TableName } from '../table-name.js';

/** `?, ?, ?` for `count` values. */
export function placeholders(count: number): string {
  return new Array<string>(count).fill('?').join(', ');
}

/** Epoch milliseconds of a UTC `DATETIME`, computed by the server so the session time zone never matters. */
export function epochMs(column: string): string {
  return `(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', ${column}) DIV 1000)`;
}

/** A UTC `DATETIME` from epoch milliseconds passed as a parameter. */
export const fromEpochMs = `TIMESTAMPADD(MICROSECOND, ? * 1000, '1970-01-01 00:00:00')`;

const recordColumns = `seq, id, type, source, subject, ${epochMs('`time`')} AS time_ms, payload, headers, attempts, subject_seq`;
/** A claim's columns: the payload's size instead of the payload, which is read only for the rows leased within the budget. */
const claimColumns = `seq, id, type, source, subject, ${epochMs('`time`')} AS time_ms, LENGTH(payload) AS payload_bytes, headers, attempts, subject_seq`;

/** The columns a claimed or dead record is built from. */
export interface RecordRow {
  seq: number | string;
  id: string;
  type: string;
  source: string;
  subject: string;
  time_ms: number | string;
  payload: string;
  headers: string;
  attempts: number | string;
  /** The subject's sequence; null for a row written without one. */
  subject_seq: number | string | null;
}

/** A locked claim candidate: a record without its payload, and the payload's size in bytes. */
export type ClaimRow = Omit<RecordRow, 'payload'> & { payload_bytes: number | string };

/** A dead row: a record plus its last error and when it died. */
export interface DeadRow extends RecordRow {
  last_error: string | null;
  dead_at_ms: number | string;
}

/** What changes the statements of one store. */
export interface OutboxSqlOptions {
  readonly deadBlocksSubject?: boolean;
}

/** Every statement of the outbox store, with the table name spliced in once. */
export function outboxSql(table: TableName, options: OutboxSqlOptions = {}) {
  const t = table.quoted;
  const counter = table.subjectSeqQuoted;
  const reset = `state = 'pending', attempts = 0, available_at = UTC_TIMESTAMP(3), dead_at = NULL, claim_token = NULL, locked_until = NULL`;
  // With deadBlocksSubject a head is not a candidate while an earlier dead row of its subject
  // exists: one dive into <table>_head (state, subject, seq) per candidate.
  const notBehindDead = (alias: string) =>
    options.deadBlocksSubject
      ? `
         AND NOT EXISTS (SELECT 1 FROM ${t} AS d WHERE d.state = 'dead' AND d.subject = ${alias}.subject AND d.seq < ${alias}.seq)`
      : '';
  return {
    insert: (rows: number) =>
      `INSERT INTO ${t} (id, type, source, subject, \`time\`, payload, headers, available_at) VALUES ` +
      new Array<string>(rows).fill('(?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3))').join(', '),

    // The stamp, in the caller's transaction (see stampPlan): first add each subject's count to its
    // counter row, in subject order. The upsert keeps the row's exclusive lock until the transaction
    // ends, so a second transaction writing the subject waits here until the first commits (or rolls
    // back, giving its numbers back): the sequence is the subject's commit order.
    bumpCounters: (subjects: number) =>
      `INSERT INTO ${counter} (subject, seq) VALUES ${new Array<string>(subjects).fill('(?, ?)').join(', ')}
       ON DUPLICATE KEY UPDATE seq = seq + VALUES(seq)`,

    // Then the rows, each with its counter's new value minus its offset (a read of a row this
    // transaction holds). The row's own `seq` (AUTO_INCREMENT) is drawn by this INSERT, after the
    // counter lock was taken, and in VALUES order: for the rows of one subject, seq order =
    // subject_seq order = commit order, and the claim (by seq) publishes them in that order.
    insertStamped: (rows: number) =>
      `INSERT INTO ${t} (id, type, source, subject, \`time\`, payload, headers, available_at, subject_seq) VALUES ` +
      new Array<string>(rows)
        .fill(`(?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3), (SELECT c.seq FROM ${counter} AS c WHERE c.subject = ?) - ?)`)
        .join(', '),

    // The stamp done by the server (migration 3's trigger, when the server let it be created): rows
    // of one subject, each marked `subject_seq = 0`; the trigger bumps the counter row and sets the
    // row's number before the row is written, in VALUES order, under the same row lock as above.
    insertForTrigger: (rows: number) =>
      `INSERT INTO ${t} (id, type, source, subject, \`time\`, payload, headers, available_at, subject_seq) VALUES ` +
      new Array<string>(rows).fill('(?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3), 0)').join(', '),

    // Step 1 of a claim: plain (non-locking) consistent reads that pick ready subject heads.
    // A row is a head when no earlier pending row of its subject exists: that depends on rows
    // existing, not on leases, so a subject whose head is leased, waiting for a retry or being
    // completed contributes nothing. Two formulations, because each is fast where the other is slow:
    //
    // 1a. the oldest `window` pending rows in seq order: they are a prefix of the pending rows (one
    //     statement, one snapshot), so any earlier pending row of a subject is in the window too, and
    //     a subject's head is its smallest seq in the window: a GROUP BY over the window, no dive into
    //     the table per row. The window is read through the primary key, in seq order, stopping after
    //     `window` pending rows; left to itself the optimizer reads it through <table>_head, every
    //     pending entry then sorted, and the claim grew with the backlog (200,000 rows on 1,000
    //     subjects: 116,000 rows examined, ~36 ms; this way 5,000 rows, ~7 ms; docs/design/relay-claims.md).
    //     Dead rows before the oldest pending one are read past, one entry each. O(window) however
    //     deep the backlog, and enough when heads are dense at the front (many subjects);
    windowCandidates: `SELECT o.seq, ${epochMs('UTC_TIMESTAMP(3)')} AS now_ms FROM (
         SELECT MIN(w.seq) AS seq FROM (
           SELECT seq, subject FROM ${t} FORCE INDEX (PRIMARY) WHERE state = 'pending' ORDER BY seq LIMIT ?
         ) AS w
         GROUP BY w.subject
       ) AS heads
       JOIN ${t} AS o ON o.seq = heads.seq
       WHERE o.available_at <= UTC_TIMESTAMP(3)
         AND (o.locked_until IS NULL OR o.locked_until <= UTC_TIMESTAMP(3))${notBehindDead('o')}
       ORDER BY o.seq
       LIMIT ?`,

    // 1b. when the window holds too few (the front is the deep backlog of a few subjects whose heads
    //     are leased), MIN(seq) per subject: grouped by (state, subject), a leftmost prefix of
    //     <table>_head (state, subject, seq), it is a loose index scan ("Using index for group-by"),
    //     one dive per subject however deep its backlog, so heads far behind the window are found.
    //     (WHERE state = 'pending' GROUP BY subject is not a prefix and reads every index entry.)
    headCandidates: `SELECT o.seq, ${epochMs('UTC_TIMESTAMP(3)')} AS now_ms FROM (
         SELECT MIN(h.seq) AS seq FROM ${t} AS h GROUP BY h.state, h.subject HAVING h.state = 'pending'
       ) AS heads
       JOIN ${t} AS o ON o.seq = heads.seq
       WHERE o.available_at <= UTC_TIMESTAMP(3)
         AND (o.locked_until IS NULL OR o.locked_until <= UTC_TIMESTAMP(3))${notBehindDead('o')}
       ORDER BY o.seq
       LIMIT ?`,

    // Step 2, inside a short READ COMMITTED transaction: lock the candidates by primary key, skipping
    // rows another claimer holds, and re-check readiness on the latest committed version (a locking
    // read does not use the snapshot), so a row leased since step 1 is not leased twice.
    lockCandidates: (count: number) =>
      `SELECT ${claimColumns} FROM ${t}
       WHERE seq IN (${placeholders(count)})
         AND state = 'pending'
         AND available_at <= UTC_TIMESTAMP(3)
         AND (locked_until IS NULL OR locked_until <= UTC_TIMESTAMP(3))
       ORDER BY seq
       LIMIT ?
       FOR UPDATE SKIP LOCKED`,

    // The payloads of the leased rows within maxEventBytes, read under the claim's row locks.
    // (LENGTH is the byte length; reading it above does not bring the payloads to the relay.)
    payloads: (count: number) => `SELECT seq, payload FROM ${t} WHERE seq IN (${placeholders(count)})`,

    // The lease runs from the start of the claim on the database clock (now_ms of the candidate
    // query) so it ends when the relay's own deadline does, not one claim duration later.
    lease: (count: number) =>
      `UPDATE ${t} SET claim_token = ?, locked_until = ${fromEpochMs}
       WHERE seq IN (${placeholders(count)})`,

    // complete, release and deadLetter are compare-and-set on the token and an unexpired lease: a
    // relay whose lease ran out changes nothing (another relay may hold the row, or will).
    complete: (count: number) =>
      `DELETE FROM ${t} WHERE id IN (${placeholders(count)}) AND claim_token = ? AND state = 'pending' AND locked_until > UTC_TIMESTAMP(3)`,

    release: (count: number) => {
      const cases = new Array<string>(count).fill('WHEN ? THEN ?').join(' ');
      // The retry time is the server's clock plus the delay: the relay's clock never enters it.
      const retry = new Array<string>(count).fill('WHEN ? THEN TIMESTAMPADD(MICROSECOND, ? * 1000, UTC_TIMESTAMP(3))').join(' ');
      return `UPDATE ${t} SET
         available_at = CASE id ${retry} END,
         last_error = CASE id ${cases} END,
         attempts = attempts + CASE id ${cases} ELSE 0 END,
         claim_token = NULL, locked_until = NULL
       WHERE id IN (${placeholders(count)}) AND claim_token = ? AND state = 'pending' AND locked_until > UTC_TIMESTAMP(3)`;
    },

    deadLetter: (count: number) =>
      `UPDATE ${t} SET
         state = 'dead', dead_at = UTC_TIMESTAMP(3), attempts = attempts + 1,
         last_error = CASE id ${new Array<string>(count).fill('WHEN ? THEN ?').join(' ')} END,
         claim_token = NULL, locked_until = NULL
       WHERE id IN (${placeholders(count)}) AND claim_token = ? AND state = 'pending' AND locked_until > UTC_TIMESTAMP(3)`,

    listDead: `SELECT ${recordColumns}, last_error, ${epochMs('dead_at')} AS dead_at_ms FROM ${t}
       WHERE state = 'dead' AND seq > IFNULL((SELECT s.seq FROM ${t} AS s WHERE s.id = ?), 0)
       ORDER BY seq LIMIT ?`,

    getDead: `SELECT ${recordColumns}, last_error, ${epochMs('dead_at')} AS dead_at_ms FROM ${t} WHERE id = ? AND state = 'dead'`,

    // replayDead of rows that keep their place, pending again: every dead row when no row is
    // re-stamped (subjectSequence off, or deadBlocksSubject), else the rows without a sequence.
    replayInPlace: (count: number | 'all', onlyUnstamped: boolean) =>
      `UPDATE ${t} SET ${reset}
       WHERE state = 'dead'${onlyUnstamped ? ' AND subject_seq IS NULL' : ''}${count === 'all' ? '' : ` AND id IN (${placeholders(count)})`}`,

    // replayDead with a new sequence, in a READ COMMITTED transaction (see replay-dead.ts): lock the
    // dead rows that have one (by primary key order), ...
    lockRestamp: (count: number | 'all') =>
      `SELECT seq, subject FROM ${t}
       WHERE state = 'dead' AND subject_seq IS NOT NULL${count === 'all' ? '' : ` AND id IN (${placeholders(count)})`}
       ORDER BY seq LIMIT ? FOR UPDATE`,
    // ... free their ids for the copies (keeping each in claim_token, NULL on a dead row; a CHAR(36)
    // like id, and assigned first, so it gets the old id under either assignment semantics) ...
    parkIds: (count: number) => `UPDATE ${t} SET claim_token = id, id = CONCAT('replaying:', seq) WHERE seq IN (${placeholders(count)})`,
    // ... copy them, in seq order, to the end of the table with new seqs and pending again, each
    // with its counter's new value minus its offset (a CASE on the old seq), then delete the old
    // rows. AUTO_INCREMENT cannot be drawn by an UPDATE, hence the copy: with its old seq, a row
    // with a new, later number would be published before its subject's pending rows.
    copyRestamped: (count: number) =>
      `INSERT INTO ${t} (id, type, source, subject, \`time\`, payload, headers, available_at, last_error, subject_seq)
       SELECT o.claim_token, o.type, o.source, o.subject, o.\`time\`, o.payload, o.headers, UTC_TIMESTAMP(3), o.last_error,
         (SELECT c.seq FROM ${counter} AS c WHERE c.subject = o.subject) - CASE o.seq ${new Array<string>(count).fill('WHEN ? THEN ?').join(' ')} END
       FROM ${t} AS o WHERE o.seq IN (${placeholders(count)}) ORDER BY o.seq`,
    deleteParked: (count: number) => `DELETE FROM ${t} WHERE seq IN (${placeholders(count)})`,

    purgeDeadIds: (count: number) => `DELETE FROM ${t} WHERE state = 'dead' AND id IN (${placeholders(count)})`,
    purgeDeadBatch: `DELETE FROM ${t} WHERE state = 'dead' ORDER BY seq LIMIT ?`,

    stats: `SELECT
         (SELECT COUNT(*) FROM ${t} WHERE state = 'pending') AS pending,
         (SELECT COUNT(*) FROM ${t} WHERE state = 'dead') AS dead,
         (SELECT TIMESTAMPDIFF(MICROSECOND, \`time\`, UTC_TIMESTAMP(3)) FROM ${t}
            WHERE state = 'pending' ORDER BY seq LIMIT 1) AS oldest_age_us`,

    subjectBacklog: `SELECT subject, COUNT(*) AS pending,
         TIMESTAMPDIFF(MICROSECOND, MIN(\`time\`), UTC_TIMESTAMP(3)) AS oldest_age_us
       FROM ${t} WHERE state = 'pending'
       GROUP BY subject ORDER BY pending DESC, subject LIMIT ?`,
    listFailing: `SELECT id, subject, type, attempts, last_error,
         GREATEST(0, TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(3), available_at)) AS retry_in_us
       FROM ${t} WHERE state = 'pending' AND attempts > 0 ORDER BY attempts DESC, seq LIMIT ?`,
  };
}

/** The statements of one store. */
export type OutboxSql = ReturnType<typeof outboxSql>;
