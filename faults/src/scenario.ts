import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ensureConsumer, ensureDeadLetterStream, ensurePartitionedConsumer, ensureStream, partitionDurable } from '@outboxkit/bus-nats';
import type { EventDefinition, OutboxEvent } from '@outboxkit/outbox-core';
import { freePort } from '@outboxkit/test-services';
import { type Counts, createFaultDatabase, type DatabaseKind, type FaultDatabase } from './databases.js';
import { FAULTS_DIR, RELAY_BIN, sleep, uniqueName, WORKER_SCRIPT, waitUntil } from './env.js';
import { ItemChanged } from './events.js';
import { ManagedProcess, runToCompletion } from './processes.js';

/** Options of {@link Scenario.create}. */
export interface ScenarioOptions {
  readonly kind: DatabaseKind;
  /** `OUTBOX_NATS_URL` of the relay and the worker (comma-separated for a cluster). */
  readonly natsUrls: string;
  /** Stream replicas (3 on the cluster). @defaultValue 1 */
  readonly replicas?: number;
  /** The JetStream consumer's `max_deliver`. @defaultValue 20: faults alone must never dead-letter */
  readonly maxDeliver?: number;
  /** @defaultValue 3_000 */
  readonly ackWaitMs?: number;
  /** The relay publishes with this many partitions and the workers divide them through leases (`PartitionedSubscriber`). @defaultValue none: one shared durable */
  readonly partitions?: number;
}

/** One line of the report. */
export interface ScenarioResult extends Counts {
  readonly scenario: string;
  readonly database: string;
  readonly durationMs: number;
  /** Messages in the event stream at the end (each event once: docs/guarantees.md#2-at-least-once-to-the-stream-once-in-it). */
  readonly inStream: number;
  /** What was injected, e.g. `relay SIGKILL x5`. */
  readonly faults: string;
}

/**
 * `scenario | db | written | applied | lost | applied twice | <extra> | duration | faults`, fixed
 * columns; `extra` holds a suite's own columns (the consumer scenarios' dead-lettered healthy and
 * still pending), already padded.
 */
export function formatResult(r: Omit<ScenarioResult, 'inStream'>, extra: readonly string[] = []): string {
  return [
    r.scenario.padEnd(30),
    r.database.padEnd(10),
    `written ${r.written}`.padEnd(14),
    `applied ${r.applied}`.padEnd(14),
    `lost ${r.lost}`.padEnd(7),
    `applied twice ${r.twice}`.padEnd(16),
    ...extra,
    `${(r.durationMs / 1000).toFixed(1)} s`.padStart(8),
    `  ${r.faults}`,
  ].join(' ');
}

/** What the scenario's relay logged: its JSON lines' `msg`. */
export function relayMessages(scenario: Scenario): string[] {
  const messages: string[] = [];
  for (const line of (scenario.relay?.stdout() ?? '').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      messages.push(String((JSON.parse(line) as { msg?: unknown }).msg));
    } catch {
      // A line cut by the capture limit.
    }
  }
  return messages;
}

const RELAY_DEFAULTS: Record<string, string> = {
  OUTBOX_TABLE: 'outbox',
  OUTBOX_LOG_LEVEL: 'info',
  // Covers two batches, OUTBOX_PUBLISH_TIMEOUT_MS x 2 waves of 256 (batch 500) x 2 + 1000 ms, so
  // OUTBOX_CLAIM_AHEAD's default (auto) applies each store's own: MariaDB's relay claims the next
  // batch while one is published, as it does in production; PostgreSQL's does not.
  OUTBOX_LEASE_MS: '13000',
  OUTBOX_POLL_INTERVAL_MS: '250',
  OUTBOX_STATS_INTERVAL_MS: '500',
  OUTBOX_PUBLISH_TIMEOUT_MS: '3000',
  OUTBOX_SHUTDOWN_TIMEOUT_MS: '5000',
};

/**
 * Everything one scenario runs on: its own database namespace, stream, dead-letter stream and
 * durable consumer, the relay CLI and the worker as child processes, and a paced writer.
 */
