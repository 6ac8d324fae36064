import type { NatsConnection } from '@nats-io/transport-node';
import type { ServerCpu } from './cpu.js';
import type { FigureBook } from './figures.js';
import type { BacklogTemplates } from './fixtures/templates.js';
import type { GoCeiling } from './go-ceiling.js';
import type { BenchOptions } from './options.js';

/** What every suite gets: the options, where to record figures, and the shared NATS connection. */
export interface SuiteContext {
  readonly options: BenchOptions;
  readonly book: FigureBook;
  readonly nc: NatsConnection;
  /** Backlogs written once through `enqueue`, copied into each run's fresh table. */
  readonly backlogs: BacklogTemplates;
  /** Free-form facts for the report (settings used, time limits), per suite. */
  note(suite: string, text: string): void;
  /** Extra material for the report: profiles, latency histograms. */
  readonly extras: Record<string, unknown>;
  /** The local servers' CPU seconds, read from /proc. */
  readonly cpu: ServerCpu;
  /** The Go client's ceiling program, or why it is skipped. */
  readonly goCeiling: GoCeiling;
}
