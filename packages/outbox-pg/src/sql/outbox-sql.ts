import { createHash } from 'node:crypto';
import type { TableNames } from '../table-name.js';

/** A row as the claim and the dead-letter reads return it. */
export type RecordRow = {
  id: string;
  type: string;
  source: string;
  subject: string;
  time: string;
  payload: string;
  headers: Record<string, string>;
  attempts: number;
  /** The subject's sequence (bigint as text), null when the row was written without one. */
  subject_seq: string | null;
  /** Claims only: the payload's size, and whether it was left out for being over `maxEventBytes`. */
  payload_bytes?: number | string;
  oversized?: boolean;
};
/** A claimed row: a record and its write order. */
export type ClaimRow = RecordRow & { seq: string };
/** A dead row: a record, its last error and when it died. */
export type DeadRow = RecordRow & { last_error: string | null; dead_at: Date };

/**
 * Every outbox statement, built once per store from validated, quoted names.
 * Parameters are always bound; batches travel as arrays through `unnest`.
 */
export interface OutboxSql {
  readonly enqueue: string;
  readonly lockForEnqueue: string;
  /** Claims and leases up to `batchSize` subject heads; run after {@link orderedWalk}, in its transaction. */
  claim(args: ClaimArgs): string;
  /** The same claim for the heads the bounded walk of `claim` did not reach. */
  claimBySubject(args: ClaimArgs): string;
  /** Waits for this table's claim turn until the claim's transaction ends (see {@link claimTurn}). */
  readonly claimTurn: string;
  readonly complete: string;
  readonly release: string;
  readonly deadLetter: string;
  readonly listDead: string;
  readonly listDeadAfter: string;
  readonly getDead: string;
  readonly replayAll: string;
  readonly replayIds: string;
  readonly purgeAll: string;
  readonly purgeIds: string;
  readonly stats: string;
  readonly subjectBacklog: string;
  readonly listFailing: string;
  readonly armWithBarrier: string;
  readonly arm: string;
  readonly disarm: string;
}

/**
 * The claim's parameters as SQL text: `$1`, `$2`, `$3` in the prepared statement, or literals
 * (integers we validated, a UUID we generated) when statements are not prepared.
 */
export interface ClaimArgs {
  readonly batchSize: string;
  readonly leaseMs: string;
  readonly token: string;
  /** The byte budget: rows are leased while the payload bytes before them are under it. */
  readonly maxBatchBytes: string;
  /** A row whose payload is larger is leased without its payload (`oversized`), to be dead-lettered. */
  readonly maxEventBytes: string;
}

/** The claim's parameter types, in `ClaimArgs` order, for `PREPARE`. */
export const claimParamTypes = '(integer, integer, uuid, bigint, bigint)';

const recordColumns = `id, type, source, subject, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS time, payload, headers, attempts, subject_seq`;

// Session settings for the rest of an implicit transaction: only the ordered walk of the (seq)
// index with nested-loop probes is left, so a claim reads rows until it has its batch, not the backlog.
// JIT goes off too: the disabled plans' penalty costs push the estimate past jit_above_cost, and
// compiling took 2.5 s for a statement that runs in under 1 ms (measured).
export const orderedWalk = `SELECT set_config('enable_sort', 'off', true), set_config('enable_bitmapscan', 'off', true),
  set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true), set_config('jit', 'off', true);`;

/**
 * `claimBySubject`'s session setting, after {@link orderedWalk}: sorting is allowed again. Its heads (at
 * most 4 x batchSize, found subject by subject) are fetched by address and sorted into write order;
 * with sorting off the planner walked the whole (seq) index instead, filtering on them: 1,460 ms for
 * an empty claim on 200,000 pending rows on 1,000 subjects, 28 ms with the sort (EXPLAIN ANALYZE).
 */
export const sortedHeads = `SELECT set_config('enable_sort', 'on', true);`;

/** The claim's window: pending rows per batch row that the walk reads at most before `claimBySubject` takes over. */
const CLAIM_WINDOW_PER_BATCH_ROW = 10;
const MAX_BIGINT = '9223372036854775807';

/** The first key of every claim turn's advisory lock: "obxk". Other applications' two-key advisory locks on it would wait on claims. */
export const CLAIM_TURN_NAMESPACE = 0x6f62786b;

