import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers as createHeaders } from '@nats-io/transport-node';
import { ensureConsumer, MSG_ID_HEADER, replayDeadLetters } from '@outboxkit/bus-nats';
import { MYSQL_URL, NATS_URL, PG_URL } from '@outboxkit/test-services';
import { createPool, type Pool as MysqlPool, type RowDataPacket } from 'mysql2/promise';
import pg from 'pg';
import type { DatabaseKind } from './databases.js';
import { readDeadLetters } from './dead-letters.js';
import { sleep, waitUntil } from './env.js';
import { ItemChanged, ItemPoisoned } from './events.js';
import type { ManagedProcess } from './processes.js';
import { Scenario } from './scenario.js';
import type { ConsumerOutcome } from './scenarios-consumer.js';

/** The second consumer of the stream: its own durable, its own `applied_b` / `effects_b` tables. */
const SECOND = 'worker_b';
const SUFFIX = '_b';

/** What the second consumer's tables hold: events applied, events applied more than once, effects per id. */
interface SecondCounts {
  readonly applied: number;
  readonly twice: number;
  readonly effects: Map<string, number>;
}

/** The second consumer's tables, created and read with the admin URL (the scenario's own pools are private). */
class SecondTables {
  readonly #kind: DatabaseKind;
  readonly #namespace: string;
  readonly #pg: pg.Pool | undefined;
  readonly #mysql: MysqlPool | undefined;

  constructor(kind: DatabaseKind, namespace: string) {
    this.#kind = kind;
    this.#namespace = namespace;
    if (kind === 'pg') {
      this.#pg = new pg.Pool({ connectionString: PG_URL, max: 2 });
    } else {
      const url = new URL(MYSQL_URL);
      url.pathname = `/${namespace}`;
      this.#mysql = createPool({ uri: url.toString(), connectionLimit: 2 });
    }
  }

  #q(name: string): string {
    return this.#kind === 'pg' ? `"${this.#namespace}"."${name}${SUFFIX}"` : `\`${name}${SUFFIX}\``;
  }

  async #rows(sql: string): Promise<Array<Record<string, unknown>>> {
    if (this.#pg) return (await this.#pg.query(sql)).rows;
    const [rows] = await (this.#mysql as MysqlPool).query<RowDataPacket[]>(sql);
    return rows;
  }

  async create(): Promise<void> {
    const text = this.#kind === 'pg' ? 'text' : 'varchar(64)';
    await this.#rows(`CREATE TABLE ${this.#q('applied')} (event_id ${text} PRIMARY KEY, subject ${text} NOT NULL, n int NOT NULL)`);
    await this.#rows(`CREATE TABLE ${this.#q('effects')} (event_id ${text} NOT NULL)`);
  }

  async counts(): Promise<SecondCounts> {
    const [row] = await this.#rows(
      `SELECT (SELECT count(*) FROM ${this.#q('applied')}) AS applied,
              (SELECT count(*) FROM (SELECT event_id FROM ${this.#q('effects')} GROUP BY event_id HAVING count(*) > 1) t) AS twice`,
    );
    const effects = await this.#rows(`SELECT event_id, count(*) AS times FROM ${this.#q('effects')} GROUP BY event_id`);
    return {
      applied: Number(row?.applied),
      twice: Number(row?.twice),
      effects: new Map(effects.map((r) => [String(r.event_id), Number(r.times)])),
    };
  }

  async close(): Promise<void> {
    await this.#pg?.end();
    await this.#mysql?.end();
  }
}

async function pending(scenario: Scenario, consumer: string): Promise<number> {
  const info = await (await jetstreamManager(scenario.nc)).consumers.info(scenario.stream, consumer);
  return info.num_pending + info.num_ack_pending;
}

/**
 * R1. A replay after a second consumer on the same stream has applied newer events. The first
 * consumer (`worker`) fails `fault.item.poisoned` until its fix ships and dead-letters those events
 * after `maxDeliver`; the second (`worker_b`, its own durable and tables) applies everything,
 * including the newer events of the same subjects. After the fix, the letters are replayed as an
 * operator would after a crash between publish and delete: once with `keep` (the letters stay),
 * then with `outbox-relay dlq replay --all` (the same replays again: dropped by the stream's
 * duplicate window). Then a copy of a replay with a fresh `Nats-Msg-Id` stands for a replay past the
 * window (the first consumer's inbox must drop it). The second consumer must skip every replay
 * (acked, never applied); the first must apply each poisoned event exactly once.
 */
