import { describe, expect, it } from 'vitest';
import type { OutboxConfigError } from '../errors.js';
import { checkHorizons } from './horizons.js';

function settingOf(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return (error as OutboxConfigError).setting;
  }
}

describe('checkHorizons', () => {
  it('accepts windows that nest', () => {
    expect(settingOf(() => checkHorizons({ duplicateWindowMs: 120_000, leaseMs: 30_000, maxRetryDelayMs: 60_000 }))).toBeUndefined();
    expect(settingOf(() => checkHorizons({ inboxRetentionMs: 86_400_000, redeliveryHorizonMs: 300_000 }))).toBeUndefined();
  });

  it('names duplicate_window when it is shorter than lease + retry delay', () => {
    expect(settingOf(() => checkHorizons({ duplicateWindowMs: 60_000, leaseMs: 30_000, maxRetryDelayMs: 60_000 }))).toBe(
      'duplicate_window',
    );
  });

  it('names inboxRetentionMs when the inbox forgets before the bus stops redelivering', () => {
    expect(settingOf(() => checkHorizons({ inboxRetentionMs: 1_000, redeliveryHorizonMs: 300_000 }))).toBe('inboxRetentionMs');
  });
});
