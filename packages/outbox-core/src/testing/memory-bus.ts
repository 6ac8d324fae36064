import type { OutboxRecord } from '../contracts/outbox-store.js';
import type { BusOutageReason, Publisher, PublishResult } from '../contracts/publisher.js';
import type { DeadLetterReason, Delivery, FetchOptions, SubjectGap, Subscriber } from '../contracts/subscriber.js';
import { EventDecodeError, PublishError } from '../errors.js';
import type { OutboxEvent } from '../event/event.js';
import {
  decodeSubjectSequence,
  GapHeaders,
  gapMarkerDecodeError,
  gapMessageId,
  readGapMarker,
  SUBJECT_SEQUENCE_HEADER,
} from '../event/subject-order.js';
import { sleep } from '../util/abort.js';
import { type Clock, systemClock } from '../util/clock.js';

/**
 * A message as the in-memory bus stores it: CloudEvents attributes in `ce-*` headers (the sequence
 * in `ce-subjectseq`), data as the body; a gap marker has the `outbox-gap-*` headers and an empty body.
 */
export interface MemoryMessage {
  readonly seq: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** The header that marks a message published with `publishRaw` as a replay for one consumer (`Delivery.replayFor`). */
export const MEMORY_REPLAY_HEADER = 'outbox-replay-consumer';

/** A message a `MemoryBus` subscriber dead-lettered, with why and after how many deliveries. */
export interface MemoryDeadLetter {
  readonly message: MemoryMessage;
  readonly reason: DeadLetterReason;
  readonly deliveryCount: number;
}

/** Options of `MemoryBus`. */
export interface MemoryBusOptions {
  /**
   * The bus's clock for redelivery (ack wait, `nak` delays): share a `ManualClock` with the
   * consumer to let a delay pass without waiting for it. A fetch still waits in real time.
   * @defaultValue `systemClock`
   */
  readonly clock?: Pick<Clock, 'now'>;
}

/** Options of `MemoryBus.subscriber`. */
export interface MemorySubscriberOptions {
  /** The consumer's name, as a durable consumer's. */
  readonly name: string;
  /** @defaultValue 5 */
  readonly maxDeliver?: number;
  /** An unsettled delivery is redelivered after this. @defaultValue 30_000 */
  readonly ackWaitMs?: number;
}

/**
 * A bus in memory with JetStream's semantics where outboxkit relies on them: dedup by message id,
 * stored order equal to publish order, durable subscribers with explicit ack, nak with delay,
 * redelivery counts. `down` and `failPublish` inject faults.
 */
export class MemoryBus {
  readonly messages: MemoryMessage[] = [];
  readonly deadLetters: MemoryDeadLetter[] = [];
  /** While true, every publish fails retryably, as when the server is unreachable. */
  down = false;
  /** While true, every dead-letter publish fails, as when the dead-letter stream is missing. */
  deadLettersDown = false;
  /**
   * A stream-level fault: while set, every publish fails retryably as JetStream fails it
   * (`stream-missing`: `NO_STREAM`; `full`, `no-leader`: a 503 `PUBLISH_FAILED`) and the probe names it.
   */
  streamFault: Exclude<BusOutageReason, 'unreachable'> | undefined;
  /** How many times the probe was asked. */
  probes = 0;
  /** Return an error to fail one record's publish (after dedup, before storing). */
  failPublish: ((record: OutboxRecord) => PublishError | undefined) | undefined;
  /** Return an error to fail the gap marker of one record (`publishGaps`; after dedup, before storing). */
  failGap: ((record: OutboxRecord) => PublishError | undefined) | undefined;
  readonly #ids = new Set<string>();
  /** The clock of redelivery times. */
  readonly clock: Pick<Clock, 'now'>;

  constructor(options: MemoryBusOptions = {}) {
    this.clock = options.clock ?? systemClock;
  }

