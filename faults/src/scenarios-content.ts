import type { OutboxEvent } from '@outboxkit/outbox-core';
import { NATS_URL } from '@outboxkit/test-services';
import type { DatabaseKind } from './databases.js';
import { readDeadLetters } from './dead-letters.js';
import { waitUntil } from './env.js';
import { ItemChanged } from './events.js';
import { relayMessages, Scenario } from './scenario.js';
import type { Outcome, RunSize } from './scenarios.js';

/**
 * Content faults: rows that `enqueue` refuses today but that are already in an outbox table
 * (written by hand, or by an older version), sitting in one claim with healthy events. Each must
 * fail alone and at once (dead-lettered on the outbox side with its own error), without costing
 * the healthy events of its batch an attempt, a delay or a duplicate.
 */

/** How one content scenario's bad rows are made and what their dead-letter error must say. */
interface BadRows {
  readonly name: string;
  readonly faults: string;
  /** The rows to write by hand before the healthy events; `healthy` are the events written after them. */
  rows(healthy: readonly OutboxEvent[]): OutboxEvent[];
  /** A text each bad row's `last_error` contains. */
  readonly error: string;
}

let forgedSeq = 1_000_000;

/** A `fault.item.changed` event of its own subject, with `patch` applied around `createEvent`'s checks. */
function forged(patch: Partial<OutboxEvent> & { pad?: string }): OutboxEvent {
  const { pad, ...rest } = patch;
  const event = ItemChanged.create({ seq: forgedSeq++, n: 1 }, { subject: `bad-${forgedSeq}` });
  return { ...event, ...(pad === undefined ? {} : { data: { ...event.data, pad } }), ...rest };
}

/**
 * Writes the bad rows by hand and then `size.events` healthy events (all before the relay starts,
 * so the first claim holds both), runs the relay and the worker until everything healthy is
 * applied and the bad rows are dead, and reports: written, published, lost, dead-lettered healthy,
 * stored twice, and the attempts the relay counted (its "publish failed; will retry" lines).
 */
async function contentScenario(kind: DatabaseKind, size: RunSize, bad: BadRows): Promise<Outcome> {
  const scenario = await Scenario.create({ kind, natsUrls: NATS_URL });
  try {
    const healthy = scenario.events(size.events);
    const rows = bad.rows(healthy);
    await scenario.db.writeUnchecked(rows, false);
    for (let i = 0; i < healthy.length; i += 250) await scenario.db.write(healthy.slice(i, i + 250));
    await Promise.all([scenario.startWorker(), scenario.startRelay()]);
    await scenario.settle(120_000);
    await waitUntil('the bad rows to be dead-lettered', async () => (await scenario.outboxStatus()).dead >= rows.length, 30_000, 200);
    const deadList = await scenario.relayCommand(['dead', 'list', '--json']);
    const dead = JSON.parse(deadList.stdout) as Array<{ id: string; lastError: string }>;
    const [result, outbox, deadLetters] = await Promise.all([
      scenario.result(bad.name, bad.faults),
      scenario.outboxStatus(),
      readDeadLetters(scenario.nc, scenario.deadLetterStream, scenario.deadLetterPrefix),
    ]);
    const badIds = new Set(rows.map((row) => row.id));
    const deadHealthy = dead.filter((row) => !badIds.has(row.id)).length + deadLetters.length;
    const messages = relayMessages(scenario);
    const attemptsCounted = messages.filter((msg) => msg === 'publish failed; will retry').length;
    const line =
      `published ${result.inStream}, dead-lettered healthy ${deadHealthy}, stored twice ${Math.max(0, result.inStream - result.written)}, ` +
      `bad rows dead ${dead.filter((row) => badIds.has(row.id)).length}/${rows.length}, attempts counted ${attemptsCounted}; ${bad.faults}`;
    return {
      result: { ...result, faults: line },
      outbox,
      deadLetters,
      relayExits: scenario.relay?.running ? [] : [(await scenario.relay?.exited)?.code ?? null],
      checks: {
        badIds: [...badIds],
        deadIds: dead.map((row) => row.id),
        badErrorsMatch: dead.filter((row) => badIds.has(row.id)).every((row) => row.lastError.includes(bad.error)),
        deadHealthy,
        attemptsCounted,
        relayRunning: scenario.relay?.running ?? false,
      },
    };
  } finally {
    await scenario.dispose();
  }
}

/**
 * P1. A poison row (`bad\nkey` as its subject: the NATS client cannot write it as a header) claimed
 * in one batch with healthy events. Before the fix the client threw inside `publish`, the whole
 * batch failed, and with 50 healthy events all 50 were dead-lettered.
 */
export function poisonInBatch(kind: DatabaseKind, size: RunSize): Promise<Outcome> {
  return contentScenario(kind, size, {
    name: 'P1 poison in a batch',
    faults: "1 row with subject 'bad\\nkey' before the healthy events, by hand",
    rows: () => [forged({ subject: 'bad\nkey' })],
    error: 'cannot be encoded',
  });
}

/**
 * P2. A 5 MB row (over the default 1 MiB `maxEventBytes`) among small ones: dead-lettered as
 * `PAYLOAD_TOO_LARGE` by the store's claim without its payload being loaded by the relay.
 */
export function bigRowAmongSmall(kind: DatabaseKind, size: RunSize): Promise<Outcome> {
  return contentScenario(kind, size, {
    name: 'P2 5 MB row',
    faults: '1 row of 5 MB data among the small ones, by hand',
    rows: () => [forged({ pad: 'x'.repeat(5_000_000) })],
    error: 'maxEventBytes',
  });
}

/**
 * P3. A row whose own headers carry `Nats-Msg-Id` set to the id of a healthy event written after
 * it. Published, JetStream would store it under that id and then drop the healthy event as its
 * duplicate (lost); the binding refuses it and writes its own dedup header last.
 */
export function msgIdHeader(kind: DatabaseKind, size: RunSize): Promise<Outcome> {
  return contentScenario(kind, size, {
    name: 'P3 Nats-Msg-Id header',
    faults: "1 row with header Nats-Msg-Id = a later healthy event's id, 1 with nats-rollup, by hand",
    rows: (healthy) => [
      forged({ headers: { 'Nats-Msg-Id': (healthy[0] as OutboxEvent).id } }),
      forged({ headers: { 'nats-rollup': 'sub' } }),
    ],
    error: 'the NATS binding writes itself',
  });
}
