import { NATS_URL } from '@outboxkit/test-services';
import type { Application, DatabaseKind } from './databases.js';
import { waitUntil } from './env.js';
import type { ManagedProcess } from './processes.js';
import { formatResult, Scenario } from './scenario.js';
import { type ConsumerResult, consumerResult, eventsOn, settleConsumer, writeSpread } from './scenarios-consumer.js';

/**
 * What the order scenarios read from the consumer's database at the end, beyond the consumer
 * line: each subject's applications in the order the handler ran them (`applications.app_order`).
 */
export interface OrderCheck {
  /** Rows of `applications`: handler runs that committed. */
  readonly applications: number;
  /**
   * Applications of an event older than one already applied on its subject: a sequence below the
   * highest one applied before it. The position compared is `event.sequence`, or the producer's own
   * count (`data.n`) when the event carried no sequence (then `noSequence` counts it too).
   */
  readonly outOfOrder: number;
  /** Subjects whose positions, read in application order, are not exactly 1, 2, 3 ... N (N written). */
  readonly subjectsNotExact: number;
  /** Subjects whose `latest` (the last sequence the handler wrote) is not N at the end. */
  readonly stale: number;
  /** Applications of an event without `event.sequence`. */
  readonly noSequence: number;
  /** Applications whose `event.sequence` differs from the producer's count `data.n` (write order). */
  readonly stampMismatch: number;
  /** Up to 5 subjects that are not exact, with their application order from just before the first wrong position. */
  readonly examples: readonly string[];
}

/**
 * Checks the application order of every subject: `expected` holds the events written per subject
 * (N), `applications` the handler's runs by subject then application order, `latest` what the
 * projection ended with.
 */
export function checkOrder(
  expected: ReadonlyMap<string, number>,
  applications: readonly Application[],
  latest: ReadonlyMap<string, number | null>,
): OrderCheck {
  const bySubject = new Map<string, number[]>();
  let outOfOrder = 0;
  let noSequence = 0;
  let stampMismatch = 0;
  const highest = new Map<string, number>();
  for (const row of applications) {
    if (row.sequence === null) noSequence++;
    else if (row.sequence !== row.n) stampMismatch++;
    const position = row.sequence ?? row.n;
    if (position < (highest.get(row.subject) ?? 0)) outOfOrder++;
    highest.set(row.subject, Math.max(position, highest.get(row.subject) ?? 0));
    const list = bySubject.get(row.subject) ?? [];
    list.push(position);
    bySubject.set(row.subject, list);
  }
  let subjectsNotExact = 0;
  let stale = 0;
  const examples: string[] = [];
  const subjects = new Set([...expected.keys(), ...bySubject.keys()]);
  for (const subject of subjects) {
    const count = expected.get(subject) ?? 0;
    const list = bySubject.get(subject) ?? [];
    const exact = list.length === count && list.every((position, i) => position === i + 1);
    if (!exact) {
      subjectsNotExact++;
      if (examples.length < 5) {
        // From just before the first position that is not the next one.
        const first = list.findIndex((position, i) => position !== i + 1);
        const from = Math.max(0, (first === -1 ? list.length : first) - 2);
        const shown = list.slice(from, from + 10).join(',');
        examples.push(
          `${subject} (${count} written, ${list.length} applied): ${from > 0 ? `[${from + 1}] ` : ''}${shown}${from + 10 < list.length ? ',...' : ''}`,
        );
      }
    }
    if (count > 0 && latest.get(subject) !== count) stale++;
  }
  return { applications: applications.length, outOfOrder, subjectsNotExact, stale, noSequence, stampMismatch, examples };
}

/**
 * True for the events whose first attempt the worker fails (`FAULT_FAIL_FIRST_PERCENT`): FNV-1a of
 * the event id, mod 100. The same function as `failsFirst` in src/worker.mjs.
 */
export function failsFirst(id: string, percent: number): boolean {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % 100 < percent;
}

