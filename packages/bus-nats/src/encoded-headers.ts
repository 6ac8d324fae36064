import { errors, type Match, type MsgHdrs, MsgHdrsImpl } from '@nats-io/nats-core';

/**
 * Message headers encoded once, up front, into the bytes the NATS protocol carries
 * (`NATS/1.0\r\n` + `name: value\r\n` lines + `\r\n`): what `connection.publish` sends is these bytes,
 * with no per-message header map, name canonicalization or re-encoding. The client's publish asks
 * headers only for `encode()` (nats-core 3.3 `protocol.publish`); every other `MsgHdrs` method reads
 * a map decoded from the bytes on first use, and a change through `set`/`append`/`delete` is what
 * `encode()` returns from then on. Building the client's headers per record took about 20% of a
 * relay's CPU in the bench profile (`set`, `append`, `canonicalMIMEHeaderKey`, `encode`).
 */
export class EncodedHeaders implements MsgHdrs {
  readonly #bytes: Uint8Array;
  #decoded: MsgHdrsImpl | undefined;

  /** @param bytes the encoded header block, as `MsgHdrsImpl.encode()` writes it */
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** The bytes on the wire (the client's publish calls this). */
  encode(): Uint8Array {
    return this.#decoded === undefined ? this.#bytes : this.#decoded.encode();
  }

  /** The decoded headers, typed as the interface (the class's own signatures narrow `match`). */
  #map(): MsgHdrs {
    this.#decoded ??= MsgHdrsImpl.decode(this.#bytes);
    return this.#decoded;
  }

  get hasError(): boolean {
    return this.#map().hasError;
  }
  get status(): string {
    return this.#map().status;
  }
  get code(): number {
    return this.#map().code;
  }
  get description(): string {
    return this.#map().description;
  }
  get(k: string, match?: Match): string {
    return this.#map().get(k, match);
  }
  set(k: string, v: string, match?: Match): void {
    this.#map().set(k, v, match);
  }
  append(k: string, v: string, match?: Match): void {
    this.#map().append(k, v, match);
  }
  has(k: string, match?: Match): boolean {
    return this.#map().has(k, match);
  }
  keys(): string[] {
    return this.#map().keys();
  }
  values(k: string, match?: Match): string[] {
    return this.#map().values(k, match);
  }
  delete(k: string, match?: Match): void {
    this.#map().delete(k, match);
  }
  last(k: string, match?: Match): string {
    return this.#map().last(k, match);
  }
  [Symbol.iterator](): Iterator<[string, string[]]> {
    return this.#map()[Symbol.iterator]();
  }
}

/** Header names already checked: events repeat the same few (`traceparent`, ...). */
const checkedNames = new Set<string>();

/**
 * Appends `\r\nname: value` to a header block, with the client's rules: a name of printable ASCII
 * without `:`, a value without CR or LF, trimmed.
 * @throws the client's `InvalidArgumentError`, with the client's message, on a name or value it would refuse.
 */
export function headerLine(name: string, value: string): string {
  if (!checkedNames.has(name)) {
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      if (c === 58 || c < 33 || c > 126) {
        throw errors.InvalidArgumentError.format('header', `'${name[i]}' is not a valid character in a header name`);
      }
    }
    if (checkedNames.size < 1_000) checkedNames.add(name);
  }
  if (value.includes('\r') || value.includes('\n')) throw errors.InvalidArgumentError.format('header', 'values cannot contain \\r or \\n');
  return `\r\n${name}: ${value.trim()}`;
}
