import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers as createHeaders } from '@nats-io/transport-node';
import { CloudEventHeaders } from '@outboxkit/bus-nats';
import { createEvent, newEventId } from '@outboxkit/outbox-core';
import { NATS_URL } from '@outboxkit/test-services';
import type { DatabaseKind } from './databases.js';
import { type DeadLetter, readDeadLetters, replayDeadLetters } from './dead-letters.js';
import { sleep, waitUntil } from './env.js';
import { ItemPoisoned } from './events.js';
import { startNatsServers } from './nats-servers.js';
import { Scenario, type ScenarioResult } from './scenario.js';

/** A scenario's report line plus what its test asserts beyond "0 lost, 0 applied twice". */
export interface Outcome {
  readonly result: ScenarioResult;
  /** Outbox rows still pending and dead-lettered at the end (`outbox-relay status`). */
  readonly outbox: { readonly pending: number; readonly dead: number };
  /** Messages in the consumer's dead-letter stream at the end. */
  readonly deadLetters: readonly DeadLetter[];
  /** Relay processes that ended without being killed by the scenario (exit codes). */
  readonly relayExits: readonly (number | null)[];
  readonly checks: Record<string, unknown>;
}

/** Sizes of one run: the full suite or the smoke form. */
export interface RunSize {
  readonly events: number;
  /** Faults injected (kills). */
  readonly faults: number;
  /** How long the writer spreads the events over. */
  readonly writeMs: number;
}

/** `fractions` of `total`, in (0.1, 0.9), sorted: where in the run each fault strikes. */
function faultPoints(count: number, total: number): number[] {
  return Array.from({ length: count }, (_, i) => Math.round(total * (0.1 + (0.8 * (i + Math.random() * 0.8)) / count)));
}

/** Runs `act` each time `progress()` passes the next point. */
async function atProgress(points: readonly number[], progress: () => Promise<number>, act: () => Promise<void>, timeoutMs: number) {
  for (const point of points) {
    await waitUntil(`progress ${point}`, async () => (await progress()) >= point, timeoutMs, 50);
    await act();
  }
}

async function finish(
  scenario: Scenario,
  name: string,
  faults: string,
  relayExits: (number | null)[],
  checks: Record<string, unknown> = {},
) {
  const [result, outbox, deadLetters] = await Promise.all([
    scenario.result(name, faults),
    scenario.outboxStatus(),
    readDeadLetters(scenario.nc, scenario.deadLetterStream, scenario.deadLetterPrefix),
  ]);
  return { result, outbox, deadLetters, relayExits, checks } satisfies Outcome;
}

/**
 * Restarts the relay when it exited on its own (a supervisor's job), recording its exit code and
 * the one line it printed on stderr (why it exited).
 */
async function superviseRelay(scenario: Scenario, exits: (number | null)[], reasons: string[]): Promise<void> {
  if (scenario.relay && !scenario.relay.running) {
    const relay = scenario.relay;
    exits.push((await relay.exited).code);
    reasons.push(relay.stderr().trim().split('\n').pop() ?? '');
    await scenario.startRelay();
  }
}

/** 1. The relay SIGKILLed at `size.faults` random moments of the run and restarted each time. */
export async function relayKilled(kind: DatabaseKind, size: RunSize): Promise<Outcome> {
  const scenario = await Scenario.create({ kind, natsUrls: NATS_URL });
  try {
    await Promise.all([scenario.startWorker(), scenario.startRelay()]);
    const writing = scenario.write(size.events, size.writeMs);
    await atProgress(
      faultPoints(size.faults, size.events),
      () => scenario.streamMessages(),
      () => scenario.crashRelay(),
      120_000,
    );
    await writing;
    await scenario.settle(180_000);
    return await finish(scenario, '1 relay SIGKILL', `relay SIGKILL x${size.faults}, ${scenario.relayStarts} relay starts`, []);
  } finally {
    await scenario.dispose();
  }
}