export class Scenario {
  readonly db: FaultDatabase;
  readonly natsUrls: string;
  readonly stream = uniqueName('FAULTS').toUpperCase();
  readonly prefix = this.stream.toLowerCase();
  readonly deadLetterStream = `${this.stream}_DLQ`;
  readonly deadLetterPrefix = `dlq_${this.prefix}`;
  readonly consumer = 'worker';
  readonly options: ScenarioOptions;
  nc!: NatsConnection;
  metricsPort = 0;
  relay: ManagedProcess | undefined;
  worker: ManagedProcess | undefined;
  relayStarts = 0;
  /** Whether the last relay started claiming ahead (its `outbox-relay started` line). */
  relayClaimsAhead = false;
  workerStarts = 0;
  readonly startedAt = Date.now();
  #seq = 0;
  readonly #perSubject = new Map<string, number>();

  private constructor(options: ScenarioOptions) {
    this.options = options;
    this.natsUrls = options.natsUrls;
    this.db = createFaultDatabase(options.kind);
  }

  /** Creates the namespace, the streams and the consumer, and migrates the outbox with `outbox-relay migrate`. */
  static async create(options: ScenarioOptions): Promise<Scenario> {
    const scenario = new Scenario(options);
    try {
      await scenario.#provision();
    } catch (error) {
      // Nobody else holds the scenario yet: drop what was created before rethrowing.
      await scenario.dispose().catch(() => undefined);
      throw error;
    }
    return scenario;
  }

  /** Namespace, streams, consumer and the outbox migration. */
  async #provision(): Promise<void> {
    const options = this.options;
    await this.db.setup();
    this.metricsPort = await freePort();
    this.nc = await connect({ servers: options.natsUrls.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const replicas = options.replicas ?? 1;
    // A new cluster elects its meta leader first; until then stream creation fails.
    await waitUntil(
      'the streams to be created',
      async () => {
        try {
          await ensureStream(this.nc, {
            name: this.stream,
            subjects: [`${this.prefix}.>`],
            duplicateWindowMs: 120_000,
            replicas,
          });
          await ensureDeadLetterStream(this.nc, {
            name: this.deadLetterStream,
            subjectPrefix: this.deadLetterPrefix,
            replicas,
          });
          return true;
        } catch {
          return false;
        }
      },
      30_000,
      500,
    );
    const durable = {
      stream: this.stream,
      name: this.consumer,
      ackWaitMs: options.ackWaitMs ?? 3_000,
      maxDeliver: options.maxDeliver ?? 20,
    };
    if (options.partitions === undefined) await ensureConsumer(this.nc, durable);
    else await ensurePartitionedConsumer(this.nc, { ...durable, partitions: options.partitions, subjectPrefix: this.prefix });
    const migrated = await this.relayCommand(['migrate']);
    if (migrated.code !== 0) throw new Error(`outbox-relay migrate exited ${migrated.code}: ${migrated.stderr}`);
  }

  /** The relay's environment: only PATH and its settings, nothing inherited. */
  relayEnv(extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '',
      ...RELAY_DEFAULTS,
      ...this.db.relayEnv(),
      OUTBOX_NATS_URL: this.natsUrls,
      OUTBOX_STREAM: this.stream,
      OUTBOX_SUBJECT_PREFIX: this.prefix,
      OUTBOX_METRICS_ADDR: `127.0.0.1:${this.metricsPort}`,
      ...(this.options.partitions === undefined ? {} : { OUTBOX_PARTITIONS: String(this.options.partitions) }),
      ...extra,
    };
  }

  /** Runs an `outbox-relay` command (migrate, status, dead ...) to completion. */
  async relayCommand(args: readonly string[], extra: Record<string, string> = {}): ReturnType<typeof runToCompletion> {
    for (let attempt = 1; ; attempt++) {
      const result = await runToCompletion('outbox-relay', process.execPath, [RELAY_BIN, ...args], this.relayEnv(extra));
      if (!isRebuilding(result.stderr) || attempt === LOAD_ATTEMPTS) return result;
      // sleep-ok: pause before retrying a start that failed while the machine rebuilds (isRebuilding)
      await sleep(2_000);
    }
  }

