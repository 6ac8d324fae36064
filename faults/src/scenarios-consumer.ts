import { jetstreamManager } from '@nats-io/jetstream';
import { ensureDeadLetterStream } from '@outboxkit/bus-nats';
import type { OutboxEvent } from '@outboxkit/outbox-core';
import { MYSQL_URL, NATS_URL, PG_URL } from '@outboxkit/test-services';
import type { DatabaseKind } from './databases.js';
import { readDeadLetters } from './dead-letters.js';
import { sleep, waitUntil } from './env.js';
import { ItemChanged, ItemPoisoned } from './events.js';
import type { ManagedProcess } from './processes.js';
import { formatResult, Scenario } from './scenario.js';
import { TcpProxy } from './tcp-proxy.js';

/**
 * The line a consumer scenario prints: what was written and applied (rows per event id in the
 * handler's `effects` table: `twice` counts events with more than one), healthy events that went
 * to the dead-letter stream, and what the durable consumer still has pending or unacknowledged.
 */
export interface ConsumerResult {
  readonly scenario: string;
  readonly database: string;
  readonly written: number;
  readonly applied: number;
  readonly lost: number;
  readonly twice: number;
  /** Dead letters of events whose handler works (`fault.item.changed`): must be 0. */
  readonly deadHealthy: number;
  /** The consumer's `num_pending + num_ack_pending` at the end. */
  readonly stillPending: number;
  readonly durationMs: number;
  readonly faults: string;
}

export interface ConsumerOutcome {
  readonly result: ConsumerResult;
  readonly checks: Record<string, unknown>;
}

/** `scenario | db | written | applied | lost | applied twice | dead-lettered healthy | still pending | duration | faults`. */
export function formatConsumerResult(r: ConsumerResult): string {
  return formatResult(r, [`dead-lettered healthy ${r.deadHealthy}`.padEnd(24), `still pending ${r.stillPending}`.padEnd(16)]);
}

/** `count` ordinary events over `subjects` aggregate keys. */
export function eventsOn(count: number, subjects: number, prefix: string): OutboxEvent[] {
  const perSubject = new Map<string, number>();
  return Array.from({ length: count }, (_, seq) => {
    const subject = `${prefix}-${seq % subjects}`;
    const n = (perSubject.get(subject) ?? 0) + 1;
    perSubject.set(subject, n);
    return ItemChanged.create({ seq, n }, { subject });
  });
}

/** Writes `events` in transactions of `chunk`, spread over `durationMs`. */
export async function writeSpread(scenario: Scenario, events: readonly OutboxEvent[], durationMs: number, chunk = 100): Promise<void> {
  const start = Date.now();
  const chunks = Math.ceil(events.length / chunk);
  for (let i = 0; i < chunks; i++) {
    await scenario.db.write(events.slice(i * chunk, (i + 1) * chunk));
    const due = start + ((i + 1) * durationMs) / chunks;
    // sleep-ok: paces the writes over durationMs: the load profile is part of the scenario
    if (due > Date.now()) await sleep(due - Date.now());
  }
}

function consumerPending(scenario: Scenario): Promise<number> {
  return scenario.consumerPending();
}

/**
 * Waits until every written event is applied and the consumer has nothing pending; on a timeout it
 * returns anyway, so the line shows what was left (the test then fails on it).
 */
export async function settleConsumer(scenario: Scenario, timeoutMs: number): Promise<boolean> {
  try {
    await waitUntil(
      'every written event applied and nothing pending on the consumer',
      async () => (await scenario.db.counts()).lost === 0 && (await consumerPending(scenario)) === 0,
      timeoutMs,
      250,
    );
    // A late redelivery would show up as a second effect: give one a chance to land.
    // sleep-ok: a quiet period in which a late redelivery (which must not happen) would show as a second effect
    await sleep(1_000);
    return true;
  } catch {
    return false;
  }
}

