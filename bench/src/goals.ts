import type { FigureSummary } from './figures.js';
import { fmt, median, summarize } from './stats.js';

/** The outcome of one goal: met, missed, or not measured in this run (its suite was not selected). */
export interface GoalResult {
  readonly goal: string;
  readonly target: string;
  readonly measured: string;
  readonly met: boolean | undefined;
  /** CPU seconds per 10,000 events of each process of the figure the goal is about, when measured. */
  readonly cpu?: string;
}

type Lookup = (key: string) => FigureSummary | undefined;

/** A value and how it was computed, for the "measured" column. */
interface Measured {
  readonly value: number;
  readonly text: string;
}

const range = (f: FigureSummary, digits?: number) => `${fmt(f.median, digits)} (${fmt(f.min, digits)}-${fmt(f.max, digits)})`;

function figure(get: Lookup, key: string, unit: string, digits?: number): Measured | undefined {
  const f = get(key);
  return f ? { value: f.median, text: `${range(f, digits)} ${unit}` } : undefined;
}

/** The median of per-run ratios a/b when both were measured in every run (paired), else the ratio of medians. */
export function pairedRatio(a: FigureSummary, b: FigureSummary): { median: number; min: number; max: number } {
  if (a.values.length === b.values.length && a.values.length > 0) {
    const ratios = a.values.map((v, i) => v / (b.values[i] as number));
    const s = summarize(ratios);
    return { median: s.median, min: s.min, max: s.max };
  }
  const r = median(a.values) / median(b.values);
  return { median: r, min: r, max: r };
}

function ratio(get: Lookup, a: string, b: string, what: string): Measured | undefined {
  const fa = get(a);
  const fb = get(b);
  if (!fa || !fb) return undefined;
  const r = pairedRatio(fa, fb);
  const digits = r.median >= 100 ? 0 : 2;
  return {
    value: r.median,
    text: `${fmt(r.median, digits)}x (${fmt(r.min, digits)}-${fmt(r.max, digits)}): ${fmt(fa.median)} vs ${fmt(fb.median)} ${what}`,
  };
}

function goal(
  goalText: string,
  target: string,
  measured: Measured | undefined,
  test: (value: number) => boolean,
  cpu?: string,
): GoalResult {
  return {
    goal: goalText,
    target,
    measured: measured?.text ?? 'not measured in this run',
    met: measured ? test(measured.value) : undefined,
    ...(cpu ? { cpu } : {}),
  };
}

/** Names of the processes of a `cpu.<key>.*` figure, by the figure's kind. */
const PROCESS_NAMES: Record<string, string> = { client: 'client', db: 'db', nats: 'nats' };

/** "relay 1.2 / db 0.8 / nats 0.9": the medians of the figure's CPU seconds per 10,000 events. */
export function cpuText(get: Lookup, key: string, client = 'relay'): string | undefined {
  const parts: string[] = [];
  for (const process of ['client', 'db', 'nats']) {
    const f = get(`cpu.${key}.${process}`);
    if (f) parts.push(`${process === 'client' ? client : PROCESS_NAMES[process]} ${fmt(f.median, 2)}`);
  }
  return parts.length > 0 ? parts.join(' / ') : undefined;
}

