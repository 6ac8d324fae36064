import { type InboxStore, OutboxConfigError, type SubjectPosition } from '@outboxkit/outbox-core';
import { ExitCode } from '../help.js';
import { type InboxPositionsConfig, type InboxSkipConfig, MAX_SKIP } from '../inbox-config.js';
import type { CliLogger } from '../logger.js';
import { openInbox } from '../store-factory.js';
import { terminalJson, terminalSafe } from '../terminal-text.js';

/**
 * `outbox-relay inbox positions | skip`: where a consumer's subjects stand, and the operator's way
 * to move a subject on past events that will never come (a stream purge, expired messages). A
 * skip is recorded as a gap with reason `operator`, in the consumer's own database: the subject's
 * next event runs, and the skip stays listed.
 */
export async function inboxCommand(
  config: InboxPositionsConfig | InboxSkipConfig,
  logger: CliLogger,
  out: NodeJS.WritableStream,
): Promise<number> {
  const opened = await openInbox(config.database, logger);
  try {
    const inbox = ordered(opened.inbox);
    await inbox.assertSchema?.();
    if (config.command === 'inbox positions') {
      const rows = await inbox.positions(config.consumer, {
        ...(config.subject === undefined ? {} : { subjects: [config.subject] }),
        limit: config.limit,
      });
      out.write(config.json ? `${terminalJson(rows.map(toJson))}\n` : renderPositions(rows));
      return ExitCode.ok;
    }
    const [current] = await inbox.positions(config.consumer, { subjects: [config.subject] });
    const from = (current?.position ?? 0) + 1;
    if (config.to < from) {
      out.write(`subject ${terminalSafe(config.subject)} is already at position ${from - 1}: nothing to skip\n`);
      return ExitCode.ok;
    }
    if (config.to - from + 1 > MAX_SKIP) {
      throw new OutboxConfigError('--to', `inbox skip records at most ${MAX_SKIP} sequences at once; the position is ${from - 1}`);
    }
    let position = from - 1;
    for (let sequence = from; sequence <= config.to; sequence++) {
      position = await inbox.recordGap(config.consumer, { subject: config.subject, sequence, reason: 'operator' });
    }
    logger.info({ consumer: config.consumer, subject: config.subject, from, to: config.to, position }, 'operator skip recorded');
    out.write(
      `skipped ${config.to - from + 1} sequence(s) of ${terminalSafe(config.subject)} (${from} to ${config.to}); position ${position}\n`,
    );
    return ExitCode.ok;
  } finally {
    await opened.close();
  }
}

/** The inbox with its ordering methods, or a configuration error for a store without them. */
function ordered(inbox: InboxStore<unknown>): Required<Pick<InboxStore<unknown>, 'positions' | 'recordGap'>> & InboxStore<unknown> {
  if (!inbox.ordering || !inbox.positions || !inbox.recordGap) {
    throw new OutboxConfigError('--database-url', 'this inbox store keeps no per-subject positions');
  }
  return inbox as Required<Pick<InboxStore<unknown>, 'positions' | 'recordGap'>> & InboxStore<unknown>;
}

function toJson(row: SubjectPosition): Record<string, unknown> {
  return { ...row, updatedAt: row.updatedAt.toISOString() };
}

function renderPositions(rows: readonly SubjectPosition[]): string {
  if (rows.length === 0) return 'no positions\n';
  const lines = rows.map((row) => {
    const gaps = row.gapsAhead.length === 0 ? '' : `  gaps ahead: ${row.gapsAhead.join(',')} (waits for ${row.position + 1})`;
    return `${terminalSafe(row.subject)}  position=${row.position}  ${row.updatedAt.toISOString()}${gaps}`;
  });
  return `${lines.join('\n')}\n`;
}
