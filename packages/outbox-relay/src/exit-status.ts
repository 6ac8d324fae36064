import { OutboxConfigError, SchemaVersionError } from '@outboxkit/outbox-core';
import { ExitCode } from './help.js';
import { redactText } from './redact.js';
import { terminalSafe } from './terminal-text.js';

/** What the CLI does with an error that ends a command: the exit code and the one line it prints. */
export interface ExitStatus {
  readonly code: number;
  readonly line: string;
}

/**
 * Maps an error to its exit code (2 configuration, 3 schema, 1 anything else) and a one-line,
 * redacted message. A schema error always tells the operator to run `outbox-relay migrate`.
 */
export function exitStatusOf(error: unknown, secrets: readonly string[] = []): ExitStatus {
  const message = oneLine(redactText(error instanceof Error ? error.message : String(error), secrets));
  if (error instanceof SchemaVersionError || (error as { code?: unknown })?.code === 'SCHEMA_VERSION') {
    const hint = message.includes('outbox-relay migrate') ? '' : '; run `outbox-relay migrate`';
    return { code: ExitCode.schema, line: `outbox-relay: schema not migrated: ${message}${hint}` };
  }
  if (error instanceof OutboxConfigError || (error as { code?: unknown })?.code === 'CONFIG') {
    return { code: ExitCode.config, line: `outbox-relay: configuration error: ${message}` };
  }
  return { code: ExitCode.failure, line: `outbox-relay: error: ${message}` };
}

function oneLine(text: string): string {
  return terminalSafe(text.replace(/\s*\n\s*/g, ' ').trim());
}