/** Every goal of issues 7, 14 and 18, evaluated on this run's medians. */
export function evaluateGoals(figures: readonly FigureSummary[]): GoalResult[] {
  const byKey = new Map(figures.map((f) => [f.key, f]));
  const get: Lookup = (key) => byKey.get(key);
  const order = (db: string): Measured | undefined => {
    const all = [2, 4].flatMap((n) => get(`relay.${db}.order-violations-${n}`)?.values ?? []);
    return all.length > 0
      ? { value: Math.max(...all), text: `${fmt(Math.max(...all))} out-of-order events in ${all.length} drains` }
      : undefined;
  };
  const cpu = (key: string, client?: string) => cpuText(get, key, client);
  /** The ack_wait (s) a rebalance figure was measured with, from its note "ack_wait N s". */
  const ackWait = (key: string) => Number(/ack_wait (\d+(?:\.\d+)?) s/.exec(get(key)?.note ?? '')?.[1] ?? Number.NaN);
  /** The lease (s) a partitioned rebalance figure was measured with, from its note "lease N s". */
  const lease = (key: string) => Number(/lease (\d+(?:\.\d+)?) s/.exec(get(key)?.note ?? '')?.[1] ?? Number.NaN);
  return [
    goal(
      "JetStream ceiling, Go client (async publish, the relay's records, file storage)",
      'measured: the figure to compare with',
      figure(get, 'relay.go', 'events/s'),
      () => true,
      cpu('relay.go', 'go'),
    ),
    goal(
      'NatsPublisher alone (no database) vs the Go ceiling',
      '>= 0.8x',
      ratio(get, 'relay.raw', 'relay.go', 'events/s'),
      (v) => v >= 0.8,
      cpu('relay.raw', 'node'),
    ),
    goal(
      'Relay on PostgreSQL, one process',
      '>= 12,000 events/s',
      figure(get, 'relay.pg.outboxkit-1', 'events/s'),
      (v) => v >= 12_000,
      cpu('relay.pg.outboxkit-1'),
    ),
    goal('... vs the Go ceiling (same run)', '>= 0.5x', ratio(get, 'relay.pg.outboxkit-1', 'relay.go', 'events/s'), (v) => v >= 0.5),
    goal(
      '... as a share of NatsPublisher alone (same run)',
      '>= 80%',
      ratio(get, 'relay.pg.outboxkit-1', 'relay.raw', 'events/s'),
      (v) => v >= 0.8,
    ),
    goal('... vs the naive relay', '>= 15x', ratio(get, 'relay.pg.outboxkit-1', 'relay.pg.naive', 'events/s'), (v) => v >= 15),
    goal(
      '... vs pg-transactional-outbox, 20,000 backlog',
      '>= 15x',
      ratio(get, 'relay.pg.outboxkit-1-small', 'relay.pg.ptxo-small', 'events/s'),
      (v) => v >= 15,
    ),
    goal(
      '... vs pg-transactional-outbox, 200,000 backlog',
      '>= 1,000x',
      ratio(get, 'relay.pg.outboxkit-1', 'relay.pg.ptxo-large', 'events/s'),
      (v) => v >= 1_000,
    ),
    goal(
      'Relay rate does not fall from a 20,000 to a 1,000,000 backlog',
      '1M rate >= 90% of the 20k rate',
      ratio(get, 'memory.pg.rate', 'relay.pg.outboxkit-1-small', 'events/s'),
      (v) => v >= 0.9,
    ),
    goal(
      'Relay on MariaDB, one process',
      '>= 12,000 events/s',
      figure(get, 'relay.mysql.outboxkit-1', 'events/s'),
      (v) => v >= 12_000,
      cpu('relay.mysql.outboxkit-1'),
    ),
    goal(
      '2 relay processes vs 1, PostgreSQL (2 saturated cores: a second relay must not slow the system down)',
      '>= 0.9x',
      ratio(get, 'relay.pg.outboxkit-2', 'relay.pg.outboxkit-1', 'events/s'),
      (v) => v >= 0.9,
      cpu('relay.pg.outboxkit-2'),
    ),
    goal(
      '4 relay processes vs 1, PostgreSQL',
      '>= 0.85x',
      ratio(get, 'relay.pg.outboxkit-4', 'relay.pg.outboxkit-1', 'events/s'),
      (v) => v >= 0.85,
      cpu('relay.pg.outboxkit-4'),
    ),
    goal('... per-subject order kept with 2 and 4 processes, PostgreSQL', '0 violations', order('pg'), (v) => v === 0),
    goal(
      '2 relay processes vs 1, MariaDB',
      '>= 0.9x',
      ratio(get, 'relay.mysql.outboxkit-2', 'relay.mysql.outboxkit-1', 'events/s'),
      (v) => v >= 0.9,
      cpu('relay.mysql.outboxkit-2'),
    ),
    goal('... per-subject order kept with 2 processes, MariaDB', '0 violations', order('mysql'), (v) => v === 0),
    goal(
      'enqueue with @opentelemetry/api installed and no SDK vs without it (PostgreSQL, 8 clients)',
      'within 2% (>= 0.98x)',
      ratio(get, 'otel.enqueue.api', 'otel.enqueue.absent', 'tx/s'),
      (v) => v >= 0.98,
    ),
    goal(
      'Producer: enqueue vs a hand-written INSERT (PostgreSQL, 8 clients)',
      'within 5% (>= 0.95x)',
      ratio(get, 'producer.pg.c8.enqueue', 'producer.pg.c8.insert', 'tx/s'),
      (v) => v >= 0.95,
    ),
    goal(
      'Producer: enqueue vs a hand-written INSERT (MariaDB, 8 clients)',
      'within 5% (>= 0.95x)',
      ratio(get, 'producer.mysql.c8.enqueue', 'producer.mysql.c8.insert', 'tx/s'),
      (v) => v >= 0.95,
    ),
    goal(
      'Producer: UPDATE + enqueue with its wake-up vs UPDATE alone (PostgreSQL, 8 clients)',
      '>= 0.6x',
      ratio(get, 'producer.pg.c8.enqueue', 'producer.pg.c8.alone', 'tx/s'),
      (v) => v >= 0.6,
    ),
    goal(
      'Producer: enqueue with the sequence stamp vs without (PostgreSQL, 8 clients; issue 14)',
      '>= 0.9x',
      ratio(get, 'producer.pg.c8.enqueue-seq', 'producer.pg.c8.enqueue', 'tx/s'),
      (v) => v >= 0.9,
    ),
    goal(
      'Producer: enqueue with the sequence stamp vs without (PostgreSQL, 32 clients; issue 14)',
      '>= 0.9x',
      ratio(get, 'producer.pg.c32.enqueue-seq', 'producer.pg.c32.enqueue', 'tx/s'),
      (v) => v >= 0.9,
    ),
    goal(
      '... the same, every client on the same 4 hot subjects (PostgreSQL, 8 clients: serialised by design)',
      'reported, no goal',
      ratio(get, 'producer.pg.c8.enqueue-seq-hot', 'producer.pg.c8.enqueue', 'tx/s'),
      () => true,
    ),
    goal(
      'Producer: enqueue with the sequence stamp vs without (MariaDB, 8 clients; issue 14)',
      '>= 0.9x',
      ratio(get, 'producer.mysql.c8.enqueue-seq', 'producer.mysql.c8.enqueue', 'tx/s'),
      (v) => v >= 0.9,
    ),
    goal(
      'Producer: enqueue with the sequence stamp vs without (MariaDB, 32 clients; issue 14)',
      '>= 0.9x',
      ratio(get, 'producer.mysql.c32.enqueue-seq', 'producer.mysql.c32.enqueue', 'tx/s'),
      (v) => v >= 0.9,
    ),
    goal(
      '... the same, every client on the same 4 hot subjects (MariaDB, 8 clients: serialised by design)',
      'reported, no goal',
      ratio(get, 'producer.mysql.c8.enqueue-seq-hot', 'producer.mysql.c8.enqueue', 'tx/s'),
      () => true,
    ),
    goal(
      'Latency commit -> PubAck at 1,000 events/s, PostgreSQL p50',
      '<= 5 ms',
      figure(get, 'latency.pg.1000.p50', 'ms', 1),
      (v) => v <= 5,
    ),
    goal('... PostgreSQL p99', '<= 30 ms', figure(get, 'latency.pg.1000.p99', 'ms', 1), (v) => v <= 30),
    goal('... MariaDB p50', '<= 25 ms', figure(get, 'latency.mysql.1000.p50', 'ms', 1), (v) => v <= 25),
    goal('... MariaDB p99', '<= 100 ms', figure(get, 'latency.mysql.1000.p99', 'ms', 1), (v) => v <= 100),
    ...(['pg', 'mysql'] as const).flatMap((db) => {
      const name = db === 'pg' ? 'PostgreSQL' : 'MariaDB';
      const key = (suffix: string) => `consumer.${db}.${suffix}`;
      return [
        goal(
          `Consumer, batched (1 instance), ${name}`,
          '>= 10,000 events/s',
          figure(get, key('batch-1'), 'events/s'),
          (v) => v >= 10_000,
          cpu(key('batch-1'), 'consumer'),
        ),
        goal(
          `Consumer, batched (1 instance), a batch handler (onBatch: one UPDATE per fetch), ${name}`,
          '>= 10,000 events/s',
          figure(get, key('batch-1-many'), 'events/s'),
          (v) => v >= 10_000,
          cpu(key('batch-1-many'), 'consumer'),
        ),
        goal(
          `... the same with batchTransactions 4 (a fetch divided by subject into 4 transactions at once), ${name}`,
          'reported, no goal',
          figure(get, key('batch-1-t4'), 'events/s'),
          () => true,
          cpu(key('batch-1-t4'), 'consumer'),
        ),
      ];
    }),
    goal(
      'Consumer, per-message (concurrency 8), PostgreSQL',
      '>= 800 events/s',
      figure(get, 'consumer.pg.message-c8', 'events/s'),
      (v) => v >= 800,
      cpu('consumer.pg.message-c8', 'consumer'),
    ),
    goal(
      'Consumer, per-message (concurrency 8), MariaDB',
      '>= 800 events/s',
      figure(get, 'consumer.mysql.message-c8', 'events/s'),
      (v) => v >= 800,
      cpu('consumer.mysql.message-c8', 'consumer'),
    ),
    goal(
      "Consumer, batched, strict order vs order: 'none' (PostgreSQL inbox; issue 14)",
      '>= 0.8x',
      ratio(get, 'consumer.pg.batch-1', 'consumer.pg.batch-1-none', 'events/s'),
      (v) => v >= 0.8,
    ),
    goal(
      "Consumer, batched, strict order vs order: 'none' (MariaDB inbox; issue 14)",
      '>= 0.8x',
      ratio(get, 'consumer.mysql.batch-1', 'consumer.mysql.batch-1-none', 'events/s'),
      (v) => v >= 0.8,
    ),
    ...(['pg', 'mysql'] as const).flatMap((db) => {
      const name = db === 'pg' ? 'PostgreSQL' : 'MariaDB';
      const key = (suffix: string) => `consumer.${db}.${suffix}`;
      return [
        goal(
          `4 consumer processes vs 1, batched, strict order, 16 partitions with leases (${name}; issue 14 item 4)`,
          '>= 1.5x',
          ratio(get, key('procs-part-4'), key('procs-part-1'), 'events/s'),
          (v) => v >= 1.5,
          cpu(key('procs-part-4'), 'consumers'),
        ),
        goal(
          `... the same with a batch handler (onBatch: one UPDATE per fetch), ${name}; issue 14 item 4`,
          '>= 1.5x',
          ratio(get, key('procs-part-many-4'), key('procs-part-many-1'), 'events/s'),
          (v) => v >= 1.5,
          cpu(key('procs-part-many-4'), 'consumers'),
        ),
        goal(
          `4 consumer processes vs 1, batched, strict order, one shared durable (${name})`,
          'measured: what partitions are compared with',
          ratio(get, key('procs-4'), key('procs-1'), 'events/s'),
          () => true,
          cpu(key('procs-4'), 'consumers'),
        ),
        goal(
          `rebalance time after kill -9 (1 of 2 consumer processes, 16 partitions, ${name}; ${get(key('rebalance-part'))?.note ?? 'ack_wait, lease'})`,
          '<= lease + ack_wait + 5 s',
          figure(get, key('rebalance-part'), 's', 1),
          (v) => v <= ackWait(key('rebalance-part')) + lease(key('rebalance-part')) + 5,
        ),
        goal(
          `rebalance time after kill -9 (1 of 2 consumer processes, one shared durable, ${name}; ${get(key('rebalance'))?.note ?? 'ack_wait'})`,
          '<= ack_wait + 5 s',
          figure(get, key('rebalance'), 's', 1),
          (v) => v <= ackWait(key('rebalance')) + 5,
        ),
      ];
    }),
    goal('Relay peak RSS draining the large backlog', '<= 150 MB', figure(get, 'memory.pg.peak-rss', 'MB'), (v) => v <= 150),
  ];
}