/**
 * Claims on one table take turns. The claim's implicit transaction first waits for a transaction-level
 * advisory lock, keyed by {@link CLAIM_TURN_NAMESPACE} and a hash of the table's qualified name, so
 * one claim of a table runs at a time, whatever the number of relays; publishing and `complete` stay
 * concurrent. Order never depended on it (the claim's `NOT EXISTS` keeps it with any interleaving).
 * It stops the waste of concurrent claims (docs/design/relay-claims.md): a claim's snapshot then
 * always sees the leases of the claims before it, so it passes them by reading their row, instead
 * of locking and re-checking rows another relay just leased and holding those locks until its own
 * walk ends, which made that relay's `complete` wait. Measured with 1, 2 and 4 relay processes on
 * one table (100,000 events on 1,000 subjects, `npx tsx bench/micro/relay-replicas.ts`).
 * A claim that waits for its turn spends no CPU; the lock ends with the transaction, so a relay
 * killed mid-claim frees it with its connection.
 */
export function claimTurn(n: TableNames): string {
  const key = createHash('sha256').update(`${n.qualified}`).digest().readInt32BE(0);
  return `SELECT pg_advisory_xact_lock(${CLAIM_TURN_NAMESPACE}, ${key});`;
}

/**
 * Leases the `heads` CTE's rows (id, seq, payload_bytes) that fit the byte budget and returns them
 * in write order. A head is leased while the payload bytes of the heads before it are under
 * `maxBatchBytes` (so the first always is, and a batch holds at most the budget plus one row).
 * `octet_length` of a TOASTed text reads its stored size without detoasting it, and a row over
 * `maxEventBytes` comes back with an empty payload and `oversized`, counting 0 towards the budget:
 * its payload never leaves the database (the relay dead-letters it). Heads past the budget were
 * locked by `heads` but are not leased; the lock ends with this statement's transaction.
 */
function leaseHeads(t: string, { leaseMs, token, maxBatchBytes, maxEventBytes }: ClaimArgs): string {
  return `sized AS (
  SELECT id, payload_bytes, payload_bytes > ${maxEventBytes} AS oversized,
    coalesce(sum(CASE WHEN payload_bytes > ${maxEventBytes} THEN 0 ELSE payload_bytes END)
      OVER (ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS bytes_before
  FROM heads
), leased AS (
  UPDATE ${t} o SET locked_until = now() + ${leaseMs} * interval '1 millisecond', claim_token = ${token}
  FROM sized WHERE o.id = sized.id AND sized.bytes_before < ${maxBatchBytes}
  RETURNING o.seq, o.id, o.type, o.source, o.subject, o.time,
    CASE WHEN sized.oversized THEN '' ELSE o.payload END AS payload, sized.payload_bytes, sized.oversized, o.headers, o.attempts, o.subject_seq
)
SELECT seq, ${recordColumns}, payload_bytes, oversized FROM leased ORDER BY seq`;
}

/** What changes the statements of one store. */
export interface OutboxSqlOptions {
  readonly deadBlocksSubject?: boolean;
  /** Stamp `subject_seq` from the counter table (`enqueue`, and `replayDead` without deadBlocksSubject). @defaultValue true */
  readonly subjectSequence?: boolean;
}

/** The enqueue statement's input: one array per column, numbered per subject (`n` events of it in the call, `k`-th of them). */
const enqueueInput = `SELECT e.*, count(*) OVER (PARTITION BY e.subject) AS n, row_number() OVER (PARTITION BY e.subject ORDER BY e.ord) AS k
  FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[])
    WITH ORDINALITY AS e(id, type, source, subject, time, payload, headers, ord)`;

/**
 * Adds `n` to the counter of each subject of `input` (rows with `subject`, `n` and `k`, `k = 1` once
 * per subject) and returns the new values: the `counters` CTE of the stamping statements. The
 * upsert takes each counter row's lock until the transaction ends, in subject order, so two
 * transactions writing several subjects each take them in the same order and cannot deadlock.
 */
function bumpCounters(n: TableNames, input: string): string {
  return `counters AS (
  INSERT INTO ${n.subjectSeq} AS c (subject, seq)
  SELECT subject, n FROM ${input} WHERE k = 1 ORDER BY subject
  ON CONFLICT (subject) DO UPDATE SET seq = c.seq + excluded.seq
  RETURNING c.subject, c.seq
)`;
}

/** Pending rows at each end of the backlog that the wake-up's ready check reads at most. */
const READY_CHECK_ROWS = 5_000;

