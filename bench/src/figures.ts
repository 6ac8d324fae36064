import { type Summary, summarize } from './stats.js';

/** One measured quantity: its value in every run, summarized as median and min-max. */
export interface Figure {
  /** Stable key the goals and the JSON refer to, e.g. `relay.pg.outboxkit-1`. */
  readonly key: string;
  readonly suite: string;
  /** Row label in the report. */
  readonly label: string;
  readonly unit: string;
  readonly values: number[];
  /** Extra per-figure remark (time limits, extrapolations). */
  note?: string;
}

export interface FigureSummary extends Summary {
  readonly key: string;
  readonly suite: string;
  readonly label: string;
  readonly unit: string;
  readonly values: readonly number[];
  readonly note?: string;
}

/** Collects figures in the order they are first recorded, so tables keep the suite's layout. */
export class FigureBook {
  readonly #figures = new Map<string, Figure>();
  readonly notes: string[] = [];

  record(key: string, suite: string, label: string, unit: string, value: number, note?: string): void {
    let figure = this.#figures.get(key);
    if (!figure) {
      figure = { key, suite, label, unit, values: [] };
      this.#figures.set(key, figure);
    }
    figure.values.push(value);
    if (note) figure.note = note;
  }

  /**
   * Records the CPU seconds per 10,000 events of each process a figure involves, as figures
   * `cpu.<key>.client|db|nats` (the report shows them in a table of their own, beside the rates).
   */
  recordCpu(key: string, suite: string, cpu: { client?: number; db?: number; nats?: number }): void {
    for (const process of ['client', 'db', 'nats'] as const) {
      const value = cpu[process];
      if (value !== undefined) this.record(`cpu.${key}.${process}`, suite, `${key} ${process}`, 'CPU s / 10k events', value);
    }
  }

  get(key: string): Figure | undefined {
    return this.#figures.get(key);
  }

  summaries(): FigureSummary[] {
    return [...this.#figures.values()].map((f) => ({ ...f, ...summarize(f.values) }));
  }
}
