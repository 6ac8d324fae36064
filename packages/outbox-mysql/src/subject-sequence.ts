/**
 * How one statement stamps a list of rows with their subjects' sequences (docs/design/ordering.md,
 * section 1): the counter upsert adds `n` to each subject's row of `<table>_subject_seq`, then each
 * row takes `counter - offset`, so the `n` rows of a subject get `old + 1 ... old + n` in list order.
 */
export interface StampPlan {
  /** `subject, n` pairs for the counter upsert, one per subject, in lock order. */
  readonly counters: readonly unknown[];
  /** How many subjects (`counters.length / 2`). */
  readonly subjects: number;
  /** Per row, in list order: its sequence is the counter's new value minus this. */
  readonly offsets: readonly number[];
}

/**
 * The subject as the counter's key compares it: `utf8mb4_bin` is a PAD SPACE collation (MySQL 8 and
 * MariaDB alike), so `'a'` and `'a '` are one key. Grouped any other way, two rows of one counter
 * row would get the same number.
 */
function counterKey(subject: string): string {
  return subject.replace(/ +$/, '');
}

/**
 * Numbers the rows of each subject in list order and lists the subjects sorted: a multi-row upsert
 * locks its rows in VALUES order, so every transaction takes the counter rows of several subjects
 * in one order and two of them cannot deadlock on them (any total order of the keys does; this one
 * is JavaScript's string order).
 */
export function stampPlan(rows: readonly { readonly subject: string }[]): StampPlan {
  const counts = new Map<string, number>();
  const keys = rows.map((row) => counterKey(row.subject));
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
  const seen = new Map<string, number>();
  const offsets = keys.map((key) => {
    const k = (seen.get(key) ?? 0) + 1;
    seen.set(key, k);
    return (counts.get(key) as number) - k;
  });
  const counters: unknown[] = [];
  for (const key of [...counts.keys()].sort()) counters.push(key, counts.get(key));
  return { counters, subjects: counts.size, offsets };
}