/**
 * The ready check of `arm` and `armWithBarrier`: is a row claimable among the newest
 * {@link READY_CHECK_ROWS} pending rows (a commit between the relay's last empty claim and its
 * arming, which no NOTIFY will announce) or the oldest ones (a retry or a lease come due)? Bounded
 * like the claim's walk: unbounded, it probed every pending row whenever none was claimable, 0.9-1.2 s
 * per idle wait on 200,000 pending rows whose subject heads were all leased (0.10-0.12 s bounded;
 * bench/scripts/outbox-pg/leased-heads.mjs), which an idle relay paid on every poll. A head further in (behind a row completed since) is found by the next claim,
 * at the poll interval, as before: no NOTIFY announces it either.
 */
function readyCheck(t: string, claimable: string): string {
  return `(EXISTS (SELECT 1 FROM ${t} o WHERE o.seq >= coalesce(
      (SELECT w.seq FROM ${t} w WHERE w.state = 'pending' ORDER BY w.seq DESC OFFSET ${READY_CHECK_ROWS - 1} LIMIT 1), 0)
    AND ${claimable})
  OR EXISTS (SELECT 1 FROM ${t} o WHERE o.seq <= coalesce(
      (SELECT w.seq FROM ${t} w WHERE w.state = 'pending' ORDER BY w.seq OFFSET ${READY_CHECK_ROWS - 1} LIMIT 1), ${MAX_BIGINT})
    AND ${claimable}))`;
}

