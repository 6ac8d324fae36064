// The MariaDB enqueue's sequence stamp with its transaction probe (`DO 0`, then the counter upsert)
// against a counter upsert that checks the transaction itself (`... WHERE @@in_transaction = 1 OR
// @@autocommit = 0`, MariaDB only), against a plain `UPDATE` of the counter row (the upsert only
// when the row is missing), against that UPDATE reading the new value back (`LAST_INSERT_ID(seq +
// 1)`) so the INSERT carries it as a constant instead of a subquery, against a BEFORE INSERT
// trigger that stamps the row inside the INSERT (no statement of its own), against two statements
// that write nothing (a plain and a locking SELECT of the counter row: what a statement costs by
// itself), and against no stamp: 8 clients each loop `START TRANSACTION; UPDATE products ...;
// [stamp]; INSERT INTO outbox ...; COMMIT` for 3 s, the variants interleaved.
// Raw SQL on mysql2, not the store: it asks what another form of the stamp would gain.
// Run from the repository root: `npx tsx bench/micro/mariadb-stamp-guard.ts [rounds]` (default 4;
// `SUBJECTS=10000` spreads the counters over 10,000 subjects instead of 1,000, one per product as in the
// producer suite, to tell lock waits
// from the row's own cost; MariaDB at the test services' address; creates and drops the database
// obxk_stamp_guard).
import { MYSQL_URL } from '@outboxkit/test-services';
import mysql, { type PoolConnection, type ResultSetHeader } from 'mysql2/promise';

const rounds = Number(process.argv[2] ?? 4);
const database = 'obxk_stamp_guard';
const admin = await mysql.createConnection({ uri: MYSQL_URL });
await admin.query(`DROP DATABASE IF EXISTS ${database}`);
await admin.query(`CREATE DATABASE ${database}`);
const pool = mysql.createPool({ uri: MYSQL_URL, database, connectionLimit: 8 });
await pool.query('CREATE TABLE products (id INT PRIMARY KEY, price INT NOT NULL, version INT NOT NULL)');
await pool.query('INSERT INTO products SELECT seq, 0, 0 FROM seq_0_to_9999');
await pool.query(
  "CREATE TABLE outbox (seq BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, id VARCHAR(64) NOT NULL, subject VARCHAR(255) COLLATE utf8mb4_bin NOT NULL, payload TEXT NOT NULL, subject_seq BIGINT NULL, state ENUM('pending', 'dead') NOT NULL DEFAULT 'pending', KEY outbox_head (state, subject, seq))",
);
await pool.query('CREATE TABLE counter (subject VARCHAR(255) COLLATE utf8mb4_bin PRIMARY KEY, seq BIGINT NOT NULL)');
// The stamp done by the server inside the INSERT: a BEFORE INSERT trigger on a copy of the outbox
// bumps the counter row and sets the row's subject_seq (no statement of its own).
await pool.query('CREATE TABLE outbox_trigger LIKE outbox');
await pool.query(
  'CREATE TRIGGER outbox_trigger_stamp BEFORE INSERT ON outbox_trigger FOR EACH ROW BEGIN ' +
    'INSERT INTO counter (subject, seq) VALUES (NEW.subject, 1) ON DUPLICATE KEY UPDATE seq = LAST_INSERT_ID(seq + 1); ' +
    'SET NEW.subject_seq = LAST_INSERT_ID(); END',
);
// Every subject's counter row exists from the start, as in a steady state (the SELECT variants need it).
await pool.query(`INSERT INTO counter SELECT CONCAT('product-', seq), 0 FROM seq_0_to_${Number(process.env.SUBJECTS ?? 1_000) - 1}`);

