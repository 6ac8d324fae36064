import { errors, type NatsConnection } from '@nats-io/nats-core';
import {
  type BusHealth,
  type Logger,
  OutboxConfigError,
  type OutboxRecord,
  type ProbeOptions,
  type PublishError,
  PublishError as PublishErrorClass,
  type Publisher,
  type PublisherConstraints,
  type PublishOptions,
  type PublishResult,
} from '@outboxkit/outbox-core';
import { noopLogger, validateInteger } from '@outboxkit/outbox-core/driver';
import { BusProbe } from './bus-probe.js';
import { encodeRecordHeaders, NATS_CONSTRAINTS, reservedRecordHeader } from './cloud-events.js';
import type { EncodedHeaders } from './encoded-headers.js';
import { encodeGapHeaders } from './gap-marker.js';
import { partitionedSubjectMapper } from './partitions.js';
import { parsePubAck, ReplyInbox } from './reply-inbox.js';
import { isStreamFullError } from './stream-health.js';
import { StreamLookup } from './stream-lookup.js';
import { isPublishableSubject, prefixSubjectMapper, type SubjectMapper } from './subjects.js';
import { translatePublishError } from './translate-error.js';

/** Options of {@link NatsPublisher}. */
export interface NatsPublisherOptions {
  /**
   * The caller's connection; the publisher never closes or drains it. Create it with
   * `noAsyncTraces: true`: the client's default builds two `Error` objects per publish.
   */
  readonly connection: NatsConnection;
  /** First subject token(s) of the default mapping `<subjectPrefix>.<record.type>`. @defaultValue `'events'` */
  readonly subjectPrefix?: string;
  /** Maps a record to its subject instead of the default; the result is validated per record. */
  readonly subject?: SubjectMapper;
  /**
   * Publish on `<subjectPrefix>.p<k>.<record.type>`, `k` = the partition of the record's subject
   * (`fnv1a(subject) mod partitions`), so the instances of a consumer can divide the subjects
   * (`PartitionedSubscriber`). Every relay of the stream and every partitioned consumer must use
   * the same count. Not with `subject`. @defaultValue none: `<subjectPrefix>.<record.type>`
   */
  readonly partitions?: number;
  /** How long to wait for each PubAck. @defaultValue 5_000 */
  readonly timeoutMs?: number;
  /**
   * The stream the events go to. `probe` then checks this stream (exists, has a leader and quorum,
   * has room); without it, `probe` finds the streams that store the failed records' subjects.
   */
  readonly stream?: string;
  /** How long `probe` waits for each JetStream API answer. @defaultValue the smaller of `timeoutMs` and 2_000 */
  readonly probeTimeoutMs?: number;
  /** Publishes in flight at once on the connection (the pipelining window). @defaultValue 256 */
  readonly maxInFlight?: number;
  /** JetStream API prefix, for domains or imported accounts. @defaultValue `'$JS.API'` */
  readonly apiPrefix?: string;
  /** @defaultValue a no-op logger */
  readonly logger?: Logger;
}

const encoder = new TextEncoder();

/**
 * Publishes outbox records to JetStream with the record id as `Nats-Msg-Id`, as CloudEvents 1.0
 * binary messages: `ce-*` headers, the record's own headers, and `record.payload` as the body.
 *
 * Publishes of one batch are pipelined on the one connection up to `maxInFlight`, so they reach
 * the server in the batch's order; every PubAck is awaited. One result per record, in order;
 * a failed record is a `PublishFailure`, never a throw. A PubAck with `duplicate: true` (a
 * re-publish within the stream's `duplicate_window`) is a success with `duplicate: true`.
 * Safe to call concurrently; concurrent calls do not keep order with each other.
 *
 * @throws OutboxConfigError from the constructor on an invalid option.
 * @example
 * ```ts
 * const nc = await connect({ servers: 'nats://127.0.0.1:4222', noAsyncTraces: true });
 * const publisher = new NatsPublisher({ connection: nc, subjectPrefix: 'events' });
 * const results = await publisher.publish(batch.records);
 * ```
 */
export class NatsPublisher implements Publisher {
  /** The headers this binding writes itself (`Nats-*`, `ce-*`, `content-type`): an event cannot carry them. */
  readonly constraints: PublisherConstraints = NATS_CONSTRAINTS;
  /** OpenTelemetry's `messaging.system` of the relay's spans and metrics. */
  readonly messagingSystem = 'nats';
  readonly #connection: NatsConnection;
  readonly #replies: ReplyInbox;
  readonly #subject: SubjectMapper;
  readonly #timeoutMs: number;
  readonly #maxInFlight: number;
  readonly #logger: Logger;
  readonly #apiPrefix: string;
  readonly #streams: StreamLookup;
  readonly #stream: string | undefined;
  readonly #probe: BusProbe;
  /** The connection's status iterator (`stop()` removes it from the connection's listeners). */
  #status: (AsyncIterable<{ type: string }> & { stop?: () => void }) | undefined;

