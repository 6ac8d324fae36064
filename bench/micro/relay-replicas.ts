// Drains one outbox backlog with 1, 2 and 4 relay processes, interleaved, and prints for each
// drain the rate, the claims' counts and (PostgreSQL) the outbox's index entries read per event: the
// figures behind issue 18's "a second relay must not slow the system down".
// Run from the repository root: `npx tsx bench/micro/relay-replicas.ts [backlog] [rounds] [subjects] [processes] [pg|mysql] [ahead]`
// (defaults 100,000, 2, 1,000, 1,2,4 and pg; PostgreSQL, MariaDB and NATS at the test services'
// addresses). `ahead` runs the relays with `claimAhead: true`, `both` runs each drain with and
// without it. Each drain stops after 15 s.
import { drainWithWorkers } from '../src/suites/relay-drain.js';
import { microContext } from './micro-context.js';

const backlog = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 2);
const subjects = Number(process.argv[4] ?? 1_000);
const counts = (process.argv[5] ?? '1,2,4').split(',').map(Number);
const db = process.argv[6] ?? 'pg';
if (db !== 'pg' && db !== 'mysql') throw new Error(`the database is pg or mysql, not ${db}`);
const aheadArg = process.argv[7] ?? 'no';
if (aheadArg !== 'no' && aheadArg !== 'ahead' && aheadArg !== 'both') throw new Error(`the 6th argument is ahead or both, not ${aheadArg}`);
const variants = aheadArg === 'both' ? [false, true] : [aheadArg === 'ahead'];
const { ctx, close } = await microContext();
try {
  for (let round = 0; round < rounds; round++) {
    for (const instances of counts) {
      for (const claimAhead of variants) {
        const r = await drainWithWorkers(ctx, {
          db,
          backlog,
          subjects,
          instances,
          timeLimitSeconds: 15,
          checkOrder: instances > 1,
          claimAhead,
        });
        const c = r.counts;
        process.stdout.write(
          `${instances} relay(s)${claimAhead ? ', claiming ahead' : ''}: ${Math.round(r.rate)} events/s, ${r.published} published${r.emptied ? '' : ' (time limit)'}; ` +
            `claims ${c.claims} (empty ${c.emptyClaims}, short ${c.shortClaims}), ${(c.claimMs / Math.max(1, c.claims)).toFixed(1)} ms/claim, ` +
            `${(c.completeMs / Math.max(1, c.completes)).toFixed(1)} ms/complete; index entries/event ${r.indexReadsPerEvent?.toFixed(1) ?? '-'}; ` +
            `CPU s/10k relay ${r.cpu.client?.toFixed(2)} db ${r.cpu.db?.toFixed(2)} nats ${r.cpu.nats?.toFixed(2)}; out of order ${r.order?.outOfOrder ?? '-'}\n`,
        );
      }
    }
  }
} finally {
  await close();
}
