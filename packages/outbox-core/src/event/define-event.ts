import { EventDecodeError, EventValidationError, OutboxUsageError } from '../errors.js';
import { createEvent, type OutboxEvent } from './event.js';
import { issuePath, type StandardSchemaV1 } from './standard-schema.js';

/** Options of `defineEvent`. */
export interface DefineEventOptions<Schema extends StandardSchemaV1> {
  /** Any Standard Schema (zod, valibot, arktype). It must validate synchronously. */
  readonly schema: Schema;
  /** The producing service, used when `create` is not given one. */
  readonly source?: string;
}

/** Per-event attributes given to `EventDefinition.create`. */
export interface CreateOptions {
  /** The aggregate key that orders events, e.g. the product id. */
  readonly subject: string;
  /** Overrides the definition's `source`. */
  readonly source?: string;
  readonly id?: string;
  readonly time?: string | Date;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A typed integration event: a factory, a type guard and a decoder that validate with the schema. */
export interface EventDefinition<TType extends string = string, TData = unknown> {
  readonly type: TType;
  readonly schema: StandardSchemaV1<unknown, TData>;
  /**
   * Creates a validated event.
   * @throws EventValidationError naming the offending path.
   */
  create(data: TData, options: CreateOptions): OutboxEvent<TData, TType>;
  /** True when `event` has this type and its data passes the schema. */
  is(event: OutboxEvent): event is OutboxEvent<TData, TType>;
  /**
   * Validates an event received from the bus and returns it with the schema's output as `data`.
   * @throws EventDecodeError when the type differs or the data fails the schema.
   */
  parse(event: OutboxEvent): OutboxEvent<TData, TType>;
}

/** The data type an `EventDefinition` carries. */
export type EventData<Definition> = Definition extends EventDefinition<string, infer TData> ? TData : never;

/**
 * Defines an integration event type with its schema.
 *
 * @example
 * ```ts
 * const PriceChanged = defineEvent('catalog.product.price-changed', {
 *   schema: z.object({ productId: z.string(), newPrice: z.number(), version: z.number().int() }),
 *   source: 'catalog',
 * })
 * const event = PriceChanged.create({ productId: 'p1', newPrice: 12, version: 3 }, { subject: 'p1' })
 * ```
 */
export function defineEvent<TType extends string, Schema extends StandardSchemaV1>(
  type: TType,
  options: DefineEventOptions<Schema>,
): EventDefinition<TType, StandardSchemaV1.InferOutput<Schema>> {
  type TData = StandardSchemaV1.InferOutput<Schema>;
  const schema = options.schema as StandardSchemaV1<unknown, TData>;
  if (schema === null || typeof schema !== 'object' || typeof schema['~standard']?.validate !== 'function') {
    throw new OutboxUsageError(`defineEvent('${type}') needs a Standard Schema (zod, valibot, arktype) as options.schema`);
  }

  const validate = (data: unknown, root: string): StandardSchemaV1.Result<TData> => {
    const result = schema['~standard'].validate(data);
    if (result instanceof Promise) {
      throw new OutboxUsageError(`the schema of '${type}' validates asynchronously; event schemas must be synchronous`);
    }
    if (result.issues) {
      const issue = result.issues[0];
      const at = issue ? issuePath(root, issue) : root;
      throw new EventValidationError(at, `${at}: ${issue?.message ?? 'invalid'} (event type '${type}')`, {
        cause: result.issues,
      });
    }
    return result;
  };

  return {
    type,
    schema,
    create(data, createOptions) {
      const result = validate(data, 'data') as StandardSchemaV1.SuccessResult<TData>;
      const source = createOptions.source ?? options.source;
      if (source === undefined) {
        throw new EventValidationError('source', `'${type}'.create() needs a source: set it in defineEvent() or in create()`);
      }
      return createEvent({
        type,
        source,
        subject: createOptions.subject,
        data: result.value,
        ...(createOptions.id === undefined ? {} : { id: createOptions.id }),
        ...(createOptions.time === undefined ? {} : { time: createOptions.time }),
        ...(createOptions.headers === undefined ? {} : { headers: createOptions.headers }),
      });
    },
    is(event): event is OutboxEvent<TData, TType> {
      if (event.type !== type) return false;
      const result = schema['~standard'].validate(event.data);
      return !(result instanceof Promise) && !result.issues;
    },
    parse(event) {
      if (event.type !== type) {
        throw new EventDecodeError('UNKNOWN_EVENT_TYPE', `expected an event of type '${type}'; got '${event.type}'`);
      }
      try {
        const result = validate(event.data, 'data') as StandardSchemaV1.SuccessResult<TData>;
        return { ...event, type, data: result.value };
      } catch (error) {
        throw new EventDecodeError('EVENT_INVALID', (error as Error).message, { cause: error });
      }
    },
  };
}