/** 2. The scenario's own nats-server stopped for `outageMs` mid-run, then started again on the same port and store. */
export async function natsStopped(kind: DatabaseKind, size: RunSize & { outageMs: number }): Promise<Outcome> {
  const servers = await startNatsServers(1);
  const node = servers.nodes[0];
  if (!node) throw new Error('no nats-server node');
  let scenario: Scenario | undefined;
  try {
    await servers.waitReady();
    scenario = await Scenario.create({ kind, natsUrls: servers.urls });
    const s = scenario;
    await Promise.all([s.startWorker(), s.startRelay()]);
    // Ready once the stats poller has reached the database (every OUTBOX_STATS_INTERVAL_MS).
    await waitUntil('/readyz to answer 200', async () => (await s.readyz()) === 200, 15_000, 100).catch(() => undefined);
    const readyBefore = await s.readyz();
    const writing = s.write(size.events, size.writeMs);
    await waitUntil('a third of the events in the stream', async () => (await s.streamMessages()) >= size.events / 3, 60_000, 50);
    await node.stop('SIGTERM');
    const statuses = new Set<number>();
    const outageEnds = Date.now() + size.outageMs;
    while (Date.now() < outageEnds) {
      statuses.add(await s.readyz());
      // sleep-ok: samples /readyz every 250 ms for the length of the outage
      await sleep(250);
    }
    node.start();
    await servers.waitReady(node);
    await waitUntil('/readyz to answer 200 again', async () => (await s.readyz()) === 200, 60_000, 250);
    await writing;
    await s.settle(180_000);
    const checks = { readyBefore, readyDuringOutage: [...statuses].sort(), relayRunning: s.relay?.running ?? false };
    return await finish(
      s,
      '2 nats-server stopped',
      `nats-server down ${size.outageMs / 1000} s; /readyz ${[...statuses].join('/')}`,
      [],
      checks,
    );
  } finally {
    await scenario?.dispose();
    await servers.dispose();
  }
}

/** 3. The relay's database connections terminated `size.faults` times mid-run. */
export async function databaseConnectionsKilled(kind: DatabaseKind, size: RunSize): Promise<Outcome> {
  const scenario = await Scenario.create({ kind, natsUrls: NATS_URL });
  const exits: (number | null)[] = [];
  const reasons: string[] = [];
  let killed = 0;
  try {
    await Promise.all([scenario.startWorker(), scenario.startRelay()]);
    const writing = scenario.write(size.events, size.writeMs);
    await atProgress(
      faultPoints(size.faults, size.events),
      () => scenario.streamMessages(),
      async () => {
        killed += await scenario.db.killRelayConnections();
        // sleep-ok: a grace period in which a relay that exits on the kill does so (nothing observable
        // says a relay that carries on has "decided" to); superviseRelay then records and restarts it
        await sleep(300);
        await superviseRelay(scenario, exits, reasons);
      },
      120_000,
    );
    await writing;
    await superviseRelay(scenario, exits, reasons);
    await scenario.settle(180_000);
    await superviseRelay(scenario, exits, reasons);
    const what = kind === 'pg' ? 'pg_terminate_backend' : 'KILL CONNECTION';
    return await finish(scenario, '3 relay DB connections killed', `${what} x${size.faults} (${killed} connections)`, exits, {
      connectionsKilled: killed,
      exitReasons: reasons,
    });
  } finally {
    await scenario.dispose();
  }
}

/**
 * 3b. PostgreSQL: the relay's connections terminated while it waits for work. Between batches the
 * relay arms its LISTEN/NOTIFY wake-up (`PgOutboxStore.waitForWork`); the scenario catches it
 * there (it holds the wake-up table locked until a relay connection waits on it), terminates the
 * relay's connections, and checks the relay carries on. Then it writes `size.events` more events.
 */
export async function databaseConnectionsKilledWhileWaiting(size: RunSize): Promise<Outcome> {
  const scenario = await Scenario.create({ kind: 'pg', natsUrls: NATS_URL });
  const exits: (number | null)[] = [];
  const reasons: string[] = [];
  let caught = 0;
  try {
    await Promise.all([scenario.startWorker(), scenario.startRelay()]);
    await scenario.write(size.events, size.writeMs);
    await scenario.settle(120_000);
    for (let i = 0; i < size.faults; i++) {
      if (await scenario.db.killRelayConnectionsWhileWaiting?.(10_000)) caught++;
      // sleep-ok: a grace period in which a relay that exits on the kill does so; superviseRelay
      // then records and restarts it (settle() later proves nothing was lost either way)
      await sleep(500);
      await superviseRelay(scenario, exits, reasons);
    }
    await scenario.write(size.events, size.writeMs);
    await scenario.settle(120_000);
    await superviseRelay(scenario, exits, reasons);
    return await finish(scenario, '3b relay DB conns killed idle', `pg_terminate_backend x${size.faults} inside waitForWork`, exits, {
      caught,
      exitReasons: reasons,
    });
  } finally {
    await scenario.dispose();
  }
}

