import { SchemaVersionError } from '@outboxkit/outbox-core';
import { formatMs } from '@outboxkit/outbox-core/driver';
import type { StatusConfig } from '../admin-config.js';
import { tableLabel } from '../database-config.js';
import { ExitCode } from '../help.js';
import type { CliLogger } from '../logger.js';
import { redactText } from '../redact.js';
import { type OpenedStore, openStore } from '../store-factory.js';
import { terminalJson, terminalSafe } from '../terminal-text.js';

/** What `outbox-relay status --json` prints. */
export interface StatusReport {
  readonly table: string;
  readonly schema: { readonly current: boolean; readonly version: number | null; readonly expected: number; readonly message?: string };
  readonly pending?: number;
  readonly oldestPendingAgeMs?: number | null;
  readonly dead?: number;
  readonly subjects?: ReadonlyArray<{ subject: string; pending: number; oldestPendingAgeMs: number }>;
}

/**
 * `outbox-relay status`: the schema version, the backlog and its 10 largest subjects. Exits 3
 * (after printing what it knows) when the schema is not migrated.
 */
export async function statusCommand(config: StatusConfig, logger: CliLogger, out: NodeJS.WritableStream): Promise<number> {
  const opened = await openStore(config.database, { listen: false, logger, maxConnections: 2 });
  try {
    const report = await collect(opened, config);
    out.write(config.json ? `${terminalJson(report)}\n` : render(report));
    return report.schema.current ? ExitCode.ok : ExitCode.schema;
  } finally {
    await opened.close();
  }
}

async function collect(opened: OpenedStore, config: StatusConfig): Promise<StatusReport> {
  const { store } = opened;
  const table = tableLabel(config.database);
  try {
    await store.assertSchema();
  } catch (error) {
    if (!(error instanceof SchemaVersionError)) throw error;
    return {
      table,
      schema: { current: false, version: error.found, expected: error.expected, message: redactText(error.message, config.secrets) },
    };
  }
  const version = opened.schemaVersion;
  const [stats, subjects] = await Promise.all([store.stats(), store.subjectBacklog(10)]);
  return { table, schema: { current: true, version, expected: version }, ...stats, subjects };
}

function age(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : formatMs(Math.round(ms));
}

function render(report: StatusReport): string {
  const lines = [`table:              ${report.table}`];
  const { schema } = report;
  if (!schema.current) {
    lines.push(
      `schema:             version ${schema.version ?? 'none'}, expected ${schema.expected}: NOT MIGRATED (run outbox-relay migrate)`,
    );
    return `${lines.join('\n')}\n`;
  }
  lines.push(`schema:             version ${schema.version} (current)`);
  lines.push(`pending:            ${report.pending}`);
  lines.push(`oldest pending age: ${age(report.oldestPendingAgeMs)}`);
  lines.push(`dead:               ${report.dead}`);
  const subjects = report.subjects ?? [];
  if (subjects.length > 0) {
    // Subjects come from the table: anything a producer wrote, escape sequences included.
    const shown = subjects.map((s) => ({ ...s, subject: terminalSafe(s.subject) }));
    const width = Math.max(7, ...shown.map((s) => s.subject.length));
    lines.push('', 'backlog by subject (top 10):', `  ${'subject'.padEnd(width)}  ${'pending'.padStart(8)}  oldest`);
    for (const s of shown) lines.push(`  ${s.subject.padEnd(width)}  ${String(s.pending).padStart(8)}  ${age(s.oldestPendingAgeMs)}`);
  }
  return `${lines.join('\n')}\n`;
}
