/**
 * The Standard Schema v1 interface (standardschema.dev), declared structurally so that zod,
 * valibot and arktype schemas work without being dependencies of core.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': StandardSchemaV1.Props<Input, Output>;
}

/** The types of the Standard Schema v1 interface, as the specification names them. */
export declare namespace StandardSchemaV1 {
  /** What a schema carries under `'~standard'`. */
  interface Props<Input = unknown, Output = Input> {
    readonly version: 1;
    readonly vendor: string;
    /** Validates a value: its output, or the issues found. */
    readonly validate: (value: unknown) => Result<Output> | Promise<Result<Output>>;
    readonly types?: Types<Input, Output> | undefined;
  }
  /** The outcome of `validate`: `issues` tells success from failure. */
  type Result<Output> = SuccessResult<Output> | FailureResult;
  /** The value was valid; `value` is the schema's output. */
  interface SuccessResult<Output> {
    readonly value: Output;
    readonly issues?: undefined;
  }
  /** The value was invalid, for the reasons in `issues`. */
  interface FailureResult {
    readonly issues: ReadonlyArray<Issue>;
  }
  /** One reason a value is invalid, and where in it. */
  interface Issue {
    readonly message: string;
    readonly path?: ReadonlyArray<PropertyKey | PathSegment> | undefined;
  }
  /** A step of an issue's path, as an object (some libraries use them instead of keys). */
  interface PathSegment {
    readonly key: PropertyKey;
  }
  /** The schema's input and output types, for inference only. */
  interface Types<Input = unknown, Output = Input> {
    readonly input: Input;
    readonly output: Output;
  }
  /** The type a schema accepts. */
  type InferInput<Schema extends StandardSchemaV1> = NonNullable<Schema['~standard']['types']>['input'];
  /** The type a schema produces. */
  type InferOutput<Schema extends StandardSchemaV1> = NonNullable<Schema['~standard']['types']>['output'];
}

/** Formats a Standard Schema issue path as `data.items[3].price`. */
export function issuePath(root: string, issue: StandardSchemaV1.Issue): string {
  let path = root;
  for (const segment of issue.path ?? []) {
    const key = typeof segment === 'object' && segment !== null ? segment.key : segment;
    path += typeof key === 'number' ? `[${key}]` : `.${String(key)}`;
  }
  return path;
}