  constructor(options: NatsPublisherOptions) {
    this.#connection = options.connection;
    const prefix = options.subjectPrefix ?? 'events';
    if (options.subject === undefined && !isPublishableSubject(prefix)) {
      throw new OutboxConfigError(
        'subjectPrefix',
        `subjectPrefix ${JSON.stringify(prefix)} cannot start a subject: use dot-separated tokens without spaces, * or >`,
      );
    }
    if (options.partitions !== undefined && options.subject !== undefined) {
      throw new OutboxConfigError('partitions', 'partitions and subject cannot both be set: partitions picks the subject itself');
    }
    this.#subject =
      options.subject ??
      (options.partitions === undefined ? prefixSubjectMapper(prefix) : partitionedSubjectMapper(prefix, options.partitions));
    this.#timeoutMs = validateInteger(options.timeoutMs ?? 5_000, 'timeoutMs', 1);
    this.#maxInFlight = validateInteger(options.maxInFlight ?? 256, 'maxInFlight', 1, 65_536);
    this.#logger = options.logger ?? noopLogger;
    this.#apiPrefix = options.apiPrefix ?? '$JS.API';
    this.#streams = new StreamLookup(options.connection, this.#apiPrefix, this.#timeoutMs);
    this.#replies = new ReplyInbox(options.connection, this.#timeoutMs);
    if (options.stream !== undefined && !/^[^\s.*>/\\]{1,255}$/.test(options.stream)) {
      throw new OutboxConfigError(
        'stream',
        `stream ${JSON.stringify(options.stream)} is not a stream name: no spaces, '.', '*', '>', '/' or '\\'`,
      );
    }
    this.#stream = options.stream;
    const probeTimeoutMs = validateInteger(options.probeTimeoutMs ?? Math.min(this.#timeoutMs, 2_000), 'probeTimeoutMs', 1);
    this.#probe = new BusProbe(options.connection, this.#apiPrefix, probeTimeoutMs);
    this.#watchConnection();
  }

  /**
   * On a disconnect, the publishes waiting for a PubAck fail at once as `DISCONNECTED` (the server
   * that had them is gone; their acks will not come) instead of each waiting out `timeoutMs`: the
   * relay re-publishes them on the reconnected connection with the same `Nats-Msg-Id`.
   */
  #watchConnection(): void {
    const status = (this.#connection as Partial<Pick<NatsConnection, 'status'>>).status?.();
    if (!status) return;
    this.#status = status;
    void (async () => {
      for await (const event of status) {
        if (event.type === 'disconnect') {
          this.#probe.connected = false;
          this.#replies.failPending(new errors.ConnectionError('disconnected; waiting for a PubAck that will not come'));
        } else if (event.type === 'reconnect') {
          this.#probe.connected = true;
        }
      }
    })().catch(() => undefined);
  }

  /** The subject a record is published on, or `undefined` when the mapping throws: the relay span's destination. */
  destinationOf(record: OutboxRecord): string | undefined {
    try {
      return this.#subject(record);
    } catch {
      return undefined;
    }
  }

  async publish(records: readonly OutboxRecord[], options: PublishOptions = {}): Promise<PublishResult[]> {
    const maxPayload = this.#connection.info?.max_payload ?? Number.POSITIVE_INFINITY;
    return this.#pipeline(records, options, (record) => this.#send(record, maxPayload));
  }

  /**
   * Publishes a gap marker per record, for records the relay dead-letters in the outbox: an empty
   * message on the subject the record would have been published to, with `Nats-Msg-Id:
   * <record id>.gap.<sequence>` (a re-published marker is stored once) and the headers `outbox-gap-subject`,
   * `outbox-gap-sequence`, `outbox-gap-reason` and `outbox-gap-event` (the record id); see
   * docs/design/ordering.md, section 4. The consumer's `Delivery.gap` reads them. One result per
   * record, in order, named by the record id; failures are results, classified as in `publish`
   * (an outage is retryable). A record without a `sequence` fails as `EVENT_INVALID`: it has no
   * place to leave empty. Safe to call concurrently.
   * @example
   * ```ts
   * const publisher = new NatsPublisher({ connection: nc, subjectPrefix: 'events' });
   * const dead = batch.records.filter((record) => record.sequence !== undefined);
   * const results = await publisher.publishGaps(dead, 'outbox-dead-letter');
   * ```
   */
  async publishGaps(records: readonly OutboxRecord[], reason: string, options: PublishOptions = {}): Promise<PublishResult[]> {
    return this.#pipeline(records, options, (record) => this.#sendGap(record, reason));
  }

  /** Sends every record with `send`, pipelined up to `maxInFlight`, in order; one result per record. */
  async #pipeline(
    records: readonly OutboxRecord[],
    options: PublishOptions,
    send: (record: OutboxRecord) => Promise<PublishResult>,
  ): Promise<PublishResult[]> {
    const results = new Array<Promise<PublishResult>>(records.length);
    const window = new SendWindow(this.#maxInFlight);
    for (let index = 0; index < records.length; index++) {
      const record = records[index] as OutboxRecord;
      if (!options.signal?.aborted && window.full(index)) await window.drained(index);
      if (options.signal?.aborted) {
        results[index] = Promise.resolve(failure(record.id, abortedError(record.id)));
        continue;
      }
      results[index] = this.#sendSafely(record, send).then(window.done);
    }
    return Promise.all(results);
  }

  /**
   * Unsubscribes the PubAck inbox and stops watching the connection's status; publishes still waiting fail as `DISCONNECTED`. It does not
   * close the connection. Optional: the inbox also ends with the connection.
   */
  async close(): Promise<void> {
    this.#status?.stop?.();
    this.#replies.close();
  }

  /** `close()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Says whether JetStream can take these records now; never throws. It checks the target stream,
   * not the account: the `stream` option's, or the streams that store the records' subjects.
   * `stream-missing` (deleted, misnamed, no stream for a subject), `no-leader` (no stream or meta
   * leader, no quorum of current replicas, a 503 or a timeout from the JetStream API while
   * connected), `full` (a `discard: new` stream at its limits, or refusing messages as full until
   * it changes), `unreachable` (closed or disconnected). Without records or `stream`, it asks the account.
   */
  async probe(options: ProbeOptions = {}): Promise<BusHealth> {
    const subjects = new Set<string>();
    if (this.#stream === undefined) {
      for (const record of options.records ?? []) {
        try {
          const subject = this.#subject(record);
          if (isPublishableSubject(subject)) subjects.add(subject);
        } catch {
          // A mapping that throws is that record's own failure, not the bus's.
        }
        if (subjects.size >= 16) break;
      }
    }
    try {
      return await this.#probe.check(this.#stream, [...subjects], options.signal);
    } catch (error) {
      return { ok: false, reason: 'unreachable', detail: `the probe failed: ${String(error)}` };
    }
  }

  /**
   * Sends one record; the request is written to the connection before this returns its promise.
   * Never throws: what the client throws for this record's content (a header or subject it cannot
   * encode) is this record's final failure, and the rest of the batch goes on.
   */
  #sendSafely(record: OutboxRecord, send: (record: OutboxRecord) => Promise<PublishResult>): Promise<PublishResult> {
    try {
      return send(record);
    } catch (error) {
      return Promise.resolve(failure(record.id, translatePublishError(error, record.type, record.id)));
    }
  }

  /** The record's subject, or the failure of a mapping that throws or gives a subject nobody can publish to. */
  #subjectOf(record: OutboxRecord): string | PublishResult {
    let subject: string;
    try {
      subject = this.#subject(record);
    } catch (error) {
      return failure(
        record.id,
        new PublishErrorClass('CONFIG', `the subject mapping threw for ${record.id}: ${String(error)}`, false, { cause: error }),
      );
    }
    if (!isPublishableSubject(subject)) {
      return failure(
        record.id,
        new PublishErrorClass(
          'CONFIG',
          `the subject ${JSON.stringify(subject)} for ${record.id} (type ${record.type}) is not publishable: it needs non-empty dot-separated tokens without spaces or the wildcards * and >`,
          false,
        ),
      );
    }
    return subject;
  }

