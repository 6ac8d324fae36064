import type { NatsConnection } from '@nats-io/transport-node';
import { ensureDeadLetterStream, ensurePartitionedConsumer, ensureStream, PartitionedSubscriber } from '@outboxkit/bus-nats';
import { Consumer, type ConsumerEvent, type EventData, OutboxConfigError } from '@outboxkit/outbox-core';
import type { MysqlConnectionLike, MysqlInboxStore } from '@outboxkit/outbox-mysql';
import type { ExampleConfig } from '../config.js';
import { ProductPriceChanged } from '../events.js';
import type { JsonLog } from '../json-log.js';
import { inSpan } from '../tracing.js';
import type { BasketStore, PriceApplyResult } from './basket-store.js';

/** How long inbox rows are kept: far beyond the consumer's redelivery horizon (checked at start). */
const INBOX_RETENTION_MS = 7 * 24 * 3_600_000;

/** What the running consumer holds, to stop it. */
export interface PriceConsumer {
  readonly consumer: Consumer<MysqlConnectionLike>;
  readonly subscriber: PartitionedSubscriber;
}

/**
 * Creates (or checks) the stream, the dead-letter stream and Basket's durable pull consumers, one
 * per partition (`basket-p0` ... `basket-p7`): all idempotent. A deploy step, like the migrations: `setUp` runs it before any service starts, so
 * the relay and Basket never race to create the stream.
 */
export async function provisionStreams(connection: NatsConnection, config: ExampleConfig): Promise<void> {
  await ensureStream(connection, { name: config.stream, subjects: [`${config.subjectPrefix}.>`] });
  await ensureDeadLetterStream(connection, { name: config.deadLetterStream, subjectPrefix: config.deadLetterPrefix });
  await ensurePartitionedConsumer(connection, {
    stream: config.stream,
    name: config.consumer,
    // The relay's OUTBOX_PARTITIONS: its events go to `<prefix>.p<k>.<type>`.
    partitions: config.partitions,
    subjectPrefix: config.subjectPrefix,
    // Every event Catalog publishes, not only the type Basket handles: the consumer applies each
    // product's events strictly in sequence, and a sequence number the filter kept away would make
    // the product wait for it. Types without a handler are acked and recorded as gaps. Written as
    // without partitions: each partition's durable filters `<prefix>.p<k>.catalog.>`.
    filterSubjects: [`${config.subjectPrefix}.catalog.>`],
    // A crash mid-handler is redelivered after 10 s; a handler that keeps failing is dead-lettered at the 5th delivery.
    ackWaitMs: 10_000,
    maxDeliver: 5,
  });
}

/**
 * Consumes `ProductPriceChanged` from the durable consumer `provisionStreams` created: inbox row,
 * price history and basket lines in one MariaDB transaction, then the ack. The consumer keeps
 * subject order (its default, `order: 'subject'`): each product's changes are handed to the handler
 * one by one in Catalog's commit order, whatever the redeliveries, crashes or instances.
 *
 * Reports `price-applied` (with `appliedAt`, after commit and ack) or `price-stale` for each event,
 * and `duplicate` for a redelivery the inbox caught.
 */
export async function startPriceConsumer(
  connection: NatsConnection,
  config: ExampleConfig,
  inbox: MysqlInboxStore,
  store: BasketStore,
  log: JsonLog,
): Promise<PriceConsumer> {
  // Several Basket instances divide the partitions through leases in a KV bucket: each product's
  // events are read by one instance at a time, and a dead instance's partitions move after 10 s.
  const subscriber = await PartitionedSubscriber.create({
    connection,
    stream: config.stream,
    consumer: config.consumer,
    partitions: config.partitions,
    deadLetterPrefix: config.deadLetterPrefix,
    logger: log,
  }).catch((error: unknown) => {
    if (error instanceof OutboxConfigError) throw new Error(`${error.message} (run npm run setup first)`, { cause: error });
    throw error;
  });

  // The handler runs inside the transaction; what it did is reported only once it has committed.
  const results = new Map<string, { data: EventData<typeof ProductPriceChanged>; result: PriceApplyResult }>();
  const onEvent = (event: ConsumerEvent): void => {
    if (event.type === 'applied') {
      const applied = results.get(event.id);
      results.delete(event.id);
      if (!applied) return;
      const { data, result } = applied;
      const fields = { id: event.id, ...data, eventTimeToAppliedMs: event.latencyMs, appliedAt: Date.now() };
      if (result.basketIds.length > 0 || result.staleBasketIds.length === 0) {
        log.report('price-applied', { ...fields, basketIds: result.basketIds, staleBasketIds: result.staleBasketIds });
      } else {
        log.report('price-stale', { ...fields, staleBasketIds: result.staleBasketIds });
      }
    } else if (event.type === 'duplicate') {
      log.report('duplicate', { id: event.id });
    } else if (event.type === 'retry' || event.type === 'dead') {
      results.delete(event.id ?? '');
      log.report(event.type, { id: event.id, err: event.error });
    }
  };

  const consumer = new Consumer<MysqlConnectionLike>({
    subscriber,
    inbox,
    inboxRetentionMs: INBOX_RETENTION_MS,
    fetchExpiresMs: 1_000,
    logger: log,
    onEvent,
  }).on(ProductPriceChanged, async (event, tx) => {
    // Catalog's outbox stamps every event with its product's sequence; the history needs it.
    if (event.sequence === undefined) {
      throw new Error(`event ${event.id} has no sequence: Catalog's outbox must stamp one (its subjectSequence option)`);
    }
    const applied = { eventId: event.id, sequence: event.sequence };
    // Inside the consumer's `process` span: the handler's own span, and the UPDATE's inside it.
    const result = await inSpan('apply price change', { 'product.id': event.data.productId }, () =>
      store.applyPriceChange(tx, event.data, applied),
    );
    results.set(event.id, { data: event.data, result });
  });
  await consumer.start();
  return { consumer, subscriber };
}