  /**
   * Starts `outbox-relay run` and waits for its `outbox-relay started` log line, at most
   * `timeoutMs` (a scenario that keeps the relay from starting on purpose adds its outage to it).
   */
  async startRelay(extra: Record<string, string> = {}, timeoutMs = 30_000): Promise<ManagedProcess> {
    for (let attempt = 1; ; attempt++) {
      const relay = new ManagedProcess('outbox-relay', process.execPath, [RELAY_BIN, 'run'], { env: this.relayEnv(extra) });
      this.relay = relay;
      await waitUntil('outbox-relay to start', () => relay.stdout().includes('"outbox-relay started"') || !relay.running, timeoutMs, 50);
      if (relay.running) {
        this.relayStarts++;
        this.relayClaimsAhead = relay.stdout().includes('"claimAhead":true');
        return relay;
      }
      if (!isRebuilding(relay.output()) || attempt === LOAD_ATTEMPTS) throw new Error(`outbox-relay exited at start: ${relay.output()}`);
      // sleep-ok: pause before retrying a start that failed while the machine rebuilds (isRebuilding)
      await sleep(2_000);
    }
  }

  /** SIGKILLs the relay by pid, as a crash would, and starts a new one. */
  async crashRelay(): Promise<void> {
    await this.relay?.kill('SIGKILL');
    await this.startRelay();
  }

  /** Starts the consumer worker and waits for `worker ready`. */
  async startWorker(extra: Record<string, string> = {}): Promise<ManagedProcess> {
    for (let attempt = 1; ; attempt++) {
      const worker = new ManagedProcess('worker', process.execPath, [WORKER_SCRIPT], {
        cwd: FAULTS_DIR,
        env: { PATH: process.env.PATH ?? '', ...this.workerEnv(), ...extra },
      });
      this.worker = worker;
      await waitUntil('the worker to start', () => worker.stdout().includes('worker ready') || !worker.running, 30_000, 50);
      if (worker.running) {
        this.workerStarts++;
        return worker;
      }
      if (!isRebuilding(worker.output()) || attempt === LOAD_ATTEMPTS) throw new Error(`the worker exited at start: ${worker.output()}`);
      // sleep-ok: pause before retrying a start that failed while the machine rebuilds (isRebuilding)
      await sleep(2_000);
    }
  }

  workerEnv(): Record<string, string> {
    return {
      ...this.db.workerEnv(),
      FAULT_NATS_URLS: this.natsUrls,
      FAULT_STREAM: this.stream,
      FAULT_CONSUMER: this.consumer,
      FAULT_DLQ_PREFIX: this.deadLetterPrefix,
      ...(this.options.partitions === undefined
        ? {}
        : { FAULT_PARTITIONS: String(this.options.partitions), FAULT_LEASE_MS: String(PARTITION_LEASE_MS) }),
    };
  }

