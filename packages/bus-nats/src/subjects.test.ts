import { describe, expect, it } from 'vitest';
import { isPublishableSubject, prefixSubjectMapper } from './subjects.js';

describe('isPublishableSubject', () => {
  it('accepts dot-separated tokens', () => {
    expect(isPublishableSubject('events.catalog.product.price-changed')).toBe(true);
    expect(isPublishableSubject('a')).toBe(true);
  });

  it.each(['', ' ', 'a..b', '.a', 'a.', 'a b', 'a.*', 'a.>', 'a.b*', 'a\tb', 'a\nb'])('rejects %j', (subject) => {
    expect(isPublishableSubject(subject)).toBe(false);
  });

  it('rejects non-strings', () => {
    expect(isPublishableSubject(undefined)).toBe(false);
    expect(isPublishableSubject(42)).toBe(false);
  });
});

describe('prefixSubjectMapper', () => {
  it('puts the type after the prefix', () => {
    const map = prefixSubjectMapper('events');
    const record = {
      id: '1',
      type: 'catalog.price-changed',
      source: 's',
      subject: 'p1',
      time: '',
      payload: '{}',
      headers: {},
      attempts: 0,
    };
    expect(map(record)).toBe('events.catalog.price-changed');
    expect(map(record)).toBe('events.catalog.price-changed');
  });
});