/** 4. The consumer worker SIGKILLed mid-handler `size.faults` times and restarted. */
export async function consumerKilled(kind: DatabaseKind, size: RunSize): Promise<Outcome> {
  const scenario = await Scenario.create({ kind, natsUrls: NATS_URL });
  // Batch mode: one transaction holds a whole fetch, a savepoint per message, so a kill rolls back
  // many handlers at once. Each handler takes a millisecond inside it: a kill lands in a handler.
  const workerEnv = { FAULT_HANDLER_DELAY_MS: '1', FAULT_MODE: 'batch' };
  try {
    await Promise.all([scenario.startWorker(workerEnv), scenario.startRelay()]);
    const writing = scenario.write(size.events, size.writeMs);
    await atProgress(
      faultPoints(size.faults, size.events),
      async () => (await scenario.db.counts()).applied,
      async () => {
        await scenario.worker?.kill('SIGKILL');
        await scenario.startWorker(workerEnv);
      },
      180_000,
    );
    await writing;
    await scenario.settle(180_000);
    return await finish(scenario, '4 consumer SIGKILL', `worker SIGKILL x${size.faults} mid-handler`, []);
  } finally {
    await scenario.dispose();
  }
}

/** 5. A 3-node JetStream cluster, R3 streams; the stream leader SIGKILLed mid-run and restarted after `downMs`. */
export async function clusterNodeKilled(kind: DatabaseKind, size: RunSize & { downMs: number }): Promise<Outcome> {
  const servers = await startNatsServers(3);
  let scenario: Scenario | undefined;
  try {
    for (const node of servers.nodes) await servers.waitReady(node);
    scenario = await Scenario.create({ kind, natsUrls: servers.urls, replicas: 3 });
    const s = scenario;
    await Promise.all([s.startWorker(), s.startRelay()]);
    const writing = s.write(size.events, size.writeMs);
    await waitUntil('a third of the events in the stream', async () => (await s.streamMessages()) >= size.events / 3, 60_000, 50);
    const jsm = await jetstreamManager(s.nc);
    const leader = (await jsm.streams.info(s.stream)).cluster?.leader;
    const victim = servers.nodes.find((node) => node.name === leader) ?? (servers.nodes[0] as (typeof servers.nodes)[number]);
    await victim.stop('SIGKILL');
    // sleep-ok: the stream leader stays down for size.downMs: the outage is the fault
    await sleep(size.downMs);
    victim.start();
    await servers.waitReady(victim);
    await writing;
    await s.settle(180_000);
    return await finish(s, '5 cluster node SIGKILL', `R3, stream leader ${victim.name} SIGKILL, down ${size.downMs / 1000} s`, [], {
      victim: victim.name,
      wasLeader: victim.name === leader,
    });
  } finally {
    await scenario?.dispose();
    await servers.dispose();
  }
}

/**
 * 6. Poison: the handler of `fault.item.poisoned` always fails. Those events are dead-lettered after
 * `maxDeliver`, every other event is applied; after the fix, a replay from the dead-letter stream
 * applies each poisoned event once.
 */
