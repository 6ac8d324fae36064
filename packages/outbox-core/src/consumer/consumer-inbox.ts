import type { InboxOutcome, InboxStore } from '../contracts/inbox-store.js';
import { BatchRolledBackError, isInfrastructureError } from '../errors.js';
import type { Decoded } from './subject-lanes.js';

/** What the consumer's inbox runs need: the store, the consumer's name, and where to report a batch fallback. */
export interface InboxRun {
  readonly inbox: InboxStore<unknown>;
  readonly consumer: string;
  /** Subjects handled at once, one transaction per message. */
  readonly concurrency: number;
  onBatchFallback(size: number, error: Error): void;
}

/** The outcome of a message not run because an earlier message of its subject failed in the same fetch. */
export const heldBack = new Error('held back behind a failed event of the same subject');

/**
 * One transaction for the fetch. First without savepoints (one round trip less per message), batch
 * handlers collecting each run of consecutive items of their type and applying it in one call (when
 * the next item is of another type, or at the end through the store's `finish`); a handler that
 * throws rolls back the whole batch, which then runs again with a savepoint per message: the failed
 * message fails again without its handler running a second time (a failed batch call names no one
 * message, so then every message runs again, alone), and only it and its subject's later messages
 * are held back. If the transaction fails as a whole, one transaction per message.
 */
export async function handleBatch(run: InboxRun, items: readonly Decoded[]): Promise<InboxOutcome[]> {
  const name = run.consumer;
  let batchCallFailed = false;
  const attempt = (savepoints: boolean, failed?: { item: Decoded; error: unknown }): Promise<InboxOutcome[]> => {
    const failedSubjects = new Set<string>();
    const collect = !savepoints && run.inbox.finishesBatches === true;
    let pending: Decoded[] = [];
    const flush = async (tx: unknown): Promise<void> => {
      const group = pending;
      pending = [];
      const many = group[0]?.many;
      if (!many) return;
      try {
        await many(group, tx);
      } catch (error) {
        batchCallFailed = true;
        throw error;
      }
    };
    return run.inbox.processBatch(
      name,
      items,
      async (tx, item) => {
        if (collect) {
          if (pending.length > 0 && pending[0]?.many !== item.many) await flush(tx);
          if (item.many) {
            pending.push(item);
            return;
          }
        }
        if (failedSubjects.has(item.event.subject)) throw heldBack;
        try {
          if (item === failed?.item) throw failed.error;
          await item.handler(item.event, tx);
        } catch (error) {
          failedSubjects.add(item.event.subject);
          throw error;
        }
      },
      collect ? { savepoints, finish: flush } : { savepoints },
    );
  };
  try {
    try {
      return await attempt(false);
    } catch (error) {
      const item = error instanceof BatchRolledBackError ? items[error.index] : undefined;
      if (!item) throw error;
      return await attempt(true, batchCallFailed ? undefined : { item, error: (error as BatchRolledBackError).cause });
    }
  } catch (error) {
    // The database is down: one transaction per message would fail the same way, one by one.
    if (isInfrastructureError(error)) return failEachSubject(items, error);
    run.onBatchFallback(items.length, error as Error);
    return handleBySubject(run, items);
  }
}

/**
 * {@link handleBatch} in up to `parts` transactions at once, the fetch divided by subject: all of a
 * subject's messages go to the same part, in their order, so each part keeps the order and the
 * position checks of one batch, and a failure in one part (a handler, the database) leaves the
 * others' commits alone. Outcomes come back in the order of `items`.
 */
export async function handleBatchParts(run: InboxRun, items: readonly Decoded[], parts: number): Promise<InboxOutcome[]> {
  const groups = partsBySubject(items, parts);
  if (groups.length < 2) return handleBatch(run, items);
  const outcomes: InboxOutcome[] = new Array(items.length);
  await Promise.all(
    groups.map(async (indexes) => {
      const part = await handleBatch(
        run,
        indexes.map((index) => items[index] as Decoded),
      );
      indexes.forEach((index, rank) => {
        outcomes[index] = part[rank] as InboxOutcome;
      });
    }),
  );
  return outcomes;
}

