import { OutboxConfigError } from '@outboxkit/outbox-core';

/** Characters of a payload, data or error shown in a list; the full text is in the detail. */
const PREVIEW_CHARS = 300;

/** A request the console API refuses, with the HTTP status it answers. */
export class ConsoleRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ConsoleRequestError';
  }
}

/** Who asked for a mutation, as logged. */
export interface ConsoleActor {
  readonly address: string;
  /** The name the operator typed in the page (`x-outbox-operator`), when any. */
  readonly operator?: string;
}

/** The start of a long text for a list, with its size. */
export function preview(text: string | undefined, chars = PREVIEW_CHARS): { text: string; truncated: boolean; bytes: number } {
  const value = text ?? '';
  return { text: value.slice(0, chars), truncated: value.length > chars, bytes: Buffer.byteLength(value) };
}

/** A filter from the query string: one line of text, or absent. */
export function textFilter(params: URLSearchParams, name: string): string | undefined {
  const value = params.get(name);
  if (value === null || value === '') return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are refused in a filter
  if (value.length > 1_000 || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new ConsoleRequestError(400, `filter ${name} must be 1 to 1000 characters without control characters`);
  }
  return value;
}

/** An integer query parameter within `min`..`max`, or `fallback` when absent. */
export function intParam(params: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const text = params.get(name);
  if (text === null || text === '') return fallback;
  const value = /^\d{1,9}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max)) throw new ConsoleRequestError(400, `${name} must be an integer from ${min} to ${max}`);
  return value;
}

export /** `{ ids: [...] , confirm: n }` or `{ all: true, confirm: n, filters? }`: the one shape of a mutation body. */
function parseSelection(
  body: unknown,
  key: 'ids' | 'sequences',
  valid: (value: unknown) => boolean,
): { ids: unknown[] | undefined; all: boolean; confirm: number; filters: URLSearchParams } {
  if (typeof body !== 'object' || body === null) throw new ConsoleRequestError(400, 'expected a JSON object');
  const record = body as Record<string, unknown>;
  const all = record.all === true;
  const ids = record[key];
  if (all === (ids !== undefined)) throw new ConsoleRequestError(400, `give ${key} or all: true (not both)`);
  if (ids !== undefined && (!Array.isArray(ids) || ids.length === 0 || ids.length > 1_000 || !ids.every(valid))) {
    throw new ConsoleRequestError(400, `${key} must be a list of 1 to 1000 valid values`);
  }
  if (!Number.isSafeInteger(record.confirm)) {
    throw new ConsoleRequestError(400, 'confirm must be the number of items the operator confirmed');
  }
  const filters = new URLSearchParams();
  if (record.filters !== undefined) {
    if (typeof record.filters !== 'object' || record.filters === null) throw new ConsoleRequestError(400, 'filters must be an object');
    for (const [name, value] of Object.entries(record.filters as Record<string, unknown>)) {
      if (!['consumer', 'type', 'subject', 'code'].includes(name) || typeof value !== 'string') {
        throw new ConsoleRequestError(400, `unknown filter ${JSON.stringify(name).slice(0, 40)}`);
      }
      filters.set(name, value);
    }
  }
  return { ids: ids === undefined ? undefined : [...new Set(ids as unknown[])], all, confirm: record.confirm as number, filters };
}

/** An `OutboxConfigError` from a filter is the caller's mistake: 400. */
export function statusOf(error: unknown): number {
  if (error instanceof ConsoleRequestError) return error.status;
  if (error instanceof OutboxConfigError) return 400;
  return 500;
}
