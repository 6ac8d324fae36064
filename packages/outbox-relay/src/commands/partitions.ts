import { readPartitionOwners } from '@outboxkit/bus-nats';
import { ExitCode } from '../help.js';
import { connectNats } from '../nats-connection.js';
import type { PartitionsConfig } from '../partitions-config.js';
import { terminalJson, terminalSafe } from '../terminal-text.js';

/**
 * `outbox-relay partitions`: which instance of a partitioned consumer owns which partition, read
 * from its lease bucket (bus-nats `readPartitionOwners`) on a NATS connection of its own.
 */
export async function partitionsCommand(config: PartitionsConfig, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const connection = await connectNats(config.nats);
  try {
    const owners = await readPartitionOwners(connection, { stream: config.stream, consumer: config.consumer });
    if (owners === null) {
      const line = `outbox-relay: no lease bucket for consumer ${config.consumer} on stream ${config.stream}: no PartitionedSubscriber of it has started`;
      err.write(`${terminalSafe(line)}\n`);
      return ExitCode.failure;
    }
    if (config.json) {
      out.write(`${terminalJson(owners)}\n`);
      return ExitCode.ok;
    }
    const lines = [
      `consumer ${config.consumer} on ${config.stream}: ${owners.members.length} instance(s), ${owners.partitions.length} partition(s) leased`,
    ];
    for (const member of owners.members) {
      const owned = owners.partitions.filter((entry) => entry.instance === member.instance).map((entry) => entry.partition);
      lines.push(`${member.instance}  renewed ${member.renewedAt}  partitions ${owned.length > 0 ? owned.join(' ') : '-'}`);
    }
    const orphans = owners.partitions.filter((entry) => !owners.members.some((member) => member.instance === entry.instance));
    for (const entry of orphans)
      lines.push(`partition ${entry.partition}  leased by ${entry.instance} (not a member now: its lease lapses)`);
    out.write(lines.map((line) => `${terminalSafe(line)}\n`).join(''));
    return ExitCode.ok;
  } finally {
    await connection.close();
  }
}
