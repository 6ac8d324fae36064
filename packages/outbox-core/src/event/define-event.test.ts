import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EventDecodeError, EventValidationError } from '../errors.js';
import { defineEvent } from './define-event.js';

const PriceChanged = defineEvent('catalog.product.price-changed', {
  schema: z.object({ productId: z.string(), items: z.array(z.object({ price: z.number() })).default([]) }),
  source: 'catalog',
});

function errorOf(fn: () => unknown): EventValidationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(EventValidationError);
    return error as EventValidationError;
  }
  throw new Error('expected an EventValidationError');
}

describe('defineEvent', () => {
  it('creates a typed, validated event with a UUIDv7 id', () => {
    const event = PriceChanged.create({ productId: 'p1', items: [] }, { subject: 'p1', headers: { traceparent: 't' } });
    expect(event).toMatchObject({ type: 'catalog.product.price-changed', source: 'catalog', subject: 'p1', headers: { traceparent: 't' } });
    expect(event.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(PriceChanged.is(event)).toBe(true);
    expect(PriceChanged.is({ ...event, data: { productId: 1 } })).toBe(false);
  });

  it('names the path of a schema issue', () => {
    const error = errorOf(() =>
      PriceChanged.create({ productId: 'p1', items: [{ price: 1 }, { price: 'x' as unknown as number }] }, { subject: 'p1' }),
    );
    expect(error.path).toBe('data.items[1].price');
  });

  it('names the path of a value JSON cannot carry, after the schema passed it', () => {
    const Loose = defineEvent('test.loose', { schema: z.any(), source: 'tests' });
    expect(errorOf(() => Loose.create({ items: [0, 1, 2, { price: 1n }] }, { subject: 's' })).path).toBe('event.data.items[3].price');
    expect(errorOf(() => Loose.create(undefined, { subject: 's' })).path).toBe('event.data');
  });

  it('rejects bad attributes', () => {
    expect(errorOf(() => PriceChanged.create({ productId: 'p1', items: [] }, { subject: '' })).path).toBe('event.subject');
    expect(errorOf(() => PriceChanged.create({ productId: 'p1', items: [] }, { subject: 's', id: 'nope' })).path).toBe('event.id');
    expect(errorOf(() => PriceChanged.create({ productId: 'p1', items: [] }, { subject: 's', headers: { 'bad name': 'x' } })).path).toBe(
      'event.headers',
    );
    const NoSource = defineEvent('test.nosource', { schema: z.any() });
    expect(errorOf(() => NoSource.create({}, { subject: 's' })).path).toBe('source');
  });

  it('parses a received event with the schema, and refuses another type', () => {
    const event = PriceChanged.create({ productId: 'p1' } as never, { subject: 'p1' });
    expect(PriceChanged.parse(event).data.items).toEqual([]);
    expect(() => PriceChanged.parse({ ...event, type: 'other' })).toThrow(EventDecodeError);
    expect(() => PriceChanged.parse({ ...event, data: {} })).toThrow(EventDecodeError);
  });
});
