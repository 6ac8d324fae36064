import { describe, expect, it } from 'vitest';
import { EventValidationError } from '../errors.js';
import { assertJsonSafe } from './json-safety.js';

function pathOf(value: unknown): string | undefined {
  try {
    assertJsonSafe(value);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(EventValidationError);
    return (error as EventValidationError).path;
  }
}

describe('assertJsonSafe', () => {
  it('accepts plain JSON', () => {
    expect(pathOf({ a: 1, b: ['x', null, true], c: { d: -0.5 } })).toBeUndefined();
  });

  it('names the path of each value JSON cannot carry', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    expect(pathOf({ items: [{ price: 1 }, { price: 2 }, { price: 3 }, { price: 10n }] })).toBe('data.items[3].price');
    expect(pathOf({ total: Number.NaN })).toBe('data.total');
    expect(pathOf({ total: Number.POSITIVE_INFINITY })).toBe('data.total');
    expect(pathOf({ f: () => 1 })).toBe('data.f');
    expect(pathOf({ s: Symbol('x') })).toBe('data.s');
    expect(pathOf(cyclic)).toBe('data.self');
    expect(pathOf(undefined)).toBe('data');
    expect(pathOf({ at: new Date(0) })).toBe('data.at');
    expect(pathOf({ 'odd key': [undefined] })).toBe('data["odd key"][0]');
  });

  it('lets undefined properties through, as JSON.stringify drops them', () => {
    expect(pathOf({ a: undefined, b: 1 })).toBeUndefined();
  });

  it('accepts a shared object seen twice that is not a cycle', () => {
    const shared = { x: 1 };
    expect(pathOf({ a: shared, b: shared })).toBeUndefined();
  });
});
