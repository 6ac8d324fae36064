import os from 'node:os';
import { connect } from '@nats-io/transport-node';
import { MYSQL_URL, NATS_URL, PG_URL } from '@outboxkit/test-services';
import mysql from 'mysql2/promise';
import pg from 'pg';

/** Server addresses, from the same env vars and defaults the tests read. */
export { MYSQL_URL, NATS_URL, PG_URL };

/** The machine and the versions the figures were measured on; the servers are asked, not assumed. */
export interface Environment {
  readonly date: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGb: number;
  readonly os: string;
  readonly node: string;
  readonly postgres: string;
  readonly mariadb: string;
  readonly natsServer: string;
  readonly loadAtStart: readonly number[];
  loadAtEnd?: readonly number[];
}

export async function describeEnvironment(): Promise<Environment> {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 1 });
  const postgres = ((await pool.query('SHOW server_version')).rows[0] as { server_version: string }).server_version;
  await pool.end();
  const connection = await mysql.createConnection(MYSQL_URL);
  const [rows] = await connection.query('SELECT VERSION() AS version');
  const mariadb = (rows as { version: string }[])[0]?.version ?? 'unknown';
  await connection.end();
  const nc = await connect({ servers: NATS_URL });
  const natsServer = nc.info?.version ?? 'unknown';
  await nc.close();
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres,
    mariadb,
    natsServer,
    loadAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}
