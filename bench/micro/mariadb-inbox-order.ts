// Times the statements of the MySQL/MariaDB inbox's position lock, side by side in one run, for
// batches of 100 subjects on a consumer with 1,000 position rows: the upsert that creates and
// locks the rows, the locking point lookups, the gap read, the move, and (for comparison) the
// former locking read that carried the gaps in two correlated subqueries per subject.
// Run from the repository root: `npx tsx bench/micro/mariadb-inbox-order.ts` (MariaDB at
// OUTBOX_MYSQL_URL; creates and drops the database micro_inbox_order). Prints the median ms of 50
// batches per statement.
import { MYSQL_URL } from '@outboxkit/test-services';
import mysql from 'mysql2/promise';
import { MysqlInboxStore } from '../../packages/outbox-mysql/src/index.js';
import { inboxOrderSql } from '../../packages/outbox-mysql/src/sql/inbox-order-sql.js';
import { resolveTableName } from '../../packages/outbox-mysql/src/table-name.js';

const database = 'micro_inbox_order';
const admin = await mysql.createConnection({ uri: MYSQL_URL });
await admin.query(`DROP DATABASE IF EXISTS ${database}`);
await admin.query(`CREATE DATABASE ${database}`);
const url = new URL(MYSQL_URL);
url.pathname = `/${database}`;
const pool = mysql.createPool({ uri: url.toString(), connectionLimit: 2 });
await new MysqlInboxStore({ pool }).migrate();
const sql = inboxOrderSql(resolveTableName('inbox', undefined, 'table', '_recorded_at'));
const formerRead = (count: number): string =>
  new Array<string>(count)
    .fill(
      `(SELECT p.subject, p.\`position\`,
(SELECT GROUP_CONCAT(g.\`sequence\` ORDER BY g.\`sequence\`) FROM \`inbox_gap\` g WHERE g.consumer = p.consumer AND g.subject = p.subject AND g.\`sequence\` > p.\`position\`) AS gaps,
(SELECT SUM(CHAR_LENGTH(g.\`sequence\`) + 1) - 1 FROM \`inbox_gap\` g WHERE g.consumer = p.consumer AND g.subject = p.subject AND g.\`sequence\` > p.\`position\`) AS gaps_length
FROM \`inbox_position\` p WHERE p.consumer = ? AND p.subject = ? FOR UPDATE)`,
    )
    .join('\nUNION ALL\n');

// The read before FORCE INDEX: a UNION ALL of one locking point lookup per subject.
const pointLookups = (count: number): string =>
  new Array<string>(count)
    .fill('(SELECT p.subject, p.`position` FROM `inbox_position` p WHERE p.consumer = ? AND p.subject = ? FOR UPDATE)')
    .join('\nUNION ALL\n');

const connection = await pool.getConnection();
const times: Record<string, number[]> = {
  create: [],
  'former read (with gaps)': [],
  read: [],
  'read as point lookups': [],
  gapsAhead: [],
  move: [],
  commit: [],
};
const subjects = Array.from({ length: 1_000 }, (_, index) => `product-${index}`);
for (let round = 0; round < 60; round++) {
  const batch = subjects.slice((round % 10) * 100, (round % 10) * 100 + 100).sort();
  const pairs = batch.flatMap((subject) => ['basket', subject]);
  const timed = async (name: string, text: string, values: unknown[]): Promise<void> => {
    const start = performance.now();
    await connection.query(text, values);
    if (round >= 10) times[name]?.push(performance.now() - start);
  };
  await connection.query('BEGIN');
  await timed('create', sql.create(batch.length), pairs);
  await timed('former read (with gaps)', formerRead(batch.length), pairs);
  await timed('read', sql.read(batch.length), ['basket', ...batch]);
  await timed('read as point lookups', pointLookups(batch.length), pairs);
  await timed('gapsAhead', sql.gapsAhead(batch.length), ['basket', ...batch]);
  const values: unknown[] = [];
  for (const subject of batch) values.push('basket', subject, round + 1);
  for (const subject of batch) values.push(subject, round + 1);
  await timed('move', sql.move(batch.length), values);
  await timed('commit', 'COMMIT', []);
}
const median = (list: number[]): string => ([...list].sort((a, b) => a - b)[Math.floor(list.length / 2)] ?? 0).toFixed(2);
for (const [name, list] of Object.entries(times)) console.log(`${name.padEnd(24)} ${median(list)} ms`);
connection.release();
await pool.end();
await admin.query(`DROP DATABASE ${database}`);
await admin.end();