/**
 * The indexes of `items` in at most `parts` groups, each subject whole in one of them (the largest
 * subjects placed first, each on the group with the fewest messages so far), each group in the
 * order of `items`; empty groups left out.
 */
export function partsBySubject(items: readonly Decoded[], parts: number): number[][] {
  const bySubject = new Map<string, number[]>();
  items.forEach((item, index) => {
    const list = bySubject.get(item.event.subject);
    if (list) list.push(index);
    else bySubject.set(item.event.subject, [index]);
  });
  const groups = Array.from({ length: Math.max(1, Math.min(parts, bySubject.size)) }, () => [] as number[]);
  const subjects = [...bySubject.values()].sort((a, b) => b.length - a.length);
  for (const indexes of subjects) {
    let smallest = groups[0] as number[];
    for (const group of groups) if (group.length < smallest.length) smallest = group;
    smallest.push(...indexes);
  }
  return groups.filter((group) => group.length > 0).map((group) => group.sort((a, b) => a - b));
}

/** One transaction per message; subjects concurrently up to `concurrency`, each subject in order. */
export async function handleBySubject(run: InboxRun, items: readonly Decoded[]): Promise<InboxOutcome[]> {
  const outcomes: InboxOutcome[] = new Array(items.length);
  const lanes = new Map<string, number[]>();
  items.forEach((item, index) => {
    const lane = lanes.get(item.event.subject);
    if (lane) lane.push(index);
    else lanes.set(item.event.subject, [index]);
  });
  const queue = [...lanes.values()];
  const worker = async (): Promise<void> => {
    for (let lane = queue.shift(); lane; lane = queue.shift()) {
      let failed = false;
      let waiting: InboxOutcome | undefined;
      for (const index of lane) {
        const item = items[index] as Decoded;
        if (failed) outcomes[index] = { status: 'failed', error: heldBack };
        // Behind a waiting event of its subject, a later one waits too (the position did not move).
        else if (waiting && item.order) outcomes[index] = waiting;
        else outcomes[index] = await processOne(run, item);
        failed ||= outcomes[index]?.status === 'failed';
        if (outcomes[index]?.status === 'waiting') waiting = outcomes[index];
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(run.concurrency, queue.length) }, worker));
  return outcomes;
}

/** One message in a transaction of its own; what it threw becomes its `failed` outcome. */
export async function processOne(run: InboxRun, item: Decoded): Promise<InboxOutcome> {
  try {
    const options = item.order === undefined ? undefined : { order: item.order };
    return await run.inbox.process(run.consumer, item.messageId, (tx) => item.handler(item.event, tx), options);
  } catch (error) {
    return { status: 'failed', error };
  }
}

/**
 * `items` with each subject's ordered items in sequence order, in the places the subject's ordered
 * items had (a redelivered older event may arrive after a newer one); other items keep their place.
 */
export function inSubjectOrder(items: readonly Decoded[]): Decoded[] {
  const out = [...items];
  const places = new Map<string, number[]>();
  out.forEach((item, index) => {
    if (!item.order) return;
    const list = places.get(item.order.subject);
    if (list) list.push(index);
    else places.set(item.order.subject, [index]);
  });
  for (const indexes of places.values()) {
    if (indexes.length < 2) continue;
    const sorted = indexes.map((index) => items[index] as Decoded).sort((a, b) => sequenceOf(a) - sequenceOf(b));
    indexes.forEach((index, rank) => {
      out[index] = sorted[rank] as Decoded;
    });
  }
  return out;
}

function sequenceOf(item: Decoded): number {
  return item.order?.sequence ?? 0;
}

/**
 * The outcomes of a batch the database failed as a whole: the first message of each subject failed
 * with `error`, the later ones held back behind it.
 */
function failEachSubject(items: readonly Decoded[], error: unknown): InboxOutcome[] {
  const seen = new Set<string>();
  return items.map((item) => {
    if (seen.has(item.event.subject)) return { status: 'failed', error: heldBack };
    seen.add(item.event.subject);
    return { status: 'failed', error };
  });
}
