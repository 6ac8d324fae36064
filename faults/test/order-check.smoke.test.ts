import { describe, expect, it } from 'vitest';
import { checkOrder, failsFirst } from '../src/index.js';

// The order scenarios' check on its own (no services): it must see what it is there to see.
describe('checkOrder', () => {
  const expected = new Map([
    ['a', 3],
    ['b', 2],
  ]);
  const latest = new Map<string, number | null>([
    ['a', 3],
    ['b', 2],
  ]);
  const rows = (subject: string, sequences: (number | null)[]) =>
    sequences.map((sequence, i) => ({ subject, sequence, n: sequence ?? i + 1 }));

  it('passes exactly 1..N per subject', () => {
    const check = checkOrder(expected, [...rows('a', [1, 2, 3]), ...rows('b', [1, 2])], latest);
    expect(check).toMatchObject({ applications: 5, outOfOrder: 0, subjectsNotExact: 0, stale: 0, noSequence: 0, stampMismatch: 0 });
  });

  it('counts an older event applied after a newer one, and the subject it spoils', () => {
    const check = checkOrder(expected, [...rows('a', [1, 3, 2]), ...rows('b', [1, 2])], new Map([...latest, ['a', 2]]));
    expect(check).toMatchObject({ outOfOrder: 1, subjectsNotExact: 1, stale: 1 });
    expect(check.examples).toEqual(['a (3 written, 3 applied): 1,3,2']);
  });

  it('counts a lost, a twice-applied and an unstamped event as not exact', () => {
    const check = checkOrder(expected, [...rows('a', [1, 2, 2, 3]), ...rows('b', [1]), { subject: 'c', sequence: null, n: 1 }], latest);
    expect(check).toMatchObject({ outOfOrder: 0, subjectsNotExact: 3, noSequence: 1 });
  });

  it('counts a sequence that differs from the write order', () => {
    const check = checkOrder(expected, [{ subject: 'b', sequence: 1, n: 2 }, ...rows('a', [1, 2, 3])], latest);
    expect(check.stampMismatch).toBe(1);
  });

  it('fails the first attempt of about the asked share of events, the same ones each time', () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => `0190c6f2-${String(i).padStart(4, '0')}-7000-8000-000000000000`);
    const chosen = ids.filter((id) => failsFirst(id, 5)).length;
    expect(chosen).toBeGreaterThan(400);
    expect(chosen).toBeLessThan(600);
    expect(ids.filter((id) => failsFirst(id, 5)).length).toBe(chosen);
  });
});