/** An order scenario's line: the consumer line with out-of-order applications beside lost and twice. */
export interface OrderResult extends ConsumerResult {
  readonly order: OrderCheck;
}

export interface OrderOutcome {
  readonly result: OrderResult;
  readonly checks: Record<string, unknown>;
}

/** `scenario | db | written | applied | lost | applied twice | out of order | dead-lettered healthy | still pending | duration | faults`. */
export function formatOrderResult(r: OrderResult): string {
  return formatResult(r, [
    `out of order ${r.order.outOfOrder}`.padEnd(17),
    `dead-lettered healthy ${r.deadHealthy}`.padEnd(24),
    `still pending ${r.stillPending}`.padEnd(16),
  ]);
}

/** The size and faults of an order scenario. */
export interface OrderSize {
  readonly events: number;
  readonly subjects: number;
  /** The events are written in transactions of `eventsPerTransaction`, spread over this long. */
  readonly writeMs: number;
  /**
   * Events per producer transaction, taken in write order (so 100 span 100 subjects: on MySQL/MariaDB
   * the stamp's counter upsert; 1 is one subject: the stamp trigger). @defaultValue 100
   */
  readonly eventsPerTransaction?: number;
  /** Worker processes at the start, all on the durable `worker`. */
  readonly instances: number;
  /** SIGKILLs in all, spread over the run's progress, each to the next worker in turn (restarted at once). */
  readonly kills: number;
  /** One worker added once 30% of the events are applied, the oldest one stopped (SIGTERM) at 60%. */
  readonly addRemove: boolean;
  /** The share of events whose first attempt throws (chosen by event id). */
  readonly failFirstPercent: number;
  /** @defaultValue 'message' */
  readonly mode?: 'message' | 'batch';
  /** In batch mode, the workers' `batchTransactions` (a fetch divided by subject into transactions run at once). @defaultValue 1 */
  readonly batchTransactions?: number;
  /**
   * In batch mode, the workers register the handler with `onBatch`: a fetch's events in one call,
   * each applied in turn inside it (a failing event fails the call). @defaultValue false
   */
  readonly batchHandler?: boolean;
  /** The relay publishes with this many partitions; the workers divide them through leases. @defaultValue none: one shared durable */
  readonly partitions?: number;
  /** How long each progress step and the final settling may take. @defaultValue 300_000 */
  readonly stepTimeoutMs?: number;
}

type Step = { at: number; action: 'kill' | 'add' | 'remove' };

/**
 * O1 / O2. Strict per-subject order at the consumer under faults (issue 14): `size.instances`
 * worker processes on one durable consume `size.events` events on `size.subjects` subjects,
 * produced through the outbox and the relay, while they are SIGKILLed `size.kills` times
 * (restarted each time), one worker is added and one stopped mid-run, and the handler fails the
 * first attempt of `size.failFirstPercent`% of the events. The handler records each application
 * (subject, `event.sequence`, an identity column) and the subject's latest sequence in its
 * transaction; the outcome says what was lost, applied twice and applied out of order, read from
 * the consumer's database.
 */