export async function poison(kind: DatabaseKind, size: RunSize & { poisoned: number }): Promise<Outcome> {
  const maxDeliver = 3;
  const scenario = await Scenario.create({ kind, natsUrls: NATS_URL, maxDeliver, ackWaitMs: 2_000 });
  try {
    await Promise.all([scenario.startWorker(), scenario.startRelay()]);
    // The poisoned events share aggregate keys with ordinary ones: those wait behind them, then flow.
    const poisoned = scenario.events(size.poisoned, ItemPoisoned);
    await scenario.db.write(poisoned);
    await scenario.write(size.events, size.writeMs);
    const expected = size.events + size.poisoned;
    await waitUntil(
      'every ordinary event applied and the poisoned ones dead-lettered',
      async () =>
        (await scenario.db.counts()).applied === size.events &&
        (await scenario.streamMessages(scenario.deadLetterStream)) === size.poisoned,
      120_000,
      250,
    );
    const dead = await readDeadLetters(scenario.nc, scenario.deadLetterStream, scenario.deadLetterPrefix);
    const appliedBeforeFix = (await scenario.db.counts()).applied;
    // The fix ships: the worker restarts with a handler that works, and an operator replays.
    await scenario.worker?.stop();
    await scenario.startWorker({ FAULT_FIXED: '1' });
    const replayed = await replayDeadLetters(scenario.nc, scenario.deadLetterStream, scenario.deadLetterPrefix);
    await scenario.settle(120_000);
    const times = await scenario.db.appliedTimes(poisoned.map((event) => event.id));
    const outcome = await finish(
      scenario,
      '6 poison + replay',
      `${size.poisoned} poisoned, maxDeliver ${maxDeliver}, ${replayed} replayed`,
      [],
    );
    return {
      ...outcome,
      // The stream holds the replays too; report the events written once each.
      result: { ...outcome.result, inStream: outcome.result.inStream - replayed },
      checks: {
        expected,
        appliedBeforeFix,
        dead,
        replayed,
        poisonedIds: poisoned.map((event) => event.id),
        poisonedAppliedTimes: poisoned.map((event) => times.get(event.id) ?? 0),
        maxDeliver,
      },
    };
  } finally {
    await scenario.dispose();
  }
}

/**
 * 7a. Bad input: messages with no id, invalid JSON, a schema failure and a `ce-type` its subject
 * does not carry (forged) go to the dead-letter stream at once; an unknown type is acked and
 * counted (the consumer's default `unknownTypes: 'ack'`); an event over the server's max_payload
 * is dead-lettered in the outbox, after the relay published its gap marker, which the consumer
 * records as a gap of its subject; everything else is applied.
 */
export async function badInput(kind: DatabaseKind, size: RunSize): Promise<Outcome> {
  const scenario = await Scenario.create({ kind, natsUrls: NATS_URL });
  try {
    await Promise.all([scenario.startWorker(), scenario.startRelay()]);
    const js = jetstream(scenario.nc);
    const subject = `${scenario.prefix}.fault.item.changed`;
    const ce = (id: string, type: string) => {
      const h = createHeaders();
      h.set(CloudEventHeaders.specVersion, '1.0');
      h.set(CloudEventHeaders.id, id);
      h.set(CloudEventHeaders.type, type);
      h.set(CloudEventHeaders.source, 'faults');
      h.set(CloudEventHeaders.subject, 'bad-1');
      h.set(CloudEventHeaders.time, new Date().toISOString());
      return h;
    };
    const unknownId = newEventId();
    const bad = [
      { what: 'no id', subject, data: '{"seq":1,"n":1}', headers: undefined },
      { what: 'invalid JSON', subject, data: '{"seq":', headers: ce(newEventId(), 'fault.item.changed') },
      {
        what: 'unknown type',
        subject: `${scenario.prefix}.fault.unknown.happened`,
        data: '{}',
        headers: ce(unknownId, 'fault.unknown.happened'),
      },
      { what: 'schema failure', subject, data: '{"seq":-1,"n":0}', headers: ce(newEventId(), 'fault.item.changed') },
      {
        what: 'forged subject',
        subject: `${scenario.prefix}.fault.unknown.happened`,
        data: '{"seq":1,"n":1}',
        headers: ce(newEventId(), 'fault.item.changed'),
      },
    ];
    for (const message of bad) await js.publish(message.subject, message.data, message.headers ? { headers: message.headers } : {});
    const maxPayload = scenario.nc.info?.max_payload ?? 1_048_576;
    const oversized = createEvent({
      type: 'fault.item.changed',
      source: 'faults',
      subject: 'item-big',
      // Within enqueue's 1 MiB maxEventBytes (on a server with the default 1 MiB max_payload),
      // over max_payload once the transport's headers are added: the bus refuses it.
      data: { seq: 0, n: 1, pad: 'x'.repeat(maxPayload - 100) },
    });
    // Written to the outbox but not to `written`: it is expected dead, not applied.
    await scenario.db.write([oversized], false);
    await scenario.write(size.events, size.writeMs);
    await scenario.settle(120_000);
    await waitUntil('the outbox to dead-letter the oversized event', async () => (await scenario.outboxStatus()).dead === 1, 30_000, 500);
    const deadList = await scenario.relayCommand(['dead', 'list', '--json']);
    await waitUntil(
      'the unknown type to be skipped',
      () => (scenario.worker?.stdout() ?? '').includes(`skipped ${unknownId}`),
      30_000,
      100,
    );
    // The relay published the oversized event's gap marker before dead-lettering it (its subject
    // carries a sequence); the worker, keeping subject order, records the gap.
    const gapRecorded = /gap-recorded .*outbox-dead-letter subject=item-big\b/;
    await waitUntil("the worker to record the oversized event's gap", () => gapRecorded.test(scenario.worker?.stdout() ?? ''), 30_000, 100);
    const outcome = await finish(
      scenario,
      '7 bad input',
      'no id, bad JSON, bad schema, forged subject, unknown type (acked); 1 event > max_payload (its gap marker recorded)',
      [],
    );
    return {
      ...outcome,
      // Neither the hand-published bad messages nor the gap marker are events the outbox wrote.
      result: { ...outcome.result, inStream: outcome.result.inStream - bad.length - 1 },
      checks: {
        bad: bad.map((m) => m.what),
        unknownId,
        oversizedId: oversized.id,
        deadList: deadList.stdout,
        deadListCode: deadList.code,
        gapRecorded: gapRecorded.test(scenario.worker?.stdout() ?? ''),
      },
    };
  } finally {
    await scenario.dispose();
  }
}

