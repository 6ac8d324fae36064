import { OutboxConfigError, SchemaVersionError, StoreError } from '@outboxkit/outbox-core';
import { describe, expect, it } from 'vitest';
import { exitStatusOf } from './exit-status.js';

describe('exitStatusOf', () => {
  it('maps a schema error to 3 and always tells to run outbox-relay migrate', () => {
    const status = exitStatusOf(new SchemaVersionError(null, 1, 'the outbox table public.outbox is missing'));
    expect(status.code).toBe(3);
    expect(status.line).toContain('outbox-relay migrate');
  });

  it('maps a configuration error to 2 and anything else to 1', () => {
    expect(exitStatusOf(new OutboxConfigError('duplicate_window', 'too short')).code).toBe(2);
    expect(exitStatusOf(new StoreError('CONNECTION_LOST', 'gone', true)).code).toBe(1);
    expect(exitStatusOf('plain string').code).toBe(1);
  });

  it('prints one line with the URL password and the given secrets redacted', () => {
    const error = new Error('could not connect to postgres://app:hunter22@db/x\npassword "hunter22" rejected');
    const status = exitStatusOf(error, ['hunter22']);
    expect(status.line).not.toContain('hunter22');
    expect(status.line).not.toContain('\n');
    expect(status.line).toContain('postgres://app:***@db/x');
  });

  it('adds what to check when a TLS certificate did not verify, by code or by message', () => {
    const byCode = Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    expect(exitStatusOf(new StoreError('CONNECTION_LOST', 'gone', true, { cause: byCode })).line).toContain('check OUTBOX_DB_TLS_CA');
    const byMessage = new Error("Hostname/IP does not match certificate's altnames: Host: db. is not in the cert's altnames: DNS:x");
    expect(exitStatusOf(byMessage).line).toContain('check OUTBOX_DB_TLS_CA');
    expect(exitStatusOf(new StoreError('CONNECTION_LOST', 'gone', true)).line).not.toContain('TLS');
  });
});