/** The consumer scenarios' line, read at the end of a run. */
export async function consumerResult(scenario: Scenario, name: string, faults: string): Promise<ConsumerResult> {
  const counts = await scenario.db.counts();
  const dead = await readDeadLetters(scenario.nc, scenario.deadLetterStream, scenario.deadLetterPrefix).catch(() => []);
  return {
    scenario: name,
    database: scenario.db.label,
    ...counts,
    deadHealthy: dead.filter((letter) => letter.headers['ce-type'] === ItemChanged.type).length,
    stillPending: await consumerPending(scenario),
    durationMs: Date.now() - scenario.startedAt,
    faults,
  };
}

/** The worker's inbox URL through `proxy`. */
function proxiedWorkerEnv(scenario: Scenario, proxy: TcpProxy): Record<string, string> {
  const url = scenario.workerEnv().FAULT_DB_URL;
  if (!url) throw new Error('the scenario has no worker database URL');
  return { FAULT_DB_URL: proxy.proxied(url) };
}

/**
 * C1. The consumer's database unreachable for `outageMs` mid-run: a TCP proxy the scenario owns
 * sits between the worker and its inbox database and is cut (connections reset, new ones refused),
 * then restored. `maxDeliver` 5, `ack_wait` 3 s: an outage many times longer than the whole
 * redelivery budget must dead-letter nothing and apply every event exactly once afterwards.
 */
export async function consumerDatabaseDown(
  kind: DatabaseKind,
  size: { events: number; writeMs: number; outageMs: number; mode?: 'batch' | 'message' },
): Promise<ConsumerOutcome> {
  const target = new URL(kind === 'pg' ? PG_URL : MYSQL_URL);
  const proxy = await TcpProxy.start(target.hostname, Number(target.port || (kind === 'pg' ? 5432 : 3306)));
  const scenario = await Scenario.create({ kind, natsUrls: NATS_URL, maxDeliver: 5, ackWaitMs: 3_000 });
  try {
    const worker = await scenario.startWorker({ ...proxiedWorkerEnv(scenario, proxy), FAULT_MODE: size.mode ?? 'message' });
    await scenario.startRelay();
    const events = eventsOn(size.events, 200, 'item');
    const writing = writeSpread(scenario, events, size.writeMs);
    await waitUntil('a quarter of the events applied', async () => (await scenario.db.counts()).applied >= size.events / 4, 60_000, 50);
    await proxy.cut();
    const cutAt = Date.now();
    await waitUntil('the worker to report the outage', () => worker.stdout().includes(' paused '), 30_000, 50);
    const pausedAfterMs = Date.now() - cutAt;
    // sleep-ok: the outage lasts size.outageMs: its length is what the scenario exercises
    await sleep(Math.max(0, cutAt + size.outageMs - Date.now()));
    await proxy.restore();
    await waitUntil('the worker to report it resumed', () => worker.stdout().includes(' resumed '), 60_000, 100);
    const resumedAfterMs = Date.now() - cutAt - size.outageMs;
    await writing;
    const settled = await settleConsumer(scenario, 180_000);
    return {
      result: await consumerResult(
        scenario,
        'C1 consumer database down',
        `inbox database cut ${size.outageMs / 1000} s (TCP proxy), ${size.mode ?? 'message'} mode, maxDeliver 5, ack_wait 3 s`,
      ),
      checks: { settled, pausedAfterMs, resumedAfterMs, workerRunning: worker.running },
    };
  } finally {
    await scenario.dispose();
    await proxy.dispose();
  }
}

/**
 * C2. Three worker processes on one durable, `failPercent`% of events failing once in their
 * handler, one worker SIGKILLed `size.kills` times (restarted each time). Nothing may be left
 * unapplied or pending, nothing applied twice, nothing healthy dead-lettered.
 */
