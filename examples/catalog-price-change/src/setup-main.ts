/** `tsx src/setup-main.ts`: migrates and seeds, for docker compose's one-shot `setup` service. */
import { readConfig } from './config.js';
import { setUp } from './setup.js';

try {
  const result = await setUp(readConfig());
  console.log(result.outbox);
  console.log(`seeded ${result.productsInserted} products and ${result.linesInserted} basket lines (missing ones only)`);
} catch (error) {
  console.error(`setup failed: ${(error as Error).message}`);
  process.exitCode = 1;
}
