import { bindingHeaderBytesMax } from '@outboxkit/bus-nats';
import { describe, expect, it } from 'vitest';
import type { CliLogger } from './logger.js';
import { checkMaxPayload } from './payload-check.js';

function capture(): { logger: CliLogger; lines: string[] } {
  const lines: string[] = [];
  const logger = { warn: (_fields: object, message: string) => lines.push(message) } as unknown as CliLogger;
  return { logger, lines };
}

describe('checkMaxPayload', () => {
  it('warns, naming the settings and the largest event that fits, when the limit plus headers is over max_payload', () => {
    const { logger, lines } = capture();
    const message = checkMaxPayload(1_048_576, 1_048_576, logger);
    const fits = 1_048_576 - bindingHeaderBytesMax();
    expect(lines).toEqual([message]);
    expect(message).toContain('OUTBOX_MAX_EVENT_BYTES');
    expect(message).toContain('max_payload');
    expect(message).toContain(`larger than ${fits} bytes`);
  });

  it('stays quiet when the limit fits, or when the server did not say', () => {
    const { logger, lines } = capture();
    expect(checkMaxPayload(1_048_576, 1_048_576 - bindingHeaderBytesMax(), logger)).toBeUndefined();
    expect(checkMaxPayload(undefined, 10_000_000, logger)).toBeUndefined();
    expect(lines).toEqual([]);
  });
});
