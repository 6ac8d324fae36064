import { EventDecodeError } from '@outboxkit/outbox-core';

/**
 * How a subscriber checks the NATS subject a message came on against its `ce-type`:
 * - `'suffix'`: the subject must end with `.<ce-type>`, as `NatsPublisher`'s default mapping
 *   `<subjectPrefix>.<type>` publishes it, whatever the prefix;
 * - a function: the one subject a type maps to (give it the publisher's own `subject` mapping);
 * - `'off'`: trust `ce-type` on any subject.
 */
export type SubjectCheck = 'suffix' | 'off' | ((type: string) => string);

/**
 * Throws when `subject` is not where an event of `type` is published: a message whose `ce-type`
 * claims a type its subject does not carry was forged or misrouted, and permissions granted per
 * subject must not let a publisher of one type inject another.
 *
 * @throws EventDecodeError (`FORGED_SUBJECT`), which the consumer dead-letters at once.
 */
export function checkSubject(subject: string, type: string, check: SubjectCheck, id: string): void {
  if (check === 'off') return;
  if (check === 'suffix') {
    if (subject.endsWith(`.${type}`) || subject === type) return;
    throw new EventDecodeError(
      'FORGED_SUBJECT',
      `the message ${id} on ${subject} claims ce-type ${JSON.stringify(type)}, which is not published on that subject (expected <prefix>.${type})`,
    );
  }
  let expected: string;
  try {
    expected = check(type);
  } catch (error) {
    throw new EventDecodeError('FORGED_SUBJECT', `the subject check threw for ${id} (ce-type ${JSON.stringify(type)}): ${String(error)}`, {
      cause: error,
    });
  }
  if (subject !== expected) {
    throw new EventDecodeError(
      'FORGED_SUBJECT',
      `the message ${id} on ${subject} claims ce-type ${JSON.stringify(type)}, which is published on ${expected}`,
    );
  }
}
