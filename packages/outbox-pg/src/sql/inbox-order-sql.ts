import type { TableNames } from '../table-name.js';

/** Gaps read per subject with its position: core passes over the first ones (docs/design/ordering.md, section 4). */
export const GAPS_READ = 1000;

/** The statements of subject order in the inbox (docs/design/ordering.md, section 3), for one inbox table. */
export interface InboxOrderSql {
  /** $1 consumer, $2 subjects (sorted): creates the missing rows at 0, locks them all, returns each position with the gaps beyond it. */
  readonly lock: string;
  /** $1 consumer, $2 subjects, $3 positions. */
  readonly move: string;
  /** $1 consumer, $2 message id, $3 subject, $4 position: the inbox row (RETURNING 1 when recorded now) and the move. */
  readonly recordAndMove: string;
  /** $1 consumer, $2 subject, $3 sequence, $4 reason, $5 event id or null. */
  readonly insertGap: string;
  /** $1 consumer, $2 subjects or null (all), $3 limit. */
  readonly positions: string;
  /** $1 olderThanMs, $2 rows. */
  readonly cleanupGaps: string;
}

export function inboxOrderSql(n: TableNames): InboxOrderSql {
  return {
    // One statement creates and locks: INSERT ... ON CONFLICT DO UPDATE takes the row lock of an
    // existing row (waiting for a transaction that holds it) and returns its latest committed
    // version, and the rows go in the order of the array (core sorts the subjects), so two batches
    // sharing subjects lock them in the same order. The gaps are read by the same statement, with
    // its snapshot: a gap recorded by a transaction this one waited for may be missed, which can
    // only make an event wait once more (the next transaction reads it), never run out of order.
    lock: `WITH locked AS (
  INSERT INTO ${n.position} AS p (consumer, subject, position)
  SELECT $1, s.subject, 0 FROM unnest($2::text[]) WITH ORDINALITY AS s(subject, n) ORDER BY s.n
  ON CONFLICT (consumer, subject) DO UPDATE SET position = p.position
  RETURNING p.subject, p.position
)
SELECT l.subject, l.position, ARRAY(
  SELECT g.sequence FROM ${n.gap} g
  WHERE g.consumer = $1 AND g.subject = l.subject AND g.sequence > l.position
  ORDER BY g.sequence LIMIT ${GAPS_READ}) AS gaps
FROM locked l`,
    move: `UPDATE ${n.position} AS p SET position = m.position, updated_at = now()
FROM unnest($2::text[], $3::bigint[]) AS m(subject, position)
WHERE p.consumer = $1 AND p.subject = m.subject`,
    // A data-modifying CTE runs whether or not the main statement reads it: one round trip for both.
    recordAndMove: `WITH moved AS (
  UPDATE ${n.position} SET position = $4, updated_at = now() WHERE consumer = $1 AND subject = $3
)
INSERT INTO ${n.qualified} (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1`,
    insertGap: `INSERT INTO ${n.gap} (consumer, subject, sequence, reason, event_id)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
    positions: `SELECT p.subject, p.position, p.updated_at, ARRAY(
  SELECT g.sequence FROM ${n.gap} g
  WHERE g.consumer = p.consumer AND g.subject = p.subject AND g.sequence > p.position
  ORDER BY g.sequence LIMIT ${GAPS_READ}) AS gaps
FROM ${n.position} p
WHERE p.consumer = $1 AND ($2::text[] IS NULL OR p.subject = ANY($2::text[]))
ORDER BY p.updated_at DESC, p.subject COLLATE "C" DESC
LIMIT $3`,
    // Only gaps the position is past: a gap ahead is still needed to pass over it.
    cleanupGaps: `DELETE FROM ${n.gap} WHERE ctid IN (
  SELECT g.ctid FROM ${n.gap} g JOIN ${n.position} p ON p.consumer = g.consumer AND p.subject = g.subject
  WHERE g.sequence <= p.position AND g.recorded_at < now() - $1 * interval '1 millisecond' LIMIT $2)`,
  };
}