type Variant = 'none' | 'probe' | 'guarded' | 'update' | 'literal' | 'select' | 'lockread' | 'trigger';
/** The counter's new value read back by the `literal` variant, written into the INSERT as a constant. */
let literalSeq = 0;
const stamps: Record<Variant, (connection: PoolConnection, subject: string) => Promise<void>> = {
  none: async (connection) => {
    await connection.query('DO 0');
  },
  probe: async (connection, subject) => {
    await connection.query('DO 0');
    await connection.query('INSERT INTO counter (subject, seq) VALUES (?, 1) ON DUPLICATE KEY UPDATE seq = seq + VALUES(seq)', [subject]);
  },
  guarded: async (connection, subject) => {
    const [header] = await connection.query<ResultSetHeader>(
      'INSERT INTO counter (subject, seq) SELECT ?, 1 FROM DUAL WHERE @@in_transaction = 1 OR @@autocommit = 0 ON DUPLICATE KEY UPDATE seq = seq + 1',
      [subject],
    );
    if (header.affectedRows === 0) throw new Error('not in a transaction');
  },
  literal: async (connection, subject) => {
    await connection.query('DO 0');
    const [header] = await connection.query<ResultSetHeader>('UPDATE counter SET seq = LAST_INSERT_ID(seq + 1) WHERE subject = ?', [
      subject,
    ]);
    if (header.affectedRows === 0) {
      await connection.query('INSERT INTO counter (subject, seq) VALUES (?, 1) ON DUPLICATE KEY UPDATE seq = seq + VALUES(seq)', [subject]);
      literalSeq = 1;
    } else literalSeq = header.insertId;
  },
  trigger: async (connection) => {
    await connection.query('DO 0');
  },
  // Not stamps: what a statement on the counter row costs without writing it, plain and locking.
  select: async (connection, subject) => {
    await connection.query('DO 0');
    await connection.query('SELECT seq FROM counter WHERE subject = ?', [subject]);
  },
  lockread: async (connection, subject) => {
    await connection.query('DO 0');
    await connection.query('SELECT seq FROM counter WHERE subject = ? FOR UPDATE', [subject]);
  },
  update: async (connection, subject) => {
    await connection.query('DO 0');
    const [header] = await connection.query<ResultSetHeader>('UPDATE counter SET seq = seq + 1 WHERE subject = ?', [subject]);
    if (header.affectedRows === 0) {
      await connection.query('INSERT INTO counter (subject, seq) VALUES (?, 1) ON DUPLICATE KEY UPDATE seq = seq + VALUES(seq)', [subject]);
    }
  },
};

let ids = 0;
async function measure(variant: Variant, seconds: number): Promise<number> {
  const end = Date.now() + seconds * 1000;
  let transactions = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      const connection = await pool.getConnection();
      while (Date.now() < end) {
        const product = Math.floor(Math.random() * 10_000);
        const subject = `product-${product % Number(process.env.SUBJECTS ?? 1_000)}`;
        await connection.query('START TRANSACTION');
        await connection.query('UPDATE products SET price = price + 1, version = version + 1 WHERE id = ?', [product]);
        await stamps[variant](connection, subject);
        if (variant === 'literal') {
          await connection.query('INSERT INTO outbox (id, subject, payload, subject_seq) VALUES (?, ?, ?, ?)', [
            `e${ids++}`,
            subject,
            '{"price":1}',
            literalSeq,
          ]);
        } else {
          await connection.query(
            variant === 'trigger'
              ? 'INSERT INTO outbox_trigger (id, subject, payload) VALUES (?, ?, ?)'
              : variant === 'none' || variant === 'select' || variant === 'lockread'
                ? 'INSERT INTO outbox (id, subject, payload) VALUES (?, ?, ?)'
                : 'INSERT INTO outbox (id, subject, payload, subject_seq) VALUES (?, ?, ?, (SELECT seq FROM counter WHERE subject = ?))',
            [`e${ids++}`, subject, '{"price":1}', subject],
          );
        }
        await connection.query('COMMIT');
        transactions++;
      }
      connection.release();
    }),
  );
  await pool.query('DELETE FROM outbox');
  await pool.query('DELETE FROM outbox_trigger');
  return transactions / seconds;
}

try {
  for (let round = 1; round <= rounds; round++) {
    const none = await measure('none', 3);
    const probe = await measure('probe', 3);
    const guarded = await measure('guarded', 3);
    const update = await measure('update', 3);
    const literal = await measure('literal', 3);
    const select = await measure('select', 3);
    const lockread = await measure('lockread', 3);
    const trigger = await measure('trigger', 3);
    process.stdout.write(
      `round ${round}: no stamp ${Math.round(none)} tx/s; probe + upsert ${Math.round(probe)} (${(probe / none).toFixed(2)}x); guarded upsert ${Math.round(guarded)} (${(guarded / none).toFixed(2)}x); probe + update ${Math.round(update)} (${(update / none).toFixed(2)}x); update read back, literal in the INSERT ${Math.round(literal)} (${(literal / none).toFixed(2)}x); probe + SELECT of the counter row ${Math.round(select)} (${(select / none).toFixed(2)}x); probe + SELECT ... FOR UPDATE ${Math.round(lockread)} (${(lockread / none).toFixed(2)}x); probe + INSERT stamped by a trigger ${Math.round(trigger)} (${(trigger / none).toFixed(2)}x)\n`,
    );
  }
} finally {
  await pool.end();
  await admin.query(`DROP DATABASE ${database}`);
  await admin.end();
}