  /** The HTTP status of the relay's `/readyz`, or 0 when it does not answer. */
  async readyz(): Promise<number> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.metricsPort}/readyz`, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      return response.status;
    } catch {
      return 0;
    }
  }

  /** `count` new `fault.item.changed` events over 500 aggregate keys. */
  events(count: number, definition: EventDefinition<string, { seq: number; n: number }> = ItemChanged): OutboxEvent[] {
    return Array.from({ length: count }, () => {
      const seq = this.#seq++;
      const subject = `item-${seq % 500}`;
      const n = (this.#perSubject.get(subject) ?? 0) + 1;
      this.#perSubject.set(subject, n);
      return definition.create({ seq, n }, { subject });
    });
  }

  /** Writes `total` events in transactions of `chunk`, spread evenly over `durationMs`. */
  async write(total: number, durationMs: number, chunk = 250): Promise<void> {
    const chunks = Math.ceil(total / chunk);
    const start = Date.now();
    for (let i = 0; i < chunks; i++) {
      await this.db.write(this.events(Math.min(chunk, total - i * chunk)));
      const due = start + ((i + 1) * durationMs) / chunks;
      // sleep-ok: paces the writes over durationMs: the load profile is part of the scenario
      if (due > Date.now()) await sleep(due - Date.now());
    }
  }

  /** Waits until every written event is applied, the outbox has nothing pending, and the consumer nothing pending or unacked. */
  async settle(timeoutMs: number): Promise<void> {
    await waitUntil('every written event to be applied', async () => (await this.db.counts()).lost === 0, timeoutMs, 100);
    // A batch the relay published but could not settle (its connection killed) stays leased until
    // the lease runs out; then it is published again (the bus drops the copies) and completed.
    await waitUntil('the outbox to have nothing pending', async () => (await this.db.pending()) === 0, timeoutMs, 100);
    await waitUntil(
      'the consumer to have nothing pending or unacked',
      async () => (await this.consumerPending().catch(() => -1)) === 0,
      timeoutMs,
      100,
    );
    // A late redelivery would show up as a second effect: give one a chance to land.
    // sleep-ok: a quiet period in which a late redelivery (which must not happen) would show as a second effect
    await sleep(1_000);
  }

  /** `num_pending + num_ack_pending` of the consumer's durable, or summed over its partitions' durables. */
  async consumerPending(): Promise<number> {
    const jsm = await jetstreamManager(this.nc);
    const durables =
      this.options.partitions === undefined
        ? [this.consumer]
        : Array.from({ length: this.options.partitions }, (_, partition) => partitionDurable(this.consumer, partition));
    let sum = 0;
    for (const durable of durables) {
      const info = await jsm.consumers.info(this.stream, durable);
      sum += info.num_pending + info.num_ack_pending;
    }
    return sum;
  }

  async streamMessages(stream = this.stream): Promise<number> {
    const jsm = await jetstreamManager(this.nc);
    return (await jsm.streams.info(stream)).state.messages;
  }

  /** `outbox-relay status --json`: pending and dead counts of the outbox. */
  async outboxStatus(): Promise<{ pending: number; dead: number }> {
    const status = await this.relayCommand(['status', '--json']);
    if (status.code !== 0) throw new Error(`outbox-relay status exited ${status.code}: ${status.stderr}`);
    return JSON.parse(status.stdout) as { pending: number; dead: number };
  }

  async result(scenario: string, faults: string): Promise<ScenarioResult> {
    const counts = await this.db.counts();
    return {
      scenario,
      database: this.db.label,
      ...counts,
      durationMs: Date.now() - this.startedAt,
      inStream: await this.streamMessages(),
      faults: this.relayClaimsAhead ? `${faults}, relay claiming ahead` : faults,
    };
  }

  /** Stops the processes (by pid), deletes the streams and drops the namespace. */
  async dispose(): Promise<void> {
    await Promise.all([this.worker?.kill('SIGKILL'), this.relay?.kill('SIGKILL')]);
    const streams = async (): Promise<void> => {
      if (!this.nc || this.nc.isClosed()) return;
      const jsm = await jetstreamManager(this.nc, { timeout: 5_000 }).catch(() => undefined);
      await Promise.all([
        jsm?.streams.delete(this.stream).catch(() => undefined),
        jsm?.streams.delete(this.deadLetterStream).catch(() => undefined),
        // The lease bucket of a partitioned run.
        jsm?.streams.delete(`KV_outbox-leases_${this.stream}_${this.consumer}`).catch(() => undefined),
      ]);
      await this.nc.close();
    };
    await Promise.all([streams(), this.db.dispose()]);
  }
}

/** The workers' lease on a partition in a partitioned scenario: a killed worker's partitions move after it. */
export const PARTITION_LEASE_MS = 3_000;

/** Starts of a process that could not load its modules, before giving up. */
const LOAD_ATTEMPTS = 5;

/**
 * True when a process failed because a package's `dist/` was being rebuilt under it (a `turbo
 * build` or `tsup --watch` in another terminal replaces the files while the suite runs). That
 * start is retried: it says nothing about the relay or the consumer.
 */
function isRebuilding(output: string): boolean {
  return /ERR_MODULE_NOT_FOUND|Cannot find module '[^']*\/dist\//.test(output);
}