  /** A `Publisher` on this bus, with `publishGaps`. */
  publisher(): Publisher {
    return {
      publish: async (records) => {
        await Promise.resolve();
        return records.map((record) => this.#publishOne(record));
      },
      publishGaps: async (records, reason) => {
        await Promise.resolve();
        return records.map((record) => this.#publishGap(record, reason));
      },
      probe: async () => {
        this.probes++;
        if (this.down) return { ok: false, reason: 'unreachable', detail: 'the in-memory bus is down' };
        if (this.streamFault) return { ok: false, reason: this.streamFault, detail: `the in-memory stream: ${this.streamFault}` };
        return { ok: true };
      },
    };
  }

  /** Stores a message as given, for malformed-input tests. */
  publishRaw(headers: Record<string, string>, body: string): void {
    this.messages.push({ seq: this.messages.length + 1, headers, body });
  }

  /** A subscriber that receives every message published to this bus, acks and redeliveries included. */
  subscriber(options: MemorySubscriberOptions): Subscriber {
    return new MemorySubscriber(this, options);
  }

  #publishOne(record: OutboxRecord): PublishResult {
    return this.#store(
      record.id,
      () => this.failPublish?.(record),
      () => {
        const headers: Record<string, string> = {
          ...record.headers,
          'ce-specversion': '1.0',
          'ce-id': record.id,
          'ce-type': record.type,
          'ce-source': record.source,
          'ce-subject': record.subject,
          'ce-time': record.time,
        };
        if (record.sequence !== undefined) headers[SUBJECT_SEQUENCE_HEADER] = String(record.sequence);
        return { headers, body: record.payload };
      },
    );
  }

  /** The gap marker of `record`: empty body, `outbox-gap-*` headers, deduplicated by `<id>.gap.<sequence>`. */
  #publishGap(record: OutboxRecord, reason: string): PublishResult {
    if (record.sequence === undefined) {
      return {
        id: record.id,
        ok: false,
        error: new PublishError('EVENT_INVALID', `event ${record.id} has no sequence: there is no gap to mark`, false),
      };
    }
    const sequence = record.sequence;
    return this.#store(
      gapMessageId(record.id, sequence),
      () => this.failGap?.(record),
      () => ({
        headers: {
          [GapHeaders.subject]: record.subject,
          [GapHeaders.sequence]: String(sequence),
          [GapHeaders.reason]: reason,
          [GapHeaders.event]: record.id,
        },
        body: '',
      }),
      record.id,
    );
  }

  /** Stores a message under dedup id `dedupId` unless a fault or `fail` says otherwise; the result names `resultId`. */
  #store(
    dedupId: string,
    fail: () => PublishError | undefined,
    build: () => { headers: Record<string, string>; body: string },
    resultId = dedupId,
  ): PublishResult {
    const id = resultId;
    if (this.down) {
      return { id, ok: false, error: new PublishError('DISCONNECTED', 'the in-memory bus is down', true) };
    }
    if (this.streamFault === 'stream-missing') {
      return { id, ok: false, error: new PublishError('NO_STREAM', 'no in-memory stream stores the subject', true) };
    }
    if (this.streamFault) {
      return { id, ok: false, error: new PublishError('PUBLISH_FAILED', `the in-memory stream is ${this.streamFault} (503)`, true) };
    }
    if (this.#ids.has(dedupId)) return { id, ok: true, duplicate: true };
    const error = fail();
    if (error) return { id, ok: false, error };
    this.#ids.add(dedupId);
    const message = { seq: this.messages.length + 1, ...build() };
    this.messages.push(message);
    return { id, ok: true, duplicate: false, sequence: message.seq };
  }
}

interface Cursor {
  deliveries: number;
  state: 'ready' | 'in-flight' | 'done';
  readyAt: number;
}

class MemorySubscriber implements Subscriber {
  readonly name: string;
  readonly maxDeliver: number;
  readonly redeliveryHorizonMs: number;
  readonly ackWaitMs: number;
  readonly #bus: MemoryBus;
  readonly #ackWaitMs: number;
  readonly #cursors: Cursor[] = [];
  #closed = false;

  constructor(bus: MemoryBus, options: MemorySubscriberOptions) {
    this.#bus = bus;
    this.name = options.name;
    this.maxDeliver = options.maxDeliver ?? 5;
    this.#ackWaitMs = options.ackWaitMs ?? 30_000;
    this.ackWaitMs = this.#ackWaitMs;
    this.redeliveryHorizonMs = this.maxDeliver * this.#ackWaitMs;
  }