/** What {@link badConfiguration} observed. */
export interface ConfigOutcome {
  readonly result: ScenarioResult;
  readonly badTable: { code: number | null; stderr: string };
  readonly badSchema: { code: number | null; stderr: string };
  readonly tablesBefore: readonly string[];
  readonly tablesAfter: readonly string[];
  readonly shortWindow: { code: number | null; stderr: string; streamCreated: boolean };
  readonly shortRetention: { code: number | null; stderr: string };
}

/**
 * 7b. Bad configuration: identifiers carrying SQL are refused with exit 2 before anything is opened;
 * a stream dedup window shorter than the relay's re-publish horizon and an inbox retention shorter
 * than the redelivery horizon are startup errors naming the setting.
 */
export async function badConfiguration(kind: DatabaseKind): Promise<ConfigOutcome> {
  const scenario = await Scenario.create({ kind, natsUrls: NATS_URL });
  try {
    const tablesBefore = await scenario.db.tables();
    const badTable = await scenario.relayCommand(['migrate'], { OUTBOX_TABLE: 'outbox; DROP TABLE x' });
    const badSchema =
      kind === 'pg'
        ? await scenario.relayCommand(['run', '--once'], { OUTBOX_SCHEMA: 'public; DROP TABLE x' })
        : await scenario.relayCommand(['run', '--once'], { OUTBOX_TABLE: 'outbox`; DROP TABLE x; --' });
    const tablesAfter = await scenario.db.tables();
    const stream = `${scenario.stream}_SHORT`;
    const shortWindow = await scenario.relayCommand(['run', '--once'], {
      OUTBOX_STREAM: stream,
      OUTBOX_DUPLICATE_WINDOW_MS: '10000',
      OUTBOX_LEASE_MS: '30000',
    });
    const jsm = await jetstreamManager(scenario.nc);
    const streamCreated = await jsm.streams.info(stream).then(
      () => true,
      () => false,
    );
    if (streamCreated) await jsm.streams.delete(stream);
    const worker = await scenario.startWorker({ FAULT_INBOX_RETENTION_MS: '1000' }).then(
      () => ({ code: 0, stderr: 'the worker started' }),
      async () => ({ code: (await scenario.worker?.exited)?.code ?? null, stderr: scenario.worker?.stderr() ?? '' }),
    );
    const result = await scenario.result('7 bad configuration', 'SQL in identifiers; short duplicate_window; short inbox retention');
    return {
      result,
      badTable: { code: badTable.code, stderr: badTable.stderr },
      badSchema: { code: badSchema.code, stderr: badSchema.stderr },
      tablesBefore,
      tablesAfter,
      shortWindow: { code: shortWindow.code, stderr: shortWindow.stderr, streamCreated },
      shortRetention: worker,
    };
  } finally {
    await scenario.dispose();
  }
}
