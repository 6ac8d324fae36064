// The suite context the micro benchmarks hand to the suites' own measuring functions: one NATS
// connection, backlog templates, the servers' CPU readers, the full scale. `close()` drops the
// templates and the connection.
import { connect } from '@nats-io/transport-node';
import { MYSQL_URL, NATS_URL, PG_URL } from '@outboxkit/test-services';
import type { SuiteContext } from '../src/context.js';
import { ServerCpu } from '../src/cpu.js';
import { FigureBook } from '../src/figures.js';
import { BacklogTemplates } from '../src/fixtures/templates.js';
import { FULL_SCALE } from '../src/options.js';

export async function microContext(): Promise<{ ctx: SuiteContext; close(): Promise<void> }> {
  const nc = await connect({ servers: NATS_URL });
  const backlogs = new BacklogTemplates();
  const ctx = {
    options: { scale: FULL_SCALE, runs: 1, quick: false },
    book: new FigureBook(),
    nc,
    backlogs,
    extras: {},
    cpu: new ServerCpu({ pg: PG_URL, mysql: MYSQL_URL, nats: NATS_URL }),
    goCeiling: { skipped: 'not used by the micro benchmarks' },
    note: () => undefined,
  } as unknown as SuiteContext;
  return {
    ctx,
    async close() {
      await backlogs.dropAll();
      await nc.close();
    },
  };
}