/** Builds the statements for one table. */
export function outboxSql(n: TableNames, options: OutboxSqlOptions = {}): OutboxSql {
  const t = n.qualified;
  const stamp = options.subjectSequence ?? true;
  // A row is a claimable head when it is pending, due, not leased, and no earlier row of its subject
  // is still pending. See `claim` below for why the last condition is what keeps order. With
  // deadBlocksSubject, no earlier dead row of its subject may exist either. The NOT IN is a hashed
  // subplan, built once per statement from the dead rows' subjects, so the usual candidate (no dead
  // row in its subject) costs one hash probe; only a subject that has dead rows pays the precise
  // check, a walk of the (seq) WHERE state = 'dead' index. Draining 20,000 rows with 1,000 dead
  // rows in the table (node bench/scripts/outbox-pg/dead-blocks-subject.mjs): the precise check
  // alone on every candidate took 3,085 ms (503 ms without deadBlocksSubject); with the hashed
  // pre-check 600-1,029 ms (487-993 ms without), on a shared, loaded 2-CPU machine.
  const claimable = `o.state = 'pending' AND o.available_at <= now()
      AND (o.locked_until IS NULL OR o.locked_until <= now())
      AND NOT EXISTS (SELECT 1 FROM ${t} p WHERE p.subject = o.subject AND p.state = 'pending' AND p.seq < o.seq)${
        options.deadBlocksSubject
          ? `
      AND (o.subject NOT IN (SELECT d.subject FROM ${t} d WHERE d.state = 'dead')
        OR NOT EXISTS (SELECT 1 FROM ${t} d WHERE d.state = 'dead' AND d.subject = o.subject AND d.seq < o.seq))`
          : ''
      }`;
  return {
    claimTurn: claimTurn(n),
    // One round trip for any number of events. The outer SELECT is the coalesced wake-up: it only
    // finds the flag row armed when the relay armed it before going idle, and then NOTIFYs at
    // commit (whose commit-time lock serializes committers, so only the commits between the relay
    // arming and its disarming on wake-up pay for it). It only reads the flag: producers never lock
    // the flag row, so they never wait on each other there. The INSERT's ROW EXCLUSIVE lock on the
    // outbox table, held until the transaction ends, is what lets the relay wait for in-flight
    // producers (see `armWithBarrier`). `::text`: pg_notify returns void, a column type that
    // clients typing every result column refuse (Prisma's driver adapters: UnsupportedNativeDataType).
    enqueue: stamp
      ? // The same, stamping each row with its subject's sequence: the counters CTE upserts every
        // subject's counter row (see bumpCounters), the INSERT numbers the rows of a subject
        // consecutively in call order. The row's own seq (identity) is drawn when the INSERT
        // produces the row, which needs its counter's new value first: a producer allocates seq
        // only while it holds its subject's counter lock, so for the rows of one subject, seq
        // order = subject_seq order = commit order, and the relay's claim (by seq) follows it.
        // Still one round trip; the cost is one more index row write per subject in the call.
        `WITH e AS (
  ${enqueueInput}
), ${bumpCounters(n, 'e')}, inserted AS (
  INSERT INTO ${t} (id, type, source, subject, time, payload, headers, subject_seq)
  SELECT e.id, e.type, e.source, e.subject, e.time, e.payload, e.headers::jsonb, c.seq - e.n + e.k
  FROM e JOIN counters c ON c.subject = e.subject
  ORDER BY e.ord
)
SELECT pg_notify($8, '')::text FROM ${n.wakeup} WHERE armed`
      : `WITH inserted AS (
  INSERT INTO ${t} (id, type, source, subject, time, payload, headers)
  SELECT e.id, e.type, e.source, e.subject, e.time, e.payload, e.headers::jsonb
  FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[])
    WITH ORDINALITY AS e(id, type, source, subject, time, payload, headers, ord)
  ORDER BY e.ord
)
SELECT pg_notify($8, '')::text FROM ${n.wakeup} WHERE armed`,

    // Fails with 25P01 outside a transaction block; inside one it takes the lock INSERT takes anyway.
    lockForEnqueue: `LOCK TABLE ${t} IN ROW EXCLUSIVE MODE`,

    // Per-subject order with any number of relays. SKIP LOCKED alone is not enough: relay A leases
    // the head of subject S; relay B, whose snapshot predates A's commit, sees that head unleased
    // and locked, skips it, and would take S's second row. So a row is claimable only if no earlier
    // *pending* row of its subject exists. That depends on row existence, not on lease state: the
    // earlier row stays pending (leased or not, committed lease or not) until it is completed
    // (deleted) or dead-lettered, so two relays' uncommitted leases cannot race. A head waiting for
    // its retry (available_at in the future) holds back its own subject only; dead rows are not
    // pending, so they hold back nothing. The scan walks the (seq) partial index in write order;
    // the NOT EXISTS is one probe of the (subject, seq) partial index. One short statement, in
    // autocommit: no transaction stays open while the relay talks to the broker.
    //
    // The plan must walk the (seq) index in order and stop after `batchSize` heads, probing
    // (subject, seq) per row. On a young or mostly empty table the planner's estimates favour a
    // bitmap scan of every pending row plus a sort, which costs O(backlog) per claim and is at its
    // worst during a catch-up after an outage (measured: 23 ms per claim at 5,000 pending, vs well
    // under 1 ms with the ordered walk). So the claim runs as one simple-protocol string, an implicit
    // transaction, that first turns off the plans that would read the whole backlog (`orderedWalk`:
    // set_config with is_local = true lasts only for that transaction), then EXECUTEs this
    // statement, PREPAREd once per connection, so it is planned under those settings without being
    // parsed again (an empty claim: 175 us per call prepared, 479 us sent as text; `node
    // bench/scripts/outbox-pg/claim-cost.mjs`).
    //
    // The walk reads a window, not the backlog: rows up to the seq of the (10 x batchSize)-th pending
    // row (one read of that many (seq) index entries), so a claim that finds fewer heads than a
    // batch stops there and `claimBySubject` tops it up. Without the bound such a claim probed every
    // pending row: with every subject's head leased (more relays than the subjects let work), 200,000
    // pending rows on 1,000 subjects took 1.3-3.1 s per empty claim, holding the claim turn
    // (bench/scripts/outbox-pg/leased-heads.mjs), and one of three 4-relay drains fell to 769
    // events/s (docs/design/relay-claims.md, "The bounded window").
    claim: (args: ClaimArgs) => `WITH heads AS (
  SELECT o.id, o.seq, octet_length(o.payload) AS payload_bytes FROM ${t} o
  WHERE o.seq <= coalesce(
      (SELECT w.seq FROM ${t} w WHERE w.state = 'pending' ORDER BY w.seq OFFSET ${args.batchSize} * ${CLAIM_WINDOW_PER_BATCH_ROW} - 1 LIMIT 1),
      ${MAX_BIGINT})
    AND ${claimable}
  ORDER BY o.seq
  LIMIT ${args.batchSize}
  FOR UPDATE OF o SKIP LOCKED
), ${leaseHeads(t, args)}`,

    // The walk above is cheap while many subjects interleave: it stops after `batchSize` heads. When
    // few subjects hold the backlog it finds them all and then, before its window, probed every
    // remaining row, 60 ms per claim at 10 subjects x 20,000 rows (measured: 167 events/s); now it
    // stops at the window's end. This statement finds the heads the walk did not reach
    // by jumping from subject to subject through the (subject, seq) index instead: one probe per
    // pending subject (at most 4 x batchSize of them), whatever the backlog. The store switches
    // between the two (see PgOutboxStore.claim). The heads are fetched by their row address (ctid =
    // ANY of an array: a TID scan, which the planner takes whatever its estimates; not a join: with
    // hash and merge joins off, a join scanned the table once per head) and sorted into write order,
    // with sorting allowed again for this statement (`sortedHeads`): the ids through the primary key
    // were fine on an analyzed table, but on a fresh one the planner walked a whole index filtering
    // on them. Conditions stay on the locked row (o), so a head changed since our snapshot is
    // re-checked on its latest version (and one completed since is gone), as before.
    claimBySubject: (args: ClaimArgs) => `WITH RECURSIVE subjects AS (
  (SELECT p.subject FROM ${t} p WHERE p.state = 'pending' ORDER BY p.subject LIMIT 1)
  UNION ALL
  SELECT (SELECT p.subject FROM ${t} p WHERE p.state = 'pending' AND p.subject > s.subject ORDER BY p.subject LIMIT 1)
  FROM subjects s WHERE s.subject IS NOT NULL
), firsts AS (
  SELECT f.ctid FROM (SELECT subject FROM subjects WHERE subject IS NOT NULL LIMIT ${args.batchSize} * 4) s
  CROSS JOIN LATERAL (SELECT p.ctid FROM ${t} p WHERE p.state = 'pending' AND p.subject = s.subject ORDER BY p.seq LIMIT 1) f
), heads AS (
  SELECT o.id, o.seq, octet_length(o.payload) AS payload_bytes FROM ${t} o
  WHERE o.ctid = ANY (ARRAY(SELECT ctid FROM firsts)) AND ${claimable}
  ORDER BY o.seq
  LIMIT ${args.batchSize}
  FOR UPDATE OF o SKIP LOCKED
), ${leaseHeads(t, args)}`,

    // Compare-and-set on the token and an unexpired lease: a relay whose lease ran out changes nothing.
    complete: `DELETE FROM ${t} WHERE id = ANY($1::uuid[]) AND claim_token = $2 AND locked_until > now() AND state = 'pending'`,

    // The retry time is the server's now() plus the delay: the relay's clock never enters it.
    release: `UPDATE ${t} o SET locked_until = NULL, claim_token = NULL,
  available_at = now() + r.retry_after_ms * interval '1 millisecond', last_error = r.error,
  attempts = o.attempts + CASE WHEN r.count_attempt THEN 1 ELSE 0 END
FROM unnest($1::uuid[], $2::float8[], $3::text[], $4::boolean[]) AS r(id, retry_after_ms, error, count_attempt)
WHERE o.id = r.id AND o.claim_token = $5 AND o.locked_until > now() AND o.state = 'pending'`,

    deadLetter: `UPDATE ${t} o SET state = 'dead', dead_at = now(), last_error = r.error, attempts = o.attempts + 1,
  locked_until = NULL, claim_token = NULL
FROM unnest($1::uuid[], $2::text[]) AS r(id, error)
WHERE o.id = r.id AND o.claim_token = $3 AND o.locked_until > now() AND o.state = 'pending'`,

    listDead: `SELECT ${recordColumns}, last_error, dead_at FROM ${t} WHERE state = 'dead' ORDER BY seq LIMIT $1`,
    // Keyset pagination by seq; an afterId that no longer exists yields no rows rather than page one again.
    listDeadAfter: `SELECT ${recordColumns}, last_error, dead_at FROM ${t}
WHERE state = 'dead' AND seq > (SELECT seq FROM ${t} WHERE id = $2::uuid) ORDER BY seq LIMIT $1`,
    getDead: `SELECT ${recordColumns}, last_error, dead_at FROM ${t} WHERE state = 'dead' AND id = $1::uuid`,

    // A replayed row that has a sequence gets a new one at the end of its subject (the relay
    // published a gap marker for the old number), unless dead rows block their subject (then no
    // later row of the subject was published and it keeps its number). A new number needs a new
    // seq too, or the claim (by seq) would publish it before the subject's pending rows that have
    // lower numbers: seq is an identity column, which UPDATE can only set to DEFAULT, in no
    // chosen order, so the row is deleted and inserted again, in seq order, after its subject's
    // counter is bumped. Rows without a sequence stay where they are.
    replayAll: replayDead(n, 'TRUE', stamp && !options.deadBlocksSubject),
    replayIds: replayDead(n, 'id = ANY($1::uuid[])', stamp && !options.deadBlocksSubject),
    purgeAll: `DELETE FROM ${t} WHERE state = 'dead'`,
    purgeIds: `DELETE FROM ${t} WHERE state = 'dead' AND id = ANY($1::uuid[])`,

    stats: `SELECT
  (SELECT count(*) FROM ${t} WHERE state = 'pending')::bigint AS pending,
  (SELECT (extract(epoch FROM now() - time) * 1000)::float8 FROM ${t} WHERE state = 'pending' ORDER BY seq LIMIT 1) AS oldest_ms,
  (SELECT count(*) FROM ${t} WHERE state = 'dead')::bigint AS dead`,
    subjectBacklog: `SELECT subject, count(*)::bigint AS pending, (extract(epoch FROM now() - min(time)) * 1000)::float8 AS oldest_ms
FROM ${t} WHERE state = 'pending' GROUP BY subject ORDER BY count(*) DESC, subject LIMIT $1`,

    listFailing: `SELECT id, subject, type, attempts, last_error,
  greatest(0, extract(epoch FROM available_at - now()) * 1000)::float8 AS retry_in_ms
FROM ${t} WHERE state = 'pending' AND attempts > 0 ORDER BY attempts DESC, seq LIMIT $1`,

    // Sent as one simple-protocol string: an implicit transaction, one round trip. The NOWAIT lock
    // conflicts with the ROW EXCLUSIVE lock every producer's INSERT holds on the outbox table until
    // its transaction ends, so getting it proves that no producer that may have read the flag
    // unarmed is still in flight; the re-check then sees every row they wrote. Producers whose
    // INSERT comes later wait for this transaction, take their snapshot after it commits, see the
    // flag armed, and notify. NOWAIT, because waiting would stall every producer behind this lock.
    // (It also fails while another relay settles a batch or a VACUUM runs: the relay then re-checks
    // on a short poll instead.)
    armWithBarrier: `${orderedWalk}
LOCK TABLE ${t} IN SHARE ROW EXCLUSIVE MODE NOWAIT;
UPDATE ${n.wakeup} SET armed = true WHERE NOT armed;
SELECT ${readyCheck(t, claimable)} AS ready`,
    // Without the fence.
    arm: `${orderedWalk}
WITH armed AS (UPDATE ${n.wakeup} SET armed = true WHERE NOT armed RETURNING 1)
SELECT ${readyCheck(t, claimable)} AS ready`,
    // The relay woke up: producers stop notifying until it is idle again.
    disarm: `UPDATE ${n.wakeup} SET armed = false WHERE armed`,
  };
}

