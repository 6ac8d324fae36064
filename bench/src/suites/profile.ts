import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { SuiteContext } from '../context.js';
import { drainWithWorkers } from './relay-drain.js';

/** One line of a CPU profile summary: a function and the share of samples spent in it (self time). */
export interface ProfileFrame {
  readonly functionName: string;
  readonly location: string;
  readonly selfPercent: number;
}

export interface RelayProfile {
  readonly rate: number;
  readonly backlog: number;
  readonly top: readonly ProfileFrame[];
  /** Self time grouped by package (node_modules name, outboxkit package, or node internals). */
  readonly byPackage: readonly { readonly name: string; readonly selfPercent: number }[];
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** Drains a PostgreSQL backlog with one relay worker under `node --cpu-prof`, and names the hottest frames. */
export async function profileRelayDrain(
  ctx: SuiteContext,
  backlog: number,
  subjects: number,
  timeLimitSeconds: number,
): Promise<RelayProfile> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'outboxkit-bench-prof-'));
  try {
    const result = await drainWithWorkers(ctx, {
      db: 'pg',
      backlog,
      subjects,
      instances: 1,
      timeLimitSeconds,
      nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir],
    });
    const file = (await readdir(dir)).find((name) => name.endsWith('.cpuprofile'));
    if (!file) throw new Error('no .cpuprofile written');
    const profile = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as CpuProfile;
    return { rate: result.rate, backlog, ...summarizeProfile(profile) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function summarizeProfile(profile: CpuProfile): Pick<RelayProfile, 'top' | 'byPackage'> {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, { frame: ProfileFrame; time: number }>();
  const packages = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, index) => {
    const node = byNode.get(id);
    const delta = profile.timeDeltas[index] ?? 0;
    if (!node) return;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    if (name === '(idle)' || name === '(program)') return;
    total += delta;
    const location = url ? `${shorten(url)}:${lineNumber + 1}` : '';
    const key = `${name}@${location}`;
    const entry = self.get(key) ?? { frame: { functionName: name, location, selfPercent: 0 }, time: 0 };
    entry.time += delta;
    self.set(key, entry);
    const pkg = packageOf(url, name);
    packages.set(pkg, (packages.get(pkg) ?? 0) + delta);
  });
  const pct = (time: number) => Math.round((time / total) * 1000) / 10;
  const top = [...self.values()]
    .sort((a, b) => b.time - a.time)
    .slice(0, 12)
    .map(({ frame, time }) => ({ ...frame, selfPercent: pct(time) }));
  const byPackage = [...packages.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([name, time]) => ({ name, selfPercent: pct(time) }));
  return { top, byPackage };
}

function shorten(url: string): string {
  const at = url.lastIndexOf('node_modules/');
  if (at >= 0) return url.slice(at + 'node_modules/'.length);
  const packages = url.indexOf('/packages/');
  if (packages >= 0) return url.slice(packages + 1);
  return url.replace(/^file:\/\//, '');
}

function packageOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const at = url.lastIndexOf('node_modules/');
  if (at >= 0) {
    const rest = url.slice(at + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  const match = /\/packages\/([^/]+)\//.exec(url);
  if (match) return `@outboxkit/${match[1]}`;
  if (url.startsWith('node:')) return 'node internals';
  return shorten(url);
}
