/** What a JetStream delivery's reply subject tells about it. */
export interface AckSubjectInfo {
  readonly stream: string;
  readonly consumer: string;
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  readonly streamSequence: number;
}

/**
 * Parses the reply subject JetStream gives a delivery: `$JS.ACK.<stream>.<consumer>.<delivered>.
 * <stream seq>.<consumer seq>.<timestamp>.<pending>` (9 tokens), or the 12-token form with a
 * domain and account hash in front (and a random token at the end) from servers 2.9+ with domains.
 * Returns `null` when it is not an ack subject.
 */
export function parseAckSubject(reply: string | undefined): AckSubjectInfo | null {
  if (!reply?.startsWith('$JS.ACK.')) return null;
  const tokens = reply.split('.');
  let offset: number;
  if (tokens.length === 9) offset = 2;
  else if (tokens.length >= 11) offset = 4;
  else return null;
  const stream = tokens[offset] as string;
  const consumer = tokens[offset + 1] as string;
  const deliveryCount = Number(tokens[offset + 2]);
  const streamSequence = Number(tokens[offset + 3]);
  if (!Number.isInteger(deliveryCount) || !Number.isInteger(streamSequence)) return null;
  return { stream, consumer, deliveryCount, streamSequence };
}
