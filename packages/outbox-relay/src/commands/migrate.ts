import type { MigrateConfig } from '../admin-config.js';
import { tableLabel } from '../database-config.js';
import { ExitCode } from '../help.js';
import type { CliLogger } from '../logger.js';
import { openStore } from '../store-factory.js';

/** `outbox-relay migrate`: applies the outbox migrations under the store's database lock. */
export async function migrateCommand(config: MigrateConfig, logger: CliLogger, out: NodeJS.WritableStream): Promise<number> {
  const opened = await openStore(config.database, { listen: false, logger, maxConnections: 1 });
  try {
    const result = await opened.store.migrate();
    const what = result.applied.length === 0 ? 'already up to date' : `applied ${result.applied.join(', ')}`;
    out.write(`${tableLabel(config.database)}: schema version ${result.version} (${what})\n`);
    logger.debug({ ...result }, 'migrate finished');
    return ExitCode.ok;
  } finally {
    await opened.close();
  }
}