export async function consumerReplicas(
  kind: DatabaseKind,
  size: { events: number; subjects: number; writeMs: number; kills: number; failPercent: number },
): Promise<ConsumerOutcome> {
  const scenario = await Scenario.create({ kind, natsUrls: NATS_URL, maxDeliver: 5, ackWaitMs: 3_000 });
  const workers: ManagedProcess[] = [];
  try {
    const env = { FAULT_FAIL_PERCENT: String(size.failPercent) };
    for (let i = 0; i < 3; i++) workers.push(await scenario.startWorker(env));
    await scenario.startRelay();
    const events = eventsOn(size.events, size.subjects, 'item');
    const writing = writeSpread(scenario, events, size.writeMs, 20);
    for (let kill = 1; kill <= size.kills; kill++) {
      const point = Math.round((size.events * kill) / (size.kills + 1));
      await waitUntil(`${point} events applied`, async () => (await scenario.db.counts()).applied >= point, 120_000, 50);
      await workers[0]?.kill('SIGKILL');
      workers[0] = await scenario.startWorker(env);
    }
    await writing;
    const settled = await settleConsumer(scenario, 120_000);
    return {
      result: await consumerResult(
        scenario,
        'C2 3 consumers on one durable',
        `3 workers, ${size.failPercent}% failing once, one SIGKILL x${size.kills}, ${size.subjects} subjects, ack_wait 3 s`,
      ),
      checks: { settled, retried: workers.reduce((sum, worker) => sum + (worker.stdout().match(/ retry /g)?.length ?? 0), 0) },
    };
  } finally {
    await Promise.all(workers.map((worker) => worker.kill('SIGKILL')));
    await scenario.dispose();
  }
}

/**
 * C3. The dead-letter stream deleted while poisoned events reach `max_deliver`, created again
 * later: the poisoned messages stay (kept in hand, reported) and are dead-lettered once it exists;
 * the ordinary events behind them on the same subjects are applied; nothing is lost.
 */
export async function deadLetterStreamMissing(
  kind: DatabaseKind,
  size: { events: number; poisoned: number; missingMs: number },
): Promise<ConsumerOutcome> {
  const scenario = await Scenario.create({ kind, natsUrls: NATS_URL, maxDeliver: 3, ackWaitMs: 2_000 });
  try {
    const worker = await scenario.startWorker();
    await scenario.startRelay();
    const jsm = await jetstreamManager(scenario.nc);
    await jsm.streams.delete(scenario.deadLetterStream);
    // Poisoned events share subjects with ordinary ones written after them: those wait behind them.
    const poisoned = Array.from({ length: size.poisoned }, (_, i) => ItemPoisoned.create({ seq: i, n: 1 }, { subject: `item-${i}` }));
    await scenario.db.write(poisoned, false);
    await scenario.db.write(eventsOn(size.events, 50, 'item'));
    await waitUntil(
      'every poisoned event to fail its dead-lettering',
      () => poisoned.every((event) => worker.stdout().includes(`dead-letter-failed ${event.id}`)),
      60_000,
      100,
    );
    const failedAt = Date.now();
    // sleep-ok: the dead-letter stream stays missing for size.missingMs: the length is the fault
    await sleep(Math.max(0, failedAt + size.missingMs - Date.now()));
    const failures = worker.stdout().match(/dead-letter-failed /g)?.length ?? 0;
    await ensureDeadLetterStream(scenario.nc, { name: scenario.deadLetterStream, subjectPrefix: scenario.deadLetterPrefix });
    await waitUntil(
      'the poisoned events to be dead-lettered',
      async () => (await scenario.streamMessages(scenario.deadLetterStream)) >= size.poisoned,
      60_000,
      250,
    );
    const settled = await settleConsumer(scenario, 120_000);
    const dead = await readDeadLetters(scenario.nc, scenario.deadLetterStream, scenario.deadLetterPrefix);
    return {
      result: await consumerResult(
        scenario,
        'C3 dead-letter stream missing',
        `${size.poisoned} poisoned, maxDeliver 3, dead-letter stream missing ${Math.round(size.missingMs / 1000)} s+, ${failures} failed dead-letterings`,
      ),
      checks: {
        settled,
        failures,
        poisonedDead: dead.filter((letter) => letter.headers['ce-type'] === ItemPoisoned.type).length,
        deadIds: dead.map((letter) => letter.messageId).sort(),
        poisonedIds: poisoned.map((event) => event.id).sort(),
      },
    };
  } finally {
    await scenario.dispose();
  }
}
