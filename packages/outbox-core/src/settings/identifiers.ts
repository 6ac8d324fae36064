import { OutboxConfigError } from '../errors.js';

const identifierPattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks a schema, table or database name from configuration before any SQL is built with it:
 * letters, digits and `_`, not starting with a digit, at most `maxLength` characters.
 * Drivers still quote it; this keeps quoting from being the only defence.
 *
 * @throws OutboxConfigError naming the setting and the bad value.
 */
export function validateIdentifier(value: unknown, setting: string, maxLength = 63): string {
  if (typeof value !== 'string' || !identifierPattern.test(value) || value.length > maxLength) {
    throw new OutboxConfigError(
      setting,
      `${setting} must be letters, digits and '_' (not starting with a digit, at most ${maxLength} characters); got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/**
 * Checks a numeric setting, returning it.
 * @throws OutboxConfigError naming the setting and the bad value.
 */
export function validateInteger(value: unknown, setting: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new OutboxConfigError(setting, `${setting} must be an integer from ${min} to ${max}; got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Checks a boolean setting (an option left out is the caller's default, not this function's),
 * returning it.
 * @throws OutboxConfigError naming the setting and the bad value.
 */
export function validateBoolean(value: unknown, setting: string): boolean {
  if (typeof value !== 'boolean') {
    throw new OutboxConfigError(setting, `${setting} must be true or false; got ${JSON.stringify(value) ?? String(value)}`);
  }
  return value;
}
