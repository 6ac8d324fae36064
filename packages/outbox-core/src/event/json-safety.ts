import { EventValidationError } from '../errors.js';

/**
 * Checks that `value` survives `JSON.stringify` -> `JSON.parse` unchanged, and throws an
 * `EventValidationError` naming the first offending path otherwise: BigInt, functions, symbols,
 * non-finite numbers, cycles, `undefined` at the top, class instances other than plain objects
 * and arrays (a `Date` included: send `date.toISOString()`).
 *
 * `undefined` object properties are allowed (JSON drops them, as a user expects); `undefined`
 * array items are not (JSON turns them into `null`).
 */
export function assertJsonSafe(value: unknown, path = 'data'): void {
  if (value === undefined) {
    throw new EventValidationError(path, `${path} is undefined; an event's data must be JSON (use null for "no value")`);
  }
  visit(value, path, new Set());
}

function visit(value: unknown, path: string, ancestors: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) {
        throw new EventValidationError(path, `${path} is ${value}, which JSON cannot represent; send a finite number or null`);
      }
      return;
    case 'bigint':
      throw new EventValidationError(path, `${path} is a BigInt (${value}n), which JSON cannot represent; send it as a string`);
    case 'function':
      throw new EventValidationError(path, `${path} is a function; an event's data must be plain JSON`);
    case 'symbol':
      throw new EventValidationError(path, `${path} is a symbol; an event's data must be plain JSON`);
    case 'undefined':
      throw new EventValidationError(path, `${path} is undefined; JSON would turn it into null`);
    case 'object':
      break;
  }
  if (value === null) return;
  const object = value as object;
  if (ancestors.has(object)) {
    throw new EventValidationError(path, `${path} refers back to one of its ancestors (a cycle); JSON cannot represent it`);
  }
  ancestors.add(object);
  if (Array.isArray(object)) {
    for (let index = 0; index < object.length; index++) {
      visit(object[index], `${path}[${index}]`, ancestors);
    }
  } else {
    const prototype = Object.getPrototypeOf(object);
    if (prototype !== Object.prototype && prototype !== null) {
      const kind = (object as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      const hint = object instanceof Date ? '; send date.toISOString()' : '';
      throw new EventValidationError(path, `${path} is a ${kind}, not a plain object${hint}`);
    }
    for (const [key, child] of Object.entries(object)) {
      if (child === undefined) continue;
      visit(child, `${path}${propertyPath(key)}`, ancestors);
    }
  }
  ancestors.delete(object);
}

const identifierLike = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function propertyPath(key: string): string {
  return identifierLike.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}
