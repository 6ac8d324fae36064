import { expect } from 'vitest';
import type { ConfigOutcome, Outcome } from '../src/index.js';

/** Poison: dead-lettered at maxDeliver, nothing else held up, each replayed event applied once. */
export function expectPoisonReplayed(outcome: Outcome, events: number, poisoned: number): void {
  const { result, checks } = outcome;
  expect({ lost: result.lost, twice: result.twice }).toEqual({ lost: 0, twice: 0 });
  expect(checks.appliedBeforeFix).toBe(events);
  const dead = checks.dead as Array<{ messageId?: string; code?: string; deliveryCount: number; error?: string }>;
  expect(dead.map((letter) => letter.messageId).sort()).toEqual([...(checks.poisonedIds as string[])].sort());
  for (const letter of dead) {
    expect(letter.deliveryCount).toBe(checks.maxDeliver);
    expect(letter.error).toContain('handler bug');
  }
  expect(checks.replayed).toBe(poisoned);
  expect(checks.poisonedAppliedTimes).toEqual(Array.from({ length: poisoned }, () => 1));
  expect(result.applied).toBe(events + poisoned);
  expect(result.inStream).toBe(result.written);
  expect(outcome.outbox).toMatchObject({ pending: 0, dead: 0 });
  expect(outcome.deadLetters).toEqual([]);
}

/** Bad input: 4 dead letters with their codes (the unknown type acked, not among them), the oversized event dead in the outbox, the rest applied once. */
export function expectBadInputDeadLettered(outcome: Outcome): void {
  const { result, checks } = outcome;
  expect({ lost: result.lost, twice: result.twice }).toEqual({ lost: 0, twice: 0 });
  expect(result.applied).toBe(result.written);
  expect(result.inStream).toBe(result.written);
  const codes = outcome.deadLetters.map((letter) => letter.code).sort();
  expect(codes).toEqual(['DECODE_FAILED', 'DECODE_FAILED', 'EVENT_INVALID', 'FORGED_SUBJECT'].sort());
  expect(outcome.deadLetters.map((letter) => letter.messageId)).not.toContain(checks.unknownId);
  expect(outcome.outbox).toMatchObject({ pending: 0, dead: 1 });
  expect(checks.deadListCode).toBe(0);
  const deadList = JSON.parse(checks.deadList as string) as unknown;
  expect(JSON.stringify(deadList)).toContain(checks.oversizedId as string);
  expect(JSON.stringify(deadList)).toMatch(/max_payload/);
  expect(checks.gapRecorded).toBe(true);
}

/** Bad configuration: exit 2 naming the setting, no table created or dropped, horizons checked at start. */
export function expectBadConfigurationRejected(outcome: ConfigOutcome, identifierSetting: string): void {
  expect(outcome.badTable.code).toBe(2);
  expect(outcome.badTable.stderr).toContain('OUTBOX_TABLE');
  expect(outcome.badSchema.code).toBe(2);
  expect(outcome.badSchema.stderr).toContain(identifierSetting);
  expect(outcome.tablesAfter).toEqual(outcome.tablesBefore);
  expect(outcome.shortWindow.code).toBe(2);
  expect(outcome.shortWindow.stderr).toMatch(/duplicate_window/);
  expect(outcome.shortWindow.streamCreated).toBe(false);
  expect(outcome.shortRetention.code).toBe(1);
  expect(outcome.shortRetention.stderr).toContain('inboxRetentionMs');
}
