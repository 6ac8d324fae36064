import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The `outbox-relay` CLI as built in `packages/outbox-relay/dist` (run it with `node`). */
export function relayBinPath(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@outboxkit/outbox-relay/package.json')), 'dist', 'bin.js');
}