/** `replayAll` / `replayIds`: the dead rows matching `which`, pending again; returns `replayed`. */
function replayDead(n: TableNames, which: string, restamp: boolean): string {
  const t = n.qualified;
  const reset = `state = 'pending', attempts = 0, available_at = now(), dead_at = NULL, locked_until = NULL, claim_token = NULL`;
  if (!restamp)
    return `WITH kept AS (UPDATE ${t} SET ${reset} WHERE state = 'dead' AND ${which} RETURNING 1)
SELECT count(*)::int AS replayed FROM kept`;
  // The DELETE and the INSERT of one id in one statement: the unique check does not see a row
  // its own transaction deleted, and the INSERT reads the deleted rows from the DELETE's RETURNING.
  return `WITH moved AS (
  DELETE FROM ${t} WHERE state = 'dead' AND subject_seq IS NOT NULL AND ${which}
  RETURNING seq, id, type, source, subject, time, payload, headers, last_error
), m AS (
  SELECT moved.*, count(*) OVER (PARTITION BY subject) AS n, row_number() OVER (PARTITION BY subject ORDER BY seq) AS k FROM moved
), ${bumpCounters(n, 'm')}, restamped AS (
  INSERT INTO ${t} (id, type, source, subject, time, payload, headers, last_error, subject_seq)
  SELECT m.id, m.type, m.source, m.subject, m.time, m.payload, m.headers, m.last_error, c.seq - m.n + m.k
  FROM m JOIN counters c ON c.subject = m.subject
  ORDER BY m.seq
  RETURNING 1
), kept AS (
  UPDATE ${t} SET ${reset} WHERE state = 'dead' AND subject_seq IS NULL AND ${which} RETURNING 1
)
SELECT ((SELECT count(*) FROM restamped) + (SELECT count(*) FROM kept))::int AS replayed`;
}
