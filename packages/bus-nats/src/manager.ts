import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';

/** A JetStream manager, or the connection to make one on (the caller's; it is not closed). */
export type JetStreamManagerSource = JetStreamManager | NatsConnection;

function isManager(source: JetStreamManagerSource): source is JetStreamManager {
  return typeof (source as Partial<JetStreamManager>).getAccountInfo === 'function';
}

/**
 * Returns the manager, making one on a connection when given one.
 * @throws the client's `JetStreamNotEnabled` when the server has no JetStream.
 */
export async function toManager(source: JetStreamManagerSource): Promise<JetStreamManager> {
  return isManager(source) ? source : jetstreamManager(source);
}

/** The connection behind a manager source, for the server version. */
export function connectionOf(source: JetStreamManagerSource, jsm: JetStreamManager): NatsConnection {
  if (!isManager(source)) return source;
  // The client keeps the connection on the manager; typed as a method only on the implementation.
  const holder = jsm as unknown as { nc?: NatsConnection; getConnection?: () => NatsConnection };
  return holder.getConnection?.() ?? (holder.nc as NatsConnection);
}

/**
 * True when the connected server is at least `major.minor`: features of newer servers are
 * optional and gated on this (the version is the one in the server's INFO).
 */
export function serverAtLeast(connection: NatsConnection | undefined, major: number, minor: number): boolean {
  const version = connection?.info?.version;
  if (!version) return false;
  const match = /^v?(\d+)\.(\d+)/.exec(version);
  if (!match) return false;
  const [foundMajor, foundMinor] = [Number(match[1]), Number(match[2])];
  return foundMajor > major || (foundMajor === major && foundMinor >= minor);
}
