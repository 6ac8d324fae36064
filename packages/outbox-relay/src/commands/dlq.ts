import { type DeadLetter, type DeadLetterQuery, listDeadLetters, purgeDeadLetters, replayDeadLetters } from '@outboxkit/bus-nats';
import type { DlqChangeConfig, DlqConfig } from '../dlq-config.js';
import { ExitCode } from '../help.js';
import type { CliLogger } from '../logger.js';
import { connectNats } from '../nats-connection.js';
import { terminalJson, terminalSafe } from '../terminal-text.js';

/** What an operator is told after every replay: the order a handler will see. */
export const REPLAY_ORDER_NOTE =
  'note: a replay is stored after the newer events of its subject, so its consumer applies it after them; handlers that must not go back in time compare a version';

/**
 * `outbox-relay dlq list | show | replay | purge`: the consumers' dead-letter stream, through
 * bus-nats's `listDeadLetters`, `replayDeadLetters` and `purgeDeadLetters`, on a NATS connection
 * of its own that it closes.
 */
export async function dlqCommand(
  config: DlqConfig,
  logger: CliLogger,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const connection = await connectNats(config.nats);
  try {
    const query = queryOf(config);
    switch (config.command) {
      case 'dlq list': {
        const letters = await listDeadLetters(connection, query);
        out.write(config.json ? `${terminalJson(letters.map(toJson))}\n` : renderList(letters));
        return ExitCode.ok;
      }
      case 'dlq show': {
        const [letter] = await listDeadLetters(connection, query);
        if (!letter) {
          err.write(`outbox-relay: no dead letter at sequence ${config.sequences[0]} of ${config.stream}\n`);
          return ExitCode.failure;
        }
        out.write(config.json ? `${terminalJson(toJson(letter))}\n` : renderOne(letter));
        return ExitCode.ok;
      }
      case 'dlq replay': {
        const lines: string[] = [];
        let duplicates = 0;
        const count = await replayDeadLetters(connection, {
          ...query,
          onReplayed: (letter, result) => {
            if (result.duplicate) duplicates++;
            lines.push(
              terminalSafe(
                `replayed ${letter.sequence}  ${letter.messageId ?? '-'}  to ${letter.consumer}  on ${letter.originalSubject}${result.duplicate ? '  (already replayed: dropped as a duplicate)' : ''}`,
              ),
            );
          },
        });
        logger.info({ replayed: count, duplicates, stream: config.stream }, 'dead letters replayed');
        out.write(lines.map((line) => `${line}\n`).join(''));
        out.write(
          `replayed ${count} dead letter${count === 1 ? '' : 's'}${duplicates > 0 ? ` (${duplicates} already replayed before)` : ''}\n`,
        );
        if (count > 0) out.write(`${REPLAY_ORDER_NOTE}\n`);
        return missing(config, count, err);
      }
      case 'dlq purge': {
        const count = await purgeDeadLetters(connection, query);
        logger.info({ purged: count, stream: config.stream }, 'dead letters purged');
        out.write(`purged ${count} dead letter${count === 1 ? '' : 's'}\n`);
        return missing(config, count, err);
      }
    }
  } finally {
    await connection.close();
  }
}

/** The bus-nats query of a command: its stream, filters, limit and sequences. */
function queryOf(config: DlqConfig): DeadLetterQuery {
  const stream = { stream: config.stream, subjectPrefix: config.subjectPrefix };
  if (config.command === 'dlq show') return { ...stream, sequences: config.sequences, limit: 1 };
  return {
    ...stream,
    limit: config.limit,
    ...(config.consumer === undefined ? {} : { consumer: config.consumer }),
    ...(config.type === undefined ? {} : { type: config.type }),
    ...(config.subject === undefined ? {} : { subject: config.subject }),
    ...(config.code === undefined ? {} : { code: config.code }),
    ...(config.command !== 'dlq list' && config.sequences.length > 0 ? { sequences: config.sequences } : {}),
  };
}

/** Sequences given that matched nothing: reported, and a failure when none did. */
function missing(config: DlqChangeConfig, count: number, err: NodeJS.WritableStream): number {
  const given = config.sequences.length;
  if (given === 0 || count >= given) return ExitCode.ok;
  err.write(`outbox-relay: ${given - count} of the ${given} sequences given are not dead letters matching the filters\n`);
  return count === 0 ? ExitCode.failure : ExitCode.ok;
}

function toJson(letter: DeadLetter): Record<string, unknown> {
  let data: unknown = letter.data;
  try {
    data = JSON.parse(letter.data);
  } catch {
    // Kept as text: the body is shown as stored.
  }
  return { ...letter, data };
}

function renderList(letters: readonly DeadLetter[]): string {
  if (letters.length === 0) return 'no dead letters\n';
  const lines = letters.map((letter) =>
    terminalSafe(
      [
        `${letter.sequence}`,
        letter.deadAt ?? '-',
        `consumer=${letter.consumer ?? '-'}`,
        letter.code ?? '-',
        letter.type ?? '-',
        `subject=${letter.subject ?? '-'}`,
        letter.messageId ?? '-',
        (letter.error ?? '').slice(0, 120),
      ].join('  '),
    ),
  );
  return `${lines.join('\n')}\n`;
}

function renderOne(letter: DeadLetter): string {
  const lines = [
    `sequence:   ${letter.sequence}`,
    `id:         ${letter.messageId ?? '-'}`,
    `type:       ${letter.type ?? '-'}`,
    `subject:    ${letter.subject ?? '-'}`,
    `consumer:   ${letter.consumer ?? '-'}`,
    `code:       ${letter.code ?? '-'}`,
    `deliveries: ${letter.deliveryCount}`,
    `dead at:    ${letter.deadAt ?? '-'}`,
    `nats subject: ${letter.originalSubject ?? '-'}`,
    `error:      ${letter.error ?? ''}`,
    `headers:    ${JSON.stringify(letter.headers)}`,
    `data:       ${letter.data}`,
  ];
  return `${lines.map(terminalSafe).join('\n')}\n`;
}