export async function subjectOrder(kind: DatabaseKind, name: string, size: OrderSize): Promise<OrderOutcome> {
  const scenario = await Scenario.create({
    kind,
    natsUrls: NATS_URL,
    ackWaitMs: 3_000,
    ...(size.partitions === undefined ? {} : { partitions: size.partitions }),
  });
  const workers: ManagedProcess[] = [];
  const started: ManagedProcess[] = [];
  const stepTimeoutMs = size.stepTimeoutMs ?? 300_000;
  const mode = size.mode ?? 'message';
  try {
    await scenario.db.setupOrderTables();
    const env = {
      FAULT_RECORD_ORDER: '1',
      FAULT_FAIL_FIRST_PERCENT: String(size.failFirstPercent),
      FAULT_MODE: mode,
      ...(size.batchTransactions === undefined ? {} : { FAULT_BATCH_TRANSACTIONS: String(size.batchTransactions) }),
      ...(size.batchHandler === true ? { FAULT_BATCH_HANDLER: '1' } : {}),
    };
    const start = async (): Promise<ManagedProcess> => {
      const worker = await scenario.startWorker(env);
      started.push(worker);
      return worker;
    };
    for (let i = 0; i < size.instances; i++) workers.push(await start());
    await scenario.startRelay();
    const events = eventsOn(size.events, size.subjects, 'item');
    const expected = new Map<string, number>();
    for (const event of events) expected.set(event.subject, (expected.get(event.subject) ?? 0) + 1);
    const writing = writeSpread(scenario, events, size.writeMs, size.eventsPerTransaction ?? 100);

    const steps: Step[] = Array.from({ length: size.kills }, (_, i) => ({ at: (i + 1) / (size.kills + 1), action: 'kill' as const }));
    if (size.addRemove) steps.push({ at: 0.3, action: 'add' }, { at: 0.6, action: 'remove' });
    steps.sort((a, b) => a.at - b.at);
    let kills = 0;
    let stalledAt: string | undefined;
    let removed: ManagedProcess | undefined;
    let removedExit: number | null | undefined;
    for (const step of steps) {
      const point = Math.round(size.events * step.at);
      try {
        await waitUntil(`${point} events applied`, async () => (await scenario.db.counts()).applied >= point, stepTimeoutMs, 250);
      } catch {
        // Leave the faults there: the line then shows what was left.
        stalledAt = `${step.action} at ${point} applied`;
        break;
      }
      if (step.action === 'kill') {
        const slot = kills++ % workers.length;
        await workers[slot]?.kill('SIGKILL');
        workers[slot] = await start();
      } else if (step.action === 'add') {
        workers.push(await start());
      } else {
        removed = workers.shift();
        removedExit = (await removed?.stop())?.code;
      }
    }
    await writing;
    const settled = stalledAt === undefined && (await settleConsumer(scenario, stepTimeoutMs));
    const order = checkOrder(expected, await scenario.db.applications(), await scenario.db.latest());
    const failed = await scenario.db.failedOnce();
    const chosen = size.failFirstPercent > 0 ? events.filter((event) => failsFirst(event.id, size.failFirstPercent)).length : 0;
    const count = (pattern: RegExp): number => started.reduce((sum, worker) => sum + (worker.stdout().match(pattern)?.length ?? 0), 0);
    const changes = size.addRemove ? ' +1 added -1 stopped,' : '';
    const layout = size.partitions === undefined ? 'one durable' : `${size.partitions} partitions with leases`;
    const faults =
      `${size.instances} workers on ${layout},${changes} SIGKILL x${kills}, first attempt fails on ${size.failFirstPercent}% (${failed}), ` +
      `${size.subjects} subjects, ${mode} mode${size.batchTransactions === undefined ? '' : ` (${size.batchTransactions} transactions per fetch)`}${size.batchHandler === true ? ' (a batch handler, onBatch)' : ''}; subjects not 1..N ${order.subjectsNotExact}, stale ${order.stale}, ` +
      `no sequence ${order.noSequence}, sequence != write order ${order.stampMismatch}`;
    const base = await consumerResult(scenario, name, faults);
    return {
      result: { ...base, order },
      checks: {
        settled,
        stalledAt,
        kills,
        removedExit,
        failedFirst: failed,
        chosenToFail: chosen,
        retries: count(/ retry /g),
        waits: count(/ subject-waiting /g),
        // Workers that ended without being SIGKILLed or stopped: a consumer that failed.
        workerExits: started.filter((worker) => worker !== removed && !worker.running && worker.child.signalCode !== 'SIGKILL').length,
      },
    };
  } finally {
    await Promise.all(started.map((worker) => worker.kill('SIGKILL')));
    await scenario.dispose();
  }
}