  #sendGap(record: OutboxRecord, reason: string): Promise<PublishResult> {
    if (!isSubjectSequence(record.sequence)) {
      return Promise.resolve(
        failure(
          record.id,
          new PublishErrorClass(
            'EVENT_INVALID',
            `event ${record.id} has no sequence (${String(record.sequence)}): there is no gap to mark`,
            false,
          ),
        ),
      );
    }
    const subject = this.#subjectOf(record);
    if (typeof subject !== 'string') return Promise.resolve(subject);
    return this.#request(record.id, subject, EMPTY, encodeGapHeaders(record, record.sequence, reason));
  }

  #send(record: OutboxRecord, maxPayload: number): Promise<PublishResult> {
    if (record.oversizedBytes !== undefined) {
      return Promise.resolve(
        failure(
          record.id,
          new PublishErrorClass(
            'PAYLOAD_TOO_LARGE',
            `event ${record.id} (type ${record.type}) is ${record.oversizedBytes} bytes, over the store's maxEventBytes; the store did not load its payload`,
            false,
          ),
        ),
      );
    }
    const reserved = reservedRecordHeader(record);
    if (reserved !== undefined) {
      return Promise.resolve(
        failure(
          record.id,
          new PublishErrorClass(
            'EVENT_INVALID',
            `event ${record.id} has a header ${JSON.stringify(reserved)} that the NATS binding writes itself (Nats-*, ce-*, content-type); it was written around enqueue's validation and is not published`,
            false,
          ),
        ),
      );
    }
    if (record.sequence !== undefined && !isSubjectSequence(record.sequence)) {
      return Promise.resolve(
        failure(
          record.id,
          new PublishErrorClass(
            'EVENT_INVALID',
            `event ${record.id} has sequence ${String(record.sequence)}, not a positive safe integer: the store handed back a row it did not stamp`,
            false,
          ),
        ),
      );
    }
    const subject = this.#subjectOf(record);
    if (typeof subject !== 'string') return Promise.resolve(subject);
    const data = encoder.encode(record.payload);
    // Encoded once: the size check and the publish use the same bytes.
    const headers = encodeRecordHeaders(record);
    const headerBytes = headers.encode().length;
    if (data.length + headerBytes > maxPayload) {
      return Promise.resolve(
        failure(
          record.id,
          new PublishErrorClass(
            'PAYLOAD_TOO_LARGE',
            `event ${record.id} (type ${record.type}) is ${data.length + headerBytes} bytes (payload ${data.length} + headers ${headerBytes}) but the server's max_payload is ${maxPayload} bytes: make the event smaller (carry a reference, not the document) or raise max_payload`,
            false,
          ),
        ),
      );
    }
    return this.#request(record.id, subject, data, headers);
  }

  /** Sends one message and reads its PubAck as the result of record `id`. */
  #request(id: string, subject: string, data: Uint8Array, headers: EncodedHeaders): Promise<PublishResult> {
    return this.#replies
      .request(subject, data, headers)
      .then(parsePubAck)
      .then(
        (ack): PublishResult => {
          this.#probe.full.accepted();
          return { id, ok: true, duplicate: ack.duplicate, sequence: ack.seq };
        },
        async (error: unknown): Promise<PublishResult> => {
          if (isStreamFullError(error)) this.#probe.full.refused();
          let translated = translatePublishError(error, subject, id);
          if (translated.code === 'NO_STREAM') translated = await this.#confirmNoStream(translated, subject, id);
          this.#logger.debug({ id, subject, code: translated.code, retryable: translated.retryable }, translated.message);
          return failure(id, translated);
        },
      );
  }

  /** "No responders" is final only when JetStream confirms no stream stores the subject; a cluster electing a stream leader answers the same way for a few seconds. */
  async #confirmNoStream(error: PublishError, subject: string, id: string): Promise<PublishError> {
    const storage = await this.#streams.storage(subject);
    if (storage === 'none') return error;
    const why =
      storage === 'stored'
        ? 'a stream stores it but did not answer (a replicated stream electing a leader, or a server restarting)'
        : 'and the JetStream API did not answer whether a stream stores it';
    return new PublishErrorClass(
      'PUBLISH_FAILED',
      `publish of ${id} to ${subject} got no responders; ${why}: retried with the same Nats-Msg-Id`,
      true,
      {
        cause: error.cause,
      },
    );
  }
}

