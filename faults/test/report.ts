import { expect } from 'vitest';
import { formatResult, type Outcome, type ScenarioResult } from '../src/index.js';

const lines: string[] = [];

/** Prints the scenario's line at once and keeps it for the file's summary. */
export function report(result: ScenarioResult): void {
  reportLine(formatResult(result));
}

/** Prints a line a scenario formatted itself and keeps it for the file's summary. */
export function reportLine(line: string): void {
  lines.push(line);
  process.stdout.write(`[faults] ${line}\n`);
}

/** Prints every line of this file, with the date: what the README quotes. */
export function printSummary(title: string): void {
  if (lines.length === 0) return;
  process.stdout.write(`\n[faults] ${title}, ${new Date().toISOString()}\n${lines.map((line) => `[faults] ${line}`).join('\n')}\n\n`);
}

/**
 * The promise under test: every written event applied once, each stored once in the stream, the
 * outbox empty, nothing dead-lettered on either side, no relay exit the scenario did not cause.
 */
export function expectExactlyOnce(outcome: Outcome): void {
  const { result } = outcome;
  expect(result.written).toBeGreaterThan(0);
  expect({ lost: result.lost, twice: result.twice }).toEqual({ lost: 0, twice: 0 });
  expect(result.applied).toBe(result.written);
  expect(result.inStream).toBe(result.written);
  expect(outcome.outbox).toMatchObject({ pending: 0, dead: 0 });
  expect(outcome.deadLetters).toEqual([]);
  const reasons = (outcome.checks.exitReasons as string[] | undefined) ?? [];
  expect(outcome.relayExits, `the relay exited on its own: ${reasons.join(' | ')}`).toEqual([]);
}
