import { EventDecodeError } from '@outboxkit/outbox-core';
import { describe, expect, it } from 'vitest';
import { checkSubject } from './subject-check.js';

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(EventDecodeError);
    return (error as EventDecodeError).code;
  }
}

describe('checkSubject', () => {
  it('accepts the default mapping <prefix>.<type> whatever the prefix', () => {
    expect(codeOf(() => checkSubject('events.catalog.price-changed', 'catalog.price-changed', 'suffix', 'e1'))).toBeUndefined();
    expect(codeOf(() => checkSubject('a.b.c.catalog.price-changed', 'catalog.price-changed', 'suffix', 'e1'))).toBeUndefined();
  });

  it('rejects a ce-type its subject does not carry as FORGED_SUBJECT', () => {
    expect(codeOf(() => checkSubject('events.catalog.renamed', 'catalog.price-changed', 'suffix', 'e1'))).toBe('FORGED_SUBJECT');
    // A suffix must be whole tokens: "xcatalog.price-changed" is another type.
    expect(codeOf(() => checkSubject('events.xcatalog.price-changed', 'catalog.price-changed', 'suffix', 'e1'))).toBe('FORGED_SUBJECT');
  });

  it('compares with a mapping function exactly, and trusts ce-type when off', () => {
    const map = (type: string) => `svc.${type.replaceAll('.', '_')}`;
    expect(codeOf(() => checkSubject('svc.catalog_price', 'catalog.price', map, 'e1'))).toBeUndefined();
    expect(codeOf(() => checkSubject('svc.catalog_other', 'catalog.price', map, 'e1'))).toBe('FORGED_SUBJECT');
    expect(codeOf(() => checkSubject('anything', 'catalog.price', 'off', 'e1'))).toBeUndefined();
  });
});
