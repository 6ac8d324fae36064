import type { DeadRecord } from '@outboxkit/outbox-core';
import type { DeadChangeConfig, DeadListConfig, DeadShowConfig } from '../admin-config.js';
import { ExitCode } from '../help.js';
import type { CliLogger } from '../logger.js';
import { openStore } from '../store-factory.js';
import { terminalJson, terminalSafe } from '../terminal-text.js';

/** `outbox-relay dead list | show | retry | purge`: the dead-letter admin. */
export async function deadCommand(
  config: DeadListConfig | DeadShowConfig | DeadChangeConfig,
  logger: CliLogger,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  // `dead retry` must know whether the relays hold a dead event's subject back: then the retried
  // event keeps its sequence; otherwise it is stamped at the end of its subject.
  const deadBlocksSubject = config.command === 'dead retry' && config.blockSubject;
  const opened = await openStore(config.database, { listen: false, logger, maxConnections: 1, deadBlocksSubject });
  const { store } = opened;
  try {
    await store.assertSchema();
    switch (config.command) {
      case 'dead list': {
        const rows = await store.listDead({ limit: config.limit, ...(config.after ? { afterId: config.after } : {}) });
        out.write(config.json ? `${terminalJson(rows.map(toJson))}\n` : renderList(rows));
        return ExitCode.ok;
      }
      case 'dead show': {
        const [id] = config.ids;
        const row = await store.getDead(id);
        if (!row) {
          err.write(`outbox-relay: no dead event with id ${JSON.stringify(id)}\n`);
          return ExitCode.failure;
        }
        out.write(config.json ? `${terminalJson(toJson(row))}\n` : renderOne(row));
        return ExitCode.ok;
      }
      case 'dead retry':
      case 'dead purge': {
        const retry = config.command === 'dead retry';
        const ids = config.all ? undefined : [...config.ids];
        const count = retry ? await store.replayDead(ids ?? 'all') : await store.purgeDead(ids);
        out.write(`${retry ? 'retried' : 'purged'} ${count} dead event${count === 1 ? '' : 's'}\n`);
        if (retry && count > 0) err.write(`${retryOrderNote}\n`);
        if (ids && count < ids.length) {
          err.write(`outbox-relay: ${ids.length - count} of the ${ids.length} ids given are not dead events\n`);
          return count === 0 ? ExitCode.failure : ExitCode.ok;
        }
        return ExitCode.ok;
      }
    }
  } finally {
    await opened.close();
  }
}

/** What `dead retry` says about order, on stderr so the count on stdout stays machine-readable. */
export const retryOrderNote =
  'note: a retried event takes a new sequence at the end of its subject: it is published and applied after the newer events ' +
  'of its subject (consumers recorded its old place as a gap). Relays running with --block-subject true held those back: ' +
  'pass --block-subject true here too, and it keeps its place';

function toJson(row: DeadRecord): Record<string, unknown> {
  let data: unknown = row.payload;
  try {
    data = JSON.parse(row.payload);
  } catch {
    // Kept as text: the payload is shown as stored.
  }
  return { ...row, payload: undefined, data, deadAt: row.deadAt.toISOString() };
}

function renderList(rows: readonly DeadRecord[]): string {
  if (rows.length === 0) return 'no dead events\n';
  const lines = rows.map(
    (row) =>
      `${terminalSafe(row.id)}  ${row.deadAt.toISOString()}  attempts=${row.attempts}  ${terminalSafe(row.type)}  subject=${terminalSafe(row.subject)}  ${oneLine(row.lastError).slice(0, 120)}`,
  );
  return `${lines.join('\n')}\n`;
}

function renderOne(row: DeadRecord): string {
  return `${[
    `id:         ${terminalSafe(row.id)}`,
    `type:       ${terminalSafe(row.type)}`,
    `source:     ${terminalSafe(row.source)}`,
    `subject:    ${terminalSafe(row.subject)}`,
    `time:       ${terminalSafe(row.time)}`,
    `attempts:   ${row.attempts}`,
    `dead at:    ${row.deadAt.toISOString()}`,
    `last error: ${oneLine(row.lastError)}`,
    `headers:    ${terminalSafe(JSON.stringify(row.headers))}`,
    `payload:    ${terminalSafe(row.payload)}`,
  ].join('\n')}\n`;
}

/** An error on one line, escaped: the text is the bus's or a driver's and may echo the event's subject. */
function oneLine(text: string): string {
  return terminalSafe(text.replace(/[ \t\r\n]+/g, ' '));
}
