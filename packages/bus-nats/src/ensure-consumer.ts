import type { ConsumerConfig, ConsumerInfo } from '@nats-io/jetstream';
import { OutboxConfigError } from '@outboxkit/outbox-core';
import { validateInteger } from '@outboxkit/outbox-core/driver';
import { msToNanos } from './durations.js';
import { refused } from './ensure-stream.js';
import { connectionOf, type JetStreamManagerSource, serverAtLeast, toManager } from './manager.js';
import { partitionDurable, partitionFilter, validatePartitions } from './partitions.js';

/** Options of {@link ensureConsumer}: a durable pull consumer with explicit acks. */
export interface EnsureConsumerOptions {
  readonly stream: string;
  /** The durable name; also the subscriber's name in the inbox and in dead letters. */
  readonly name: string;
  /** Only these subjects (wildcards allowed). More than one needs nats-server 2.10+. @defaultValue every subject of the stream */
  readonly filterSubjects?: readonly string[];
  /** How long a delivery may stay unacked before JetStream redelivers it; with `backoffMs`, JetStream uses its first step instead. @defaultValue 30_000 */
  readonly ackWaitMs?: number;
  /** Deliveries before JetStream stops; the consumer dead-letters at this count. @defaultValue 5 */
  readonly maxDeliver?: number;
  /** Redelivery delays after an ack timeout (the last one repeats); fewer than `maxDeliver`. @defaultValue none: `ackWaitMs` each time */
  readonly backoffMs?: readonly number[];
  /** Unacked deliveries at once, across every subscriber of this consumer. @defaultValue 1_000 */
  readonly maxAckPending?: number;
}

/** What {@link ensureConsumer} found and did. */
export interface EnsureConsumerResult {
  readonly info: ConsumerInfo;
  readonly action: 'created' | 'updated' | 'unchanged';
  readonly changed: readonly string[];
}

/**
 * Creates the durable pull consumer, or updates an existing one to the given settings: idempotent.
 *
 * @throws OutboxConfigError for an invalid option, an existing consumer that is push-based or
 * not explicit-ack, several filter subjects on a server older than 2.10, or a change the server refuses.
 * @example
 * ```ts
 * await ensureConsumer(nc, { stream: 'EVENTS', name: 'basket', filterSubjects: ['events.catalog.>'], maxDeliver: 5, backoffMs: [1_000, 10_000, 60_000] });
 * ```
 */
export async function ensureConsumer(source: JetStreamManagerSource, options: EnsureConsumerOptions): Promise<EnsureConsumerResult> {
  const jsm = await toManager(source);
  const wanted = consumerSettings(options, serverAtLeast(connectionOf(source, jsm), 2, 10));
  let existing: ConsumerInfo | null = null;
  try {
    existing = await jsm.consumers.info(options.stream, options.name);
  } catch (error) {
    if ((error as Error).name === 'StreamNotFoundError') {
      throw new OutboxConfigError('stream', `stream ${options.stream} does not exist: create it with ensureStream() first`, {
        cause: error,
      });
    }
    if ((error as Error).name !== 'ConsumerNotFoundError') throw error;
  }
  if (existing === null) {
    const config: Partial<ConsumerConfig> = {
      ...wanted,
      durable_name: options.name,
      ack_policy: 'explicit',
      deliver_policy: 'all',
      replay_policy: 'instant',
    };
    const info = await refused('consumer', `${options.stream}/${options.name}`, () => jsm.consumers.add(options.stream, config));
    return { info, action: 'created', changed: [] };
  }
  const current = existing.config;
  if (current.deliver_subject || current.ack_policy !== 'explicit') {
    throw new OutboxConfigError(
      'consumer',
      `consumer ${options.stream}/${options.name} exists but is ${current.deliver_subject ? 'a push consumer' : `ack_policy ${current.ack_policy}`}: outboxkit needs a pull consumer with explicit acks; delete it or pick another name`,
    );
  }
  const changes: Partial<ConsumerConfig> = {};
  for (const key of Object.keys(wanted) as (keyof typeof wanted)[]) {
    if (JSON.stringify(wanted[key] ?? null) !== JSON.stringify(current[key] ?? null)) Object.assign(changes, { [key]: wanted[key] });
  }
  const changed = Object.keys(changes);
  if (changed.length === 0) return { info: existing, action: 'unchanged', changed };
  const info = await refused(changed.join(', '), `${options.stream}/${options.name}`, () =>
    jsm.consumers.update(options.stream, options.name, { ...current, ...changes }),
  );
  return { info, action: 'updated', changed };
}

type WantedSettings = Pick<
  ConsumerConfig,
  'ack_wait' | 'max_deliver' | 'backoff' | 'max_ack_pending' | 'filter_subject' | 'filter_subjects'
>;