const EMPTY = new Uint8Array(0);

function isSubjectSequence(sequence: number | undefined): sequence is number {
  return Number.isSafeInteger(sequence) && (sequence as number) > 0;
}

function failure(id: string, error: PublishError): PublishResult {
  return { id, ok: false, error };
}

function abortedError(id: string): PublishError {
  return new PublishErrorClass('PUBLISH_FAILED', `publish of ${id} was not sent: the publish was aborted`, true);
}

/**
 * The pipelining window. When it is full, sending resumes only after half of it was acknowledged,
 * then the next half goes out without an `await` in between: the client writes everything queued
 * in one microtask as one socket write, where refilling one slot per PubAck cost a write per
 * message (a third of the publisher's CPU in a profile).
 */
class SendWindow {
  readonly #size: number;
  #completed = 0;
  #wakeAt = 0;
  #wake: (() => void) | null = null;

  constructor(size: number) {
    this.#size = size;
  }

  full(sent: number): boolean {
    return sent - this.#completed >= this.#size;
  }

  drained(sent: number): Promise<void> {
    this.#wakeAt = sent - Math.floor(this.#size / 2);
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  readonly done = <T>(value: T): T => {
    this.#completed++;
    if (this.#wake !== null && this.#completed >= this.#wakeAt) {
      const wake = this.#wake;
      this.#wake = null;
      wake();
    }
    return value;
  };
}