export async function replayToOneConsumer(
  kind: DatabaseKind,
  size: { events: number; poisoned: number; writeMs: number },
): Promise<ConsumerOutcome> {
  const maxDeliver = 3;
  const scenario = await Scenario.create({ kind, natsUrls: NATS_URL, maxDeliver, ackWaitMs: 2_000 });
  const second = new SecondTables(kind, scenario.db.namespace);
  let workerB: ManagedProcess | undefined;
  try {
    await second.create();
    await ensureConsumer(scenario.nc, { stream: scenario.stream, name: SECOND, ackWaitMs: 2_000, maxDeliver });
    // startWorker() tracks the last worker it started: this handle is the second consumer's.
    workerB = await scenario.startWorker({ FAULT_CONSUMER: SECOND, FAULT_TABLE_SUFFIX: SUFFIX, FAULT_FIXED: '1' });
    const secondOutput = workerB;
    await scenario.startWorker();
    await scenario.startRelay();
    // The poisoned events first; the ordinary ones after them share their aggregate keys (newer events).
    const poisoned = scenario.events(size.poisoned, ItemPoisoned);
    await scenario.db.write(poisoned);
    await scenario.write(size.events, size.writeMs);
    const total = size.events + size.poisoned;
    await waitUntil(
      'the first consumer to apply every ordinary event and dead-letter the poisoned ones, the second to apply all',
      async () =>
        (await scenario.db.counts()).applied === size.events &&
        (await scenario.streamMessages(scenario.deadLetterStream)) === size.poisoned &&
        (await second.counts()).applied === total,
      120_000,
      250,
    );
    const deadBefore = await readDeadLetters(scenario.nc, scenario.deadLetterStream, scenario.deadLetterPrefix);

    // The fix ships for the first consumer; an operator replays.
    await scenario.worker?.stop();
    await scenario.startWorker({ FAULT_FIXED: '1' });
    let duplicatesKept = 0;
    const replayedKeep = await replayDeadLetters(scenario.nc, {
      stream: scenario.deadLetterStream,
      subjectPrefix: scenario.deadLetterPrefix,
      limit: 100_000,
      keep: true,
      onReplayed: (_, result) => {
        if (result.duplicate) duplicatesKept++;
      },
    });
    const cli = await scenario.relayCommand(['dlq', 'replay', '--all'], {
      OUTBOX_DLQ_STREAM: scenario.deadLetterStream,
      OUTBOX_DLQ_PREFIX: scenario.deadLetterPrefix,
    });
    if (cli.code !== 0) throw new Error(`outbox-relay dlq replay exited ${cli.code}: ${cli.stderr}`);
    // A replay past the duplicate window: the stored replay again, under a Nats-Msg-Id never seen.
    const jsm = await jetstreamManager(scenario.nc);
    const stored = await jsm.streams.getMessage(scenario.stream, { last_by_subj: `${scenario.prefix}.${ItemPoisoned.type}` });
    if (!stored) throw new Error('no replay stored in the stream');
    const late = createHeaders();
    for (const [name, values] of stored.header) for (const value of values) late.append(name, value);
    late.set(MSG_ID_HEADER, `${stored.header.get(MSG_ID_HEADER)}:past-the-window`);
    await jetstream(scenario.nc).publish(stored.subject, stored.data, { headers: late });
    const replays = 2 * size.poisoned + 1; // the kept replays, the CLI's (dropped), the late copy
    const storedReplays = (await scenario.streamMessages()) - total;

    let settled = true;
    try {
      await waitUntil(
        'both consumers to settle: every event applied by the first, nothing pending on either',
        async () =>
          (await scenario.db.counts()).lost === 0 &&
          (await pending(scenario, scenario.consumer)) === 0 &&
          (await pending(scenario, SECOND)) === 0,
        120_000,
        250,
      );
      // A late redelivery would show up as a second effect: give one a chance to land.
      // sleep-ok: a quiet period in which a late redelivery (which must not happen) would show as a second effect
      await sleep(1_000);
    } catch {
      settled = false;
    }
    const [counts, secondCounts, firstTimes, deadAfter] = await Promise.all([
      scenario.db.counts(),
      second.counts(),
      scenario.db.appliedTimes(poisoned.map((event) => event.id)),
      readDeadLetters(scenario.nc, scenario.deadLetterStream, scenario.deadLetterPrefix),
    ]);
    const skippedBySecond = poisoned.map(
      (event) => secondOutput.stdout().split(`skipped ${event.id} replay-for-another-consumer`).length - 1,
    );
    const deadHealthy = [...deadBefore, ...deadAfter].filter((letter) => letter.headers['ce-type'] === ItemChanged.type).length;
    return {
      result: {
        scenario: 'R1 replay, second consumer',
        database: scenario.db.label,
        written: counts.written,
        applied: counts.applied,
        lost: counts.lost,
        twice: counts.twice + secondCounts.twice,
        deadHealthy,
        stillPending: (await pending(scenario, scenario.consumer)) + (await pending(scenario, SECOND)),
        durationMs: Date.now() - scenario.startedAt,
        faults: `${size.poisoned} poisoned, maxDeliver ${maxDeliver}; replayed with keep, again by the CLI, and 1 copy past the window; second consumer applied ${secondCounts.applied}`,
      },
      checks: {
        settled,
        total,
        replayedKeep,
        duplicatesKept,
        cliStdout: cli.stdout,
        replays,
        storedReplays,
        deadBefore: deadBefore.map((letter) => [letter.messageId, letter.consumer]),
        deadAfter: deadAfter.length,
        poisonedIds: poisoned.map((event) => event.id),
        firstPoisonedTimes: poisoned.map((event) => firstTimes.get(event.id) ?? 0),
        secondApplied: secondCounts.applied,
        secondPoisonedTimes: poisoned.map((event) => secondCounts.effects.get(event.id) ?? 0),
        skippedBySecond,
      },
    };
  } finally {
    await workerB?.kill('SIGKILL');
    await second.close().catch(() => undefined);
    await scenario.dispose();
  }
}
