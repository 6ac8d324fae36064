// Relay drain rate on a backlog spread over few or many subjects (PostgreSQL -> NATS).
// Usage: node bench/scripts/outbox-pg/few-subjects.mjs [subjects...]   (after npm run build)
// Env: OUTBOX_PG_URL, OUTBOX_NATS_URL. Creates and drops its own schema and stream.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { ensureStream, NatsPublisher } from '@outboxkit/bus-nats';
import { createEvent, Relay } from '@outboxkit/outbox-core';
import { PgOutboxStore, transaction } from '@outboxkit/outbox-pg';
import { NATS_URL, PG_URL } from '@outboxkit/test-services';
import pg from 'pg';

const total = Number(process.env.EVENTS ?? 20_000);
const counts = process.argv.slice(2).map(Number);

for (const subjects of counts.length > 0 ? counts : [1_000, 100, 10]) {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
  const schema = `few_subjects_${subjects}_${Date.now()}`;
  const store = new PgOutboxStore({ pool, schema, listen: false });
  await store.migrate();
  for (let from = 0; from < total; from += 1_000) {
    const events = Array.from({ length: 1_000 }, (_, k) =>
      createEvent({ type: 'bench.thing.happened', source: 'bench', subject: `s${(from + k) % subjects}`, data: { n: from + k } }),
    );
    await transaction(pool, (client) => store.enqueue(client, events));
  }
  const nc = await connect({ servers: NATS_URL, noAsyncTraces: true });
  const stream = `FEW_SUBJECTS_${subjects}_${Date.now()}`;
  await ensureStream(nc, { name: stream, subjects: [`${stream}.>`] });
  const relay = new Relay({ store, publisher: new NatsPublisher({ connection: nc, subjectPrefix: stream }), batchSize: 500 });
  const started = performance.now();
  const result = await relay.drain();
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `subjects ${subjects}: ${result.published} events in ${seconds.toFixed(2)} s = ${Math.round(result.published / seconds)} events/s (${result.batches} batches)\n`,
  );
  await (await jetstreamManager(nc)).streams.delete(stream);
  await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
  await store.close();
  await pool.end();
  await nc.close();
}
