import { createHash } from 'node:crypto';
import { OutboxConfigError } from '@outboxkit/outbox-core';
import { describe, expect, it } from 'vitest';
import { fnv1a, partitionDurable, partitionedSubjectMapper, partitionFilter, partitionOf } from './partitions.js';

/** FNV-1a over the bytes of a Buffer: the reference the string version must match. */
function fnv1aBytes(bytes: Buffer): number {
  let hash = 0x811c9dc5;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, 0x01000193);
  return hash >>> 0;
}

describe('fnv1a', () => {
  it('gives the published FNV-1a 32 values', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
  });

  it('hashes the UTF-8 bytes, as a producer in another language would', () => {
    for (const text of ['product-1', 'prodüct', '商品-42', 'emoji-😀', createHash('sha1').update('x').digest('hex')]) {
      expect(fnv1a(text)).toBe(fnv1aBytes(Buffer.from(text, 'utf8')));
    }
  });
});

describe('partitions', () => {
  it('maps a record to <prefix>.p<k>.<type>, the same k for the same subject', () => {
    const map = partitionedSubjectMapper('events', 16);
    const record = {
      id: '1',
      type: 'catalog.price-changed',
      source: 's',
      subject: 'product-7',
      time: '',
      payload: '{}',
      headers: {},
      attempts: 0,
    };
    const k = partitionOf('product-7', 16);
    expect(map(record)).toBe(`events.p${k}.catalog.price-changed`);
    expect(map({ ...record, id: '2' })).toBe(map(record));
    expect(k).toBe(fnv1a('product-7') % 16);
  });

  it('spreads subjects over the partitions', () => {
    const counts = new Array<number>(16).fill(0);
    for (let index = 0; index < 16_000; index++)
      counts[partitionOf(`product-${index}`, 16)] = (counts[partitionOf(`product-${index}`, 16)] ?? 0) + 1;
    expect(Math.min(...counts)).toBeGreaterThan(800);
    expect(Math.max(...counts)).toBeLessThan(1_200);
  });

  it('puts the partition token after the prefix of a filter', () => {
    expect(partitionFilter('events.catalog.>', 'events', 3)).toBe('events.p3.catalog.>');
    expect(partitionFilter('events.>', 'events', 0)).toBe('events.p0.>');
    expect(partitionFilter('>', 'events', 5)).toBe('events.p5.>');
    expect(partitionFilter('a.b.*.x', 'a.b', 2)).toBe('a.b.p2.*.x');
    expect(() => partitionFilter('orders.>', 'events', 1)).toThrow(OutboxConfigError);
    expect(partitionDurable('basket', 12)).toBe('basket-p12');
  });

  it('refuses a bad count or prefix', () => {
    expect(() => partitionedSubjectMapper('events', 0)).toThrow(OutboxConfigError);
    expect(() => partitionedSubjectMapper('events', 1.5)).toThrow(OutboxConfigError);
    expect(() => partitionedSubjectMapper('events', 1_025)).toThrow(OutboxConfigError);
    expect(() => partitionedSubjectMapper('ev ents', 4)).toThrow(OutboxConfigError);
  });
});
