/**
 * Where outboxkit's tests, benchmarks and fault suite find their servers and binaries. Each value
 * is the env var when it is set and not empty, else the default below (the local services
 * `.ci/run` starts). The URL constants are read once, at import: under vitest the global setup
 * has set them by then (see test/global-setup.ts).
 */

/** A server the tests need, where it is by default, and the variable that overrides it. */
export interface Service {
  readonly name: string;
  readonly variable: 'OUTBOX_PG_URL' | 'OUTBOX_MYSQL_URL' | 'OUTBOX_NATS_URL';
  readonly defaultUrl: string;
}

/** PostgreSQL, MySQL/MariaDB and nats-server (JetStream), in that order. */
export declare const services: readonly Service[];

/** `OUTBOX_PG_URL`. @defaultValue `postgres://postgres@127.0.0.1:5432/test` */
export declare const PG_URL: string;
/** `OUTBOX_MYSQL_URL`. @defaultValue `mysql://root@127.0.0.1:3306/test` */
export declare const MYSQL_URL: string;
/** `OUTBOX_NATS_URL`. @defaultValue `nats://127.0.0.1:4222` */
export declare const NATS_URL: string;

/** `OUTBOX_NATS_SERVER_BIN`: the nats-server the tests start their own servers and clusters from. @defaultValue `/usr/sbin/nats-server` */
export declare const NATS_SERVER_BIN: string;
/** `OUTBOX_MARIADBD_BIN`: the mariadbd the database TLS test starts a server of its own from. @defaultValue `/usr/sbin/mariadbd` */
export declare const MARIADBD_BIN: string;
/** `OUTBOX_CHROMIUM`: the browser the console's browser test drives. @defaultValue `/usr/bin/chromium` */
export declare const CHROMIUM: string;

/** The value of the env var `variable`, or `fallback` when it is unset or empty. */
export declare function setting(variable: string, fallback: string): string;

/** True when something accepts a TCP connection at the URL's host and port within `timeoutMs`. */
export declare function answers(url: string, timeoutMs?: number): Promise<boolean>;

/**
 * Polls `check` every `intervalMs` until it holds; throws naming `what` after `timeoutMs`. Tests
 * wait on observable state with it (a row, a log line, a counter), never on a fixed sleep.
 * @defaultValue timeoutMs 30_000, intervalMs 25
 */
export declare function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs?: number,
  intervalMs?: number,
): Promise<void>;

/** A loopback TCP port nothing listens on right now (for a server the test starts, or an address that refuses). */
export declare function freePort(): Promise<number>;

/** A nats-server of the test's own, with JetStream, on a free port and a temp store dir; stopped by pid. */
export declare class OwnNatsServer {
  port: number;
  readonly url: string;
  /** Starts it (on the same port as before when restarted) and waits until it accepts clients. */
  start(): Promise<void>;
  /** Sends a signal to the server process (SIGSTOP freezes it: connections stay open, nothing is answered). */
  signal(signal: NodeJS.Signals): void;
  /** Kills it (SIGKILL) and waits for the exit. */
  stop(): Promise<void>;
  dispose(): Promise<void>;
}
