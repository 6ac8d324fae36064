import { OutboxConfigError } from '../errors.js';

/** The settings whose windows must nest for "once in the stream, once in effect" to hold. */
export interface HorizonSettings {
  /** The stream's dedup window (JetStream `duplicate_window`). */
  readonly duplicateWindowMs?: number;
  /** The relay's lease: a crashed relay's rows are re-published after it. */
  readonly leaseMs?: number;
  /** The relay's longest retry delay: a timed-out publish is re-sent after it. */
  readonly maxRetryDelayMs?: number;
  /** How long the inbox keeps a row. */
  readonly inboxRetentionMs?: number;
  /** How long after the first delivery the bus may still redeliver (max_deliver x ack_wait and backoff, or the stream's max_age). */
  readonly redeliveryHorizonMs?: number;
}

/**
 * Checks the coherent windows of docs/guarantees.md#8-coherent-windows at start, throwing the first mismatch as a startup error that names
 * the setting to change:
 * - `duplicate_window` must cover a re-publish: `leaseMs + maxRetryDelayMs`;
 * - the inbox must remember a message as long as the bus may redeliver it.
 *
 * Settings left undefined are not checked.
 *
 * @throws OutboxConfigError naming the setting.
 */
export function checkHorizons(settings: HorizonSettings): void {
  const { duplicateWindowMs, leaseMs, maxRetryDelayMs, inboxRetentionMs, redeliveryHorizonMs } = settings;
  if (duplicateWindowMs !== undefined && leaseMs !== undefined) {
    const republishHorizon = leaseMs + (maxRetryDelayMs ?? 0);
    if (duplicateWindowMs < republishHorizon) {
      throw new OutboxConfigError(
        'duplicate_window',
        `the stream's duplicate_window (${formatMs(duplicateWindowMs)}) is shorter than the relay's re-publish horizon ` +
          `(leaseMs ${formatMs(leaseMs)} + max retry delay ${formatMs(maxRetryDelayMs ?? 0)} = ${formatMs(republishHorizon)}): ` +
          `a re-published event could be stored twice. Raise duplicate_window to at least ${formatMs(republishHorizon)}, or lower leaseMs / backoff.maxMs`,
      );
    }
  }
  if (inboxRetentionMs !== undefined && redeliveryHorizonMs !== undefined && inboxRetentionMs < redeliveryHorizonMs) {
    throw new OutboxConfigError(
      'inboxRetentionMs',
      `the inbox keeps rows for ${formatMs(inboxRetentionMs)} but the bus may redeliver a message up to ${formatMs(redeliveryHorizonMs)} ` +
        `after it was first delivered: a late redelivery would be applied twice. Raise inboxRetentionMs to at least ${formatMs(redeliveryHorizonMs)}`,
    );
  }
}

/** `90000` -> `90s`, `1500` -> `1.5s`, `250` -> `250ms`. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  return `${Number((ms / 1000).toFixed(3))}s`;
}
