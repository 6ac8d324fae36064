import type { RelayCliConfig } from '../config.js';
import { ExitCode } from '../help.js';
import type { CliLogger } from '../logger.js';
import { openStore } from '../store-factory.js';

/** `outbox-relay migrate`: applies the outbox migrations under the store's database lock. */
export async function migrateCommand(config: RelayCliConfig, logger: CliLogger, out: NodeJS.WritableStream): Promise<number> {
  const opened = await openStore(config.database, { listen: false, logger, maxConnections: 1 });
  try {
    const result = await opened.store.migrate();
    const where = config.database.driver === 'pg' ? `${config.database.schema}.${config.database.table}` : config.database.table;
    const what = result.applied.length === 0 ? 'already up to date' : `applied ${result.applied.join(', ')}`;
    out.write(`${where}: schema version ${result.version} (${what})\n`);
    logger.debug({ ...result }, 'migrate finished');
    return ExitCode.ok;
  } finally {
    await opened.close();
  }
}
