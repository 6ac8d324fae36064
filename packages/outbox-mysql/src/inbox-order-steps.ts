import type { SubjectGap, SubjectPosition } from '@outboxkit/outbox-core';
import type { LockedPosition, OrderSteps, SqlExecutor } from '@outboxkit/outbox-core/driver';
import type { InboxOrderSql } from './sql/inbox-order-sql.js';

/**
 * The subject as the position's key compares it: `utf8mb4_bin` is a PAD SPACE collation, so `'a'`
 * and `'a '` are one row (as they are one counter row in the outbox).
 */
function positionKey(subject: string): string {
  return subject.replace(/ +$/, '');
}

/** Code point order, the order of `utf8mb4_bin` (the index order the locks follow). */
function byCodePoint(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

interface PositionRow {
  subject: string;
  position: number | string;
  gaps: string | null;
  gaps_length: number | string | null;
}

/** The gaps of a row; when `GROUP_CONCAT` was cut at `group_concat_max_len`, the complete ones only. */
function parseGaps(row: PositionRow): number[] {
  if (row.gaps === null || row.gaps === '') return [];
  const text = String(row.gaps);
  const gaps = text.split(',').map(Number);
  // Cut short, the last number may be cut too: dropped. Fewer gaps read only delay passing the
  // others (the next transaction reads from its new position on), never pass a wrong one.
  if (text.length < Number(row.gaps_length)) gaps.pop();
  return gaps;
}

/** The subject order statements of one inbox table on MySQL / MariaDB. */
export class MysqlInboxOrder {
  constructor(readonly sql: InboxOrderSql) {}

  /** The `OrderSteps` of one transaction of `consumer` on `sql`. */
  steps(sql: SqlExecutor, consumer: string): OrderSteps {
    return {
      lockPositions: async (subjects) => {
        // One row per key, spelled as the first subject that has it.
        const rowSubjects = new Map<string, string>();
        for (const subject of subjects) if (!rowSubjects.has(positionKey(subject))) rowSubjects.set(positionKey(subject), subject);
        const keys = [...rowSubjects.keys()].sort(byCodePoint);
        const ordered = keys.map((key) => rowSubjects.get(key) as string);
        const pairs: unknown[] = [];
        for (const subject of ordered) pairs.push(consumer, subject);
        await sql.query(this.sql.create(ordered.length), pairs);
        const { rows } = await sql.query<{ subject: string; position: number | string }>(this.sql.read(ordered.length), [
          consumer,
          ...ordered,
        ]);
        const { rows: gapRows } = await sql.query<{ subject: string; sequence: number | string }>(this.sql.gapsAhead(ordered.length), [
          consumer,
          ...ordered,
        ]);
        const gapsByKey = new Map<string, number[]>();
        for (const row of gapRows) {
          const key = positionKey(row.subject);
          gapsByKey.set(key, [...(gapsByKey.get(key) ?? []), Number(row.sequence)]);
        }
        const byKey = new Map<string, LockedPosition>();
        for (const row of rows) {
          const key = positionKey(row.subject);
          byKey.set(key, { position: Number(row.position), gapsAhead: gapsByKey.get(key) ?? [] });
        }
        const locked = new Map<string, LockedPosition>();
        for (const subject of subjects) {
          const position = byKey.get(positionKey(subject));
          if (position !== undefined) locked.set(subject, position);
        }
        return locked;
      },
      movePositions: async (positions) => {
        // Two spellings of one row: the further position (both were decided under its lock).
        const moves = new Map<string, [string, number]>();
        for (const [subject, position] of positions) {
          const other = moves.get(positionKey(subject));
          if (other === undefined || other[1] < position) moves.set(positionKey(subject), [subject, position]);
        }
        const values: unknown[] = [];
        for (const [subject, position] of moves.values()) values.push(consumer, subject, position);
        for (const [subject, position] of moves.values()) values.push(subject, position);
        await sql.query(this.sql.move(moves.size), values);
      },
    };
  }

  /** Inserts a gap row; nothing when it is there already. */
  async insertGap(sql: SqlExecutor, consumer: string, gap: SubjectGap): Promise<void> {
    await sql.query(this.sql.insertGap, [consumer, gap.subject, gap.sequence, gap.reason, gap.eventId ?? null]);
  }

  async positions(sql: SqlExecutor, consumer: string, subjects: readonly string[] | undefined, limit: number): Promise<SubjectPosition[]> {
    const { rows } = await sql.query<PositionRow & { updated_ms: number | string }>(this.sql.positions(subjects?.length), [
      consumer,
      ...(subjects ?? []),
      limit,
    ]);
    return rows.map((row) => ({
      subject: row.subject,
      position: Number(row.position),
      gapsAhead: parseGaps(row),
      updatedAt: new Date(Number(row.updated_ms)),
    }));
  }
}
