import type { SuiteContext } from '../context.js';
import { progress } from '../progress.js';
import { fmt } from '../stats.js';
import { drainWithWorkers } from './relay-drain.js';

const SUITE = 'memory';

/**
 * The relay's memory while draining a large PostgreSQL backlog: one relay worker process, its RSS
 * sampled every 250 ms and its `process.resourceUsage().maxRSS`. The same drains give the relay's rate
 * on the large backlog, for the "does the rate fall as the backlog grows" comparison.
 */
export async function memorySuite(ctx: SuiteContext): Promise<void> {
  const { runs, scale } = ctx.options;
  const backlog = scale.memoryBacklog;
  ctx.note(
    SUITE,
    `One relay worker process (core Relay.drain(), batch 500, Node ${process.version}, plain \`node\` on the built packages, no TypeScript loader) drains a ${fmt(backlog)}-event backlog over ${fmt(scale.subjects)} subjects from PostgreSQL, for at most ${scale.memorySeconds} s per run (a full drain takes minutes; the relay holds at most one batch at a time, so its memory reaches its steady state within seconds). ` +
      'Peak RSS = the larger of the kernel\'s maxRSS for the process and the highest 250 ms sample; "before draining" is its RSS once connected, before the first claim.',
  );
  for (let run = 1; run <= runs; run++) {
    progress(`memory run ${run}/${runs}: PostgreSQL, draining ${fmt(backlog)}`);
    const result = await drainWithWorkers(ctx, {
      db: 'pg',
      backlog,
      subjects: scale.subjects,
      instances: 1,
      timeLimitSeconds: scale.memorySeconds,
    });
    const report = result.reports[0];
    if (!report) throw new Error('no report from the relay worker');
    ctx.book.record(
      'memory.pg.peak-rss',
      SUITE,
      `PostgreSQL: relay peak RSS draining ${fmt(backlog)}`,
      'MB',
      Math.max(report.maxRssMb, report.peakRssMb),
    );
    ctx.book.record('memory.pg.idle-rss', SUITE, 'PostgreSQL: relay RSS before draining', 'MB', report.idleRssMb);
    ctx.book.record(
      'memory.pg.rate',
      SUITE,
      `PostgreSQL: relay rate on a ${fmt(backlog)} backlog`,
      'events/s',
      result.rate,
      result.emptied ? undefined : `time limit hit (last run: ${fmt(result.published)} of ${fmt(backlog)} in ${fmt(result.seconds, 1)} s)`,
    );
  }
}