  async fetch(options: FetchOptions): Promise<readonly Delivery[]> {
    const deadline = Date.now() + options.expiresMs;
    for (;;) {
      const ready = this.#take(options.max);
      if (ready.length > 0 || this.#closed || options.signal?.aborted || Date.now() >= deadline) return ready;
      await sleep(Math.min(5, deadline - Date.now()), options.signal);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #take(max: number): Delivery[] {
    while (this.#cursors.length < this.#bus.messages.length) this.#cursors.push({ deliveries: 0, state: 'ready', readyAt: 0 });
    const now = this.#bus.clock.now();
    const taken: Delivery[] = [];
    for (let index = 0; index < this.#cursors.length && taken.length < max; index++) {
      const cursor = this.#cursors[index] as Cursor;
      if (cursor.state === 'done' || cursor.readyAt > now) continue;
      if (cursor.deliveries >= this.maxDeliver) continue; // the bus gives up, as JetStream does
      cursor.state = 'in-flight';
      cursor.deliveries++;
      cursor.readyAt = now + this.#ackWaitMs;
      taken.push(this.#delivery(this.#bus.messages[index] as MemoryMessage, cursor));
    }
    return taken;
  }

  #delivery(message: MemoryMessage, cursor: Cursor): Delivery {
    const deliveryCount = cursor.deliveries;
    const settle = (state: Cursor['state'], readyAt = 0): void => {
      // A late settle of an older delivery must not undo a newer one.
      if (cursor.deliveries !== deliveryCount || cursor.state === 'done') return;
      cursor.state = state;
      cursor.readyAt = readyAt;
    };
    const marker = readGapMarker((name) => message.headers[name], `message ${message.seq}`);
    const gap: SubjectGap | undefined = marker instanceof EventDecodeError ? undefined : marker;
    const markerId = gap === undefined ? undefined : message.headers[GapHeaders.event];
    return {
      messageId:
        message.headers['ce-id'] ?? (gap === undefined || markerId === undefined ? undefined : gapMessageId(markerId, gap.sequence)),
      deliveryCount,
      replayFor: message.headers[MEMORY_REPLAY_HEADER],
      gap,
      decode: () => {
        if (marker instanceof EventDecodeError) throw marker;
        if (marker !== undefined) throw gapMarkerDecodeError(marker, `message ${message.seq}`);
        return decodeMemoryMessage(message);
      },
      ack: async () => settle('done'),
      nak: async (delayMs) => settle('ready', this.#bus.clock.now() + delayMs),
      inProgress: async () => {
        if (cursor.deliveries === deliveryCount && cursor.state === 'in-flight') cursor.readyAt = this.#bus.clock.now() + this.#ackWaitMs;
      },
      deadLetter: async (reason) => {
        if (this.#bus.deadLettersDown) throw new PublishError('NO_STREAM', 'no stream stores the dead letters of the in-memory bus', true);
        this.#bus.deadLetters.push({ message, reason, deliveryCount });
        settle('done');
      },
    };
  }
}

/** Decodes a bus message into an event, as a bus binding does (a gap marker is told apart before). */
function decodeMemoryMessage(message: MemoryMessage): OutboxEvent {
  const { headers } = message;
  const id = headers['ce-id'];
  const type = headers['ce-type'];
  const source = headers['ce-source'];
  const subject = headers['ce-subject'];
  const time = headers['ce-time'];
  if (!id || !type || !source || !subject || !time) {
    throw new EventDecodeError(
      'DECODE_FAILED',
      `message ${message.seq} lacks a CloudEvents attribute (ce-id, ce-type, ce-source, ce-subject, ce-time)`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(message.body);
  } catch (error) {
    throw new EventDecodeError('DECODE_FAILED', `message ${id} has a body that is not JSON`, { cause: error });
  }
  const sequence = decodeSubjectSequence(headers[SUBJECT_SEQUENCE_HEADER], `message ${id}`);
  const own: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (!name.startsWith('ce-') && name !== MEMORY_REPLAY_HEADER) own[name] = value;
  const event: OutboxEvent = { id, type, source, subject, time, data, headers: own };
  return sequence === undefined ? event : { ...event, sequence };
}
