import { connect } from 'node:net';

/** A server the tests need, where it is by default, and the variable that overrides it. */
export interface Service {
  readonly name: string;
  readonly variable: 'OUTBOX_PG_URL' | 'OUTBOX_MYSQL_URL' | 'OUTBOX_NATS_URL';
  readonly defaultUrl: string;
}

export const services: readonly Service[] = [
  { name: 'PostgreSQL', variable: 'OUTBOX_PG_URL', defaultUrl: 'postgres://postgres@127.0.0.1:5432/test' },
  { name: 'MySQL/MariaDB', variable: 'OUTBOX_MYSQL_URL', defaultUrl: 'mysql://root@127.0.0.1:3306/test' },
  { name: 'nats-server (JetStream)', variable: 'OUTBOX_NATS_URL', defaultUrl: 'nats://127.0.0.1:4222' },
];

/** True when something accepts a TCP connection at the URL's host and port within `timeoutMs`. */
export function answers(url: string, timeoutMs = 1_000): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port), timeout: timeoutMs });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}
