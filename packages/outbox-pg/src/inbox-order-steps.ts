import type { SubjectGap, SubjectPosition } from '@outboxkit/outbox-core';
import type { LockedPosition, OrderSteps } from '@outboxkit/outbox-core/driver';
import type { PgQueryConfigLike } from './pg-like.js';
import { preparedStatement } from './prepared.js';
import type { InboxOrderSql } from './sql/inbox-order-sql.js';

/** Runs one statement: prepared (named) on a raw client when `named` is given and statements are prepared. */
export type Run = (
  text: string,
  values: unknown[] | undefined,
  named?: (values: unknown[]) => PgQueryConfigLike,
) => Promise<{
  rows: unknown[];
  affectedRows: number;
}>;

interface PositionRow {
  subject: string;
  position: string | number;
  gaps: Array<string | number>;
}

/** The subject order statements of one inbox table, prepared once. */
export class PgInboxOrder {
  readonly #lock: (values: unknown[]) => PgQueryConfigLike;
  readonly #move: (values: unknown[]) => PgQueryConfigLike;
  readonly #recordAndMove: (values: unknown[]) => PgQueryConfigLike;

  constructor(
    readonly sql: InboxOrderSql,
    prepared: boolean,
  ) {
    this.#lock = preparedStatement(sql.lock, prepared);
    this.#move = preparedStatement(sql.move, prepared);
    this.#recordAndMove = preparedStatement(sql.recordAndMove, prepared);
  }

  /** The `OrderSteps` of one transaction of `consumer` on `run`. */
  steps(run: Run, consumer: string): OrderSteps {
    return {
      lockPositions: async (subjects) => {
        const { rows } = await run(this.sql.lock, [consumer, subjects], this.#lock);
        const locked = new Map<string, LockedPosition>();
        for (const row of rows as PositionRow[]) {
          locked.set(row.subject, { position: Number(row.position), gapsAhead: row.gaps.map(Number) });
        }
        return locked;
      },
      movePositions: async (positions) => {
        await run(this.sql.move, [consumer, [...positions.keys()], [...positions.values()]], this.#move);
      },
      recordAndMove: async (messageId, subject, position) =>
        (await run(this.sql.recordAndMove, [consumer, messageId, subject, position], this.#recordAndMove)).rows.length > 0,
    };
  }

  /** Inserts a gap row; nothing when it is there already. */
  async insertGap(run: Run, consumer: string, gap: SubjectGap): Promise<void> {
    await run(this.sql.insertGap, [consumer, gap.subject, gap.sequence, gap.reason, gap.eventId ?? null]);
  }

  async positions(run: Run, consumer: string, subjects: readonly string[] | undefined, limit: number): Promise<SubjectPosition[]> {
    const { rows } = await run(this.sql.positions, [consumer, subjects ?? null, limit]);
    return (rows as Array<PositionRow & { updated_at: Date }>).map((row) => ({
      subject: row.subject,
      position: Number(row.position),
      gapsAhead: row.gaps.map(Number),
      updatedAt: row.updated_at,
    }));
  }
}
