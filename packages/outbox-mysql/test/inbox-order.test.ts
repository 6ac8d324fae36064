import type { InboxItem } from '@outboxkit/outbox-core';
import { type MysqlConnectionLike, MysqlInboxStore } from '@outboxkit/outbox-mysql';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.js';

const WORKERS = 6;
const SUBJECTS = 12;
const SEQUENCES = 25;

interface Delivery extends InboxItem {
  readonly order: { readonly subject: string; readonly sequence: number };
}

describe('MysqlInboxStore subject order under concurrent consumers', () => {
  let db: TestDatabase;
  let pool: mysql.Pool;
  let inbox: MysqlInboxStore;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = db.pool(WORKERS + 2);
    inbox = new MysqlInboxStore({ pool });
    await inbox.migrate();
    await db.admin.query(
      'CREATE TABLE applied (n BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, subject VARCHAR(64) NOT NULL, `sequence` INT NOT NULL) ENGINE=InnoDB',
    );
  });

  afterAll(async () => {
    await db.dispose();
  });

  it('applies every subject once, in sequence order, with batches taking events of shared subjects in any order', async () => {
    // Every event, delivered again and again in random batches (redeliveries, events before their
    // predecessors) by workers racing on the same subjects, until each was applied.
    const pending = new Map<string, Delivery>();
    for (let s = 0; s < SUBJECTS; s++) {
      for (let sequence = 1; sequence <= SEQUENCES; sequence++) {
        const subject = `subject-${s}`;
        pending.set(`${subject}:${sequence}`, { messageId: `${subject}:${sequence}`, order: { subject, sequence } });
      }
    }
    const errors: unknown[] = [];
    const deadline = Date.now() + 60_000;
    const worker = async (): Promise<void> => {
      while (pending.size > 0 && Date.now() < deadline) {
        // Distinct events, as one fetch delivers them; now and then a single one through process().
        const batch = [...pending.values()].sort(() => Math.random() - 0.5).slice(0, Math.random() < 0.3 ? 1 : 6);
        const apply = async (connection: MysqlConnectionLike, item: Delivery): Promise<void> => {
          await connection.query('INSERT INTO applied (subject, `sequence`) VALUES (?, ?)', [item.order.subject, item.order.sequence]);
        };
        try {
          const outcomes =
            batch.length === 1
              ? [
                  await inbox.process(
                    'orders',
                    (batch[0] as Delivery).messageId,
                    (connection) => apply(connection, batch[0] as Delivery),
                    batch[0],
                  ),
                ]
              : await inbox.processBatch('orders', batch, apply);
          for (const [index, outcome] of outcomes.entries()) {
            if (outcome.status === 'applied' || outcome.status === 'duplicate') pending.delete((batch[index] as Delivery).messageId);
          }
        } catch (error) {
          errors.push(error);
        }
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    expect(errors).toEqual([]);
    expect(pending.size).toBe(0);
    const [result] = await db.admin.query(
      "SELECT subject, GROUP_CONCAT(`sequence` ORDER BY n SEPARATOR ',') AS sequences FROM applied GROUP BY subject",
    );
    const rows = (result as Array<{ subject: string; sequences: string }>).map((row) => ({
      subject: row.subject,
      sequences: row.sequences.split(',').map(Number),
    }));
    expect(rows).toHaveLength(SUBJECTS);
    for (const row of rows) expect(row.sequences, row.subject).toEqual(Array.from({ length: SEQUENCES }, (_, index) => index + 1));
    const positions = await inbox.positions('orders', { limit: 1000 });
    expect(positions.map((p) => p.position)).toEqual(new Array(SUBJECTS).fill(SEQUENCES));
  });
});