function consumerSettings(options: EnsureConsumerOptions, multiFilter: boolean): WantedSettings {
  if (typeof options.name !== 'string' || !/^[^\s.*>/\\]+$/.test(options.name)) {
    throw new OutboxConfigError(
      'name',
      `a consumer name cannot be empty or contain spaces, '.', '*', '>', '/' or '\\'; got ${JSON.stringify(options.name)}`,
    );
  }
  const ackWaitMs = validateInteger(options.ackWaitMs ?? 30_000, 'ackWaitMs', 1);
  const maxDeliver = validateInteger(options.maxDeliver ?? 5, 'maxDeliver', 1, 1_000);
  const backoff = (options.backoffMs ?? []).map((ms, index) => msToNanos(validateInteger(ms, `backoffMs[${index}]`, 1)));
  if (backoff.length >= maxDeliver) {
    throw new OutboxConfigError(
      'backoffMs',
      `backoffMs has ${backoff.length} delays but maxDeliver is ${maxDeliver}: JetStream needs fewer delays than deliveries`,
    );
  }
  const settings: WantedSettings = {
    ack_wait: msToNanos(ackWaitMs),
    max_deliver: maxDeliver,
    max_ack_pending: validateInteger(options.maxAckPending ?? 1_000, 'maxAckPending', 1),
  };
  if (backoff.length > 0) {
    settings.backoff = backoff;
    // JetStream replaces ack_wait with the first backoff step; ask for what it will store.
    settings.ack_wait = backoff[0];
  }
  const filters = options.filterSubjects ?? [];
  if (filters.length === 1) settings.filter_subject = filters[0];
  if (filters.length > 1) {
    if (!multiFilter) {
      throw new OutboxConfigError(
        'filterSubjects',
        `consumer ${options.name} has ${filters.length} filter subjects; several need nats-server 2.10 or newer. Use one filter (a wildcard) or one consumer per subject`,
      );
    }
    settings.filter_subjects = [...filters];
  }
  return settings;
}

/** Settings that bound how late JetStream may redeliver a message, for {@link redeliveryHorizonMs}. */
export interface RedeliverySettings {
  readonly ackWaitMs: number;
  readonly maxDeliver: number;
  readonly backoffMs?: readonly number[];
  /** The longest delay the consumer passes to `nak()`. @defaultValue 0 */
  readonly maxNakDelayMs?: number;
}

/**
 * An upper bound of how long after its first delivery a message may still be redelivered: the
 * sum of the `maxDeliver - 1` gaps, each the larger of the ack timeout (or its backoff step) and
 * the longest nak delay. The inbox must keep a message's row at least this long (pass it to
 * core's `checkHorizons` as `redeliveryHorizonMs`).
 */
export function redeliveryHorizonMs(settings: RedeliverySettings): number {
  const backoff = settings.backoffMs ?? [];
  let total = 0;
  for (let gap = 0; gap < settings.maxDeliver - 1; gap++) {
    const timeout = backoff.length > 0 ? (backoff[Math.min(gap, backoff.length - 1)] as number) : settings.ackWaitMs;
    total += Math.max(timeout, settings.maxNakDelayMs ?? 0);
  }
  return total + settings.ackWaitMs;
}

/** Options of {@link ensurePartitionedConsumer}. */
export interface EnsurePartitionedConsumerOptions extends EnsureConsumerOptions {
  /** The stream's partition count: the relays' `partitions`. */
  readonly partitions: number;
  /** The relays' `subjectPrefix`: the partition token goes after it. @defaultValue `'events'` */
  readonly subjectPrefix?: string;
}

/**
 * Creates or updates the durables of a partitioned consumer, one per partition: `<name>-p<k>`,
 * filtering `<subjectPrefix>.p<k>.>` or, for each of `filterSubjects` (written as without
 * partitions: `events.catalog.>`), `events.p<k>.catalog.>`. Idempotent; the settings apply to each.
 * `maxAckPending` is per partition.
 *
 * @throws OutboxConfigError as `ensureConsumer`, or for a filter outside the subject prefix.
 * @example
 * ```ts
 * await ensurePartitionedConsumer(nc, { stream: 'EVENTS', name: 'basket', partitions: 16, filterSubjects: ['events.catalog.>'] });
 * ```
 */
export async function ensurePartitionedConsumer(
  source: JetStreamManagerSource,
  options: EnsurePartitionedConsumerOptions,
): Promise<EnsureConsumerResult[]> {
  const count = validatePartitions(options.partitions);
  const prefix = options.subjectPrefix ?? 'events';
  const { partitions: _, subjectPrefix: __, ...rest } = options;
  const filters = options.filterSubjects ?? [`${prefix}.>`];
  // Check every option before creating anything.
  consumerSettings({ ...rest, filterSubjects: filters.map((filter) => partitionFilter(filter, prefix, count - 1)) }, true);
  const jsm = await toManager(source);
  await refuseUnreadPartitions(jsm, options.stream, prefix, count);
  const results: EnsureConsumerResult[] = [];
  for (let partition = 0; partition < count; partition++) {
    results.push(
      await ensureConsumer(jsm, {
        ...rest,
        name: partitionDurable(options.name, partition),
        filterSubjects: filters.map((filter) => partitionFilter(filter, prefix, partition)),
      }),
    );
  }
  return results;
}

/**
 * Refuses a count below a partition the stream already holds events of (`<prefix>.p40.…` with 32
 * partitions): no durable would read them, and their subjects would wait for them for ever.
 */
async function refuseUnreadPartitions(
  jsm: Awaited<ReturnType<typeof toManager>>,
  stream: string,
  prefix: string,
  count: number,
): Promise<void> {
  let subjects: Record<string, number> = {};
  try {
    subjects = (await jsm.streams.info(stream, { subjects_filter: `${prefix}.>` })).state.subjects ?? {};
  } catch (error) {
    if ((error as Error).name === 'StreamNotFoundError') {
      throw new OutboxConfigError('stream', `stream ${stream} does not exist: create it with ensureStream() first`, { cause: error });
    }
    throw error;
  }
  for (const subject of Object.keys(subjects)) {
    const token = /^p(\d+)$/.exec(subject.slice(prefix.length + 1).split('.')[0] ?? '');
    if (token && Number(token[1]) >= count) {
      throw new OutboxConfigError(
        'partitions',
        `stream ${stream} holds events on ${subject}, partition ${token[1]}, but partitions is ${count}: no durable would read them; use the relays' partition count`,
      );
    }
  }
}
