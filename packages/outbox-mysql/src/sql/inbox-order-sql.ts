import type { TableName } from '../table-name.js';
import { epochMs, placeholders } from './outbox-sql.js';

/**
 * The gaps beyond `p`'s position, ascending, as `gaps` (comma-separated), and the length that list
 * has uncut as `gaps_length`: `GROUP_CONCAT` stops at `group_concat_max_len` (1024 by default on
 * MySQL), possibly inside a number.
 */
function gapsAhead(gap: string): string {
  const ahead = `FROM ${gap} g WHERE g.consumer = p.consumer AND g.subject = p.subject AND g.\`sequence\` > p.\`position\``;
  return `(SELECT GROUP_CONCAT(g.\`sequence\` ORDER BY g.\`sequence\`) ${ahead}) AS gaps,
(SELECT SUM(CHAR_LENGTH(g.\`sequence\`) + 1) - 1 ${ahead}) AS gaps_length`;
}

/** The statements of subject order in the inbox (docs/design/ordering.md, section 3), for one inbox table. */
export function inboxOrderSql(table: TableName) {
  const position = table.positionQuoted;
  const gap = table.gapQuoted;
  return {
    /**
     * `consumer, subject` pairs for `count` subjects (sorted): creates the missing rows at 0 and
     * locks every row. A multi-row upsert locks its rows in VALUES order, and an existing row with an
     * exclusive lock (`ON DUPLICATE KEY UPDATE`), so two batches sharing subjects lock them in one order.
     */
    create: (count: number) =>
      `INSERT INTO ${position} (consumer, subject, \`position\`, updated_at)
VALUES ${new Array<string>(count).fill('(?, ?, 0, UTC_TIMESTAMP(6))').join(', ')}
ON DUPLICATE KEY UPDATE \`position\` = \`position\``,
    /**
     * consumer, `count` subjects: the locked rows. `FORCE INDEX (PRIMARY)` makes the `IN` list one
     * point lookup of the primary key per subject, so the read locks exactly those rows (which
     * `create` made exist): left to itself, the optimizer may scan the consumer's rows (on a small
     * table it prefers to) and, under REPEATABLE READ, lock every row it passes, which deadlocks two
     * batches of different subjects. `FOR UPDATE` reads the latest committed position whatever the
     * transaction's snapshot. 100 subjects: 1.1-1.6 ms, where a `UNION ALL` of one locking lookup
     * per subject took 3.8-3.9 ms (`npx tsx bench/micro/mariadb-inbox-order.ts`). The gaps are read
     * by `gapsAhead`, not here: two correlated subqueries per subject made this statement 7 ms of a
     * batch of 100 subjects.
     */
    read: (count: number) =>
      `SELECT p.subject, p.\`position\` FROM ${position} p FORCE INDEX (PRIMARY) WHERE p.consumer = ? AND p.subject IN (${placeholders(count)}) FOR UPDATE`,
    /**
     * consumer, `count` subjects: the gaps beyond each subject's position, ascending. A consistent
     * read, which locks nothing, run right after `read`: in the inbox's transactions it is the first
     * one, so its snapshot is taken after the locks and sees every gap recorded under them before.
     */
    gapsAhead: (count: number) =>
      `SELECT g.subject, g.\`sequence\` FROM ${gap} g
JOIN ${position} p ON p.consumer = g.consumer AND p.subject = g.subject
WHERE g.consumer = ? AND g.subject IN (${placeholders(count)}) AND g.\`sequence\` > p.\`position\`
ORDER BY g.subject, g.\`sequence\``,
    /**
     * `consumer, subject, position` for `count` subjects, then `subject, position` pairs again: the
     * rows are there and locked, so this upsert only updates them, each through its primary key. An
     * `UPDATE ... WHERE subject IN (...)` may scan the consumer's rows instead (MariaDB does on a
     * small table) and, under REPEATABLE READ, wait for the rows of other subjects.
     */
    move: (count: number) =>
      `INSERT INTO ${position} (consumer, subject, \`position\`, updated_at)
VALUES ${new Array<string>(count).fill('(?, ?, ?, UTC_TIMESTAMP(6))').join(', ')}
ON DUPLICATE KEY UPDATE \`position\` = CASE subject ${new Array<string>(count).fill('WHEN ? THEN ?').join(' ')} END,
updated_at = UTC_TIMESTAMP(6)`,
    /** consumer, subject, sequence, reason, event id or null; nothing when the gap is there already. */
    insertGap: `INSERT INTO ${gap} (consumer, subject, \`sequence\`, reason, event_id, recorded_at)
VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(3))
ON DUPLICATE KEY UPDATE reason = reason`,
    /** consumer, [`count` subjects,] limit: the most recently moved first. */
    positions: (count: number | undefined) =>
      `SELECT p.subject, p.\`position\`, ${epochMs('p.updated_at')} AS updated_ms, ${gapsAhead(gap)}
FROM ${position} p WHERE p.consumer = ?${count === undefined ? '' : ` AND p.subject IN (${placeholders(count)})`}
ORDER BY p.updated_at DESC, p.subject DESC LIMIT ?`,
    /**
     * olderThanMs, rows: the keys of gap rows the position is past (it never moves back, so they
     * stay past it). A plain SELECT, which locks nothing: a DELETE joined to the position table
     * would take shared locks on position rows under REPEATABLE READ and wait for the consumers.
     */
    oldGaps: `SELECT g.consumer, g.subject, g.\`sequence\` FROM ${gap} g
JOIN ${position} p ON p.consumer = g.consumer AND p.subject = g.subject
WHERE g.\`sequence\` <= p.\`position\` AND g.recorded_at < TIMESTAMPADD(MICROSECOND, -? * 1000, UTC_TIMESTAMP(3))
LIMIT ?`,
    /** `consumer, subject, sequence` of `count` gap rows. */
    deleteGaps: (count: number) =>
      `DELETE FROM ${gap} WHERE (consumer, subject, \`sequence\`) IN (${new Array<string>(count).fill('(?, ?, ?)').join(', ')})`,
  };
}

/** The statements of {@link inboxOrderSql}. */
export type InboxOrderSql = ReturnType<typeof inboxOrderSql>;
