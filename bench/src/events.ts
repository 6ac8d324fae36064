import { randomUUID } from 'node:crypto';
import type { OutboxRecord, StandardSchemaV1 } from '@outboxkit/outbox-core';
import { defineEvent } from '@outboxkit/outbox-core';

/** The one event every suite moves: the eShopOnContainers price change, ~100 bytes of JSON. */
export const EVENT_TYPE = 'catalog.product.price-changed';
export const EVENT_SOURCE = 'catalog';
export const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

export interface PriceChanged {
  productId: string;
  newPrice: number;
  oldPrice: number;
  /** The event's position within its subject, so readers can check per-subject order. */
  n: number;
}

/** A pass-through Standard Schema: the bench measures the pipeline, not a validator. */
const anyPriceChanged: StandardSchemaV1<unknown, PriceChanged> = {
  '~standard': {
    version: 1,
    vendor: 'outboxkit-bench',
    validate: (value) => ({ value: value as PriceChanged }),
    types: undefined as unknown as StandardSchemaV1.Types<unknown, PriceChanged>,
  },
};

export const PriceChangedEvent = defineEvent(EVENT_TYPE, { schema: anyPriceChanged, source: EVENT_SOURCE });

export const subjectOf = (index: number, subjects: number): string => `product-${index % subjects}`;

export function payloadOf(index: number, subjects: number): PriceChanged {
  return { productId: subjectOf(index, subjects), newPrice: index / 100, oldPrice: index / 100 + 1, n: Math.floor(index / subjects) };
}

/**
 * In-memory records shaped like the relay's claims, with the per-subject sequence the stores stamp
 * (record i is the (i / subjects + 1)-th event of its subject, as bench/go/ceiling.go numbers them):
 * the publish ceilings and the consumer suites publish these.
 */
export function memoryRecords(count: number, subjects: number): OutboxRecord[] {
  const time = new Date().toISOString();
  return Array.from({ length: count }, (_, index) => ({
    id: randomUUID(),
    type: EVENT_TYPE,
    source: EVENT_SOURCE,
    subject: subjectOf(index, subjects),
    time,
    payload: JSON.stringify(payloadOf(index, subjects)),
    headers: { traceparent: TRACEPARENT },
    attempts: 0,
    sequence: Math.floor(index / subjects) + 1,
  }));
}
