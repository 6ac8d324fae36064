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
  if (error instanceof SchemaVersionError) {
    const hint = message.includes('outbox-relay migrate') ? '' : '; run `outbox-relay migrate`';
    return { code: ExitCode.schema, line: `outbox-relay: schema not migrated: ${message}${hint}` };
  }
  if (error instanceof OutboxConfigError || (error as { code?: unknown })?.code === 'CONFIG') {
    return { code: ExitCode.config, line: `outbox-relay: configuration error: ${message}` };
  }
  const hint = isCertificateError(error)
    ? '; the server certificate did not verify: check OUTBOX_DB_TLS_CA (--db-tls-ca) and OUTBOX_DB_TLS_MODE (--db-tls-mode)'
    : '';
  return { code: ExitCode.failure, line: `outbox-relay: error: ${message}${hint}` };
}

// Node's codes for a certificate that does not verify (chain or host name).
const certificateCodes = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * True when the error, or one of its causes, is a TLS certificate check that failed. Drivers do not
 * always keep Node's code (mysql2 passes on the host-name error's message), so the message counts too.
 */
function isCertificateError(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    if (certificateCodes.has(String((current as { code?: unknown }).code))) return true;
    if (/certificate|cert's altnames/i.test(current.message)) return true;
  }
  return false;
}

function oneLine(text: string): string {
  return terminalSafe(text.replace(/\s*\n\s*/g, ' ').trim());
}
