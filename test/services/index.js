// Plain JavaScript on purpose: the benchmark workers, the fault suite's consumer worker and the
// benchmark scripts run under plain `node` (no TypeScript loader) and import this as it is; the
// types are in index.d.ts.
import { connect } from 'node:net';

export { freePort } from './free-port.js';
export { waitUntil } from './wait-until.js';

/**
 * The value of the env var `variable`, or `fallback` when it is unset or empty (an empty value
 * means "unset" everywhere, as in `OUTBOX_PG_URL= npm test`).
 * @param {string} variable
 * @param {string} fallback
 * @returns {string}
 */
export function setting(variable, fallback) {
  const value = process.env[variable];
  return value === undefined || value === '' ? fallback : value;
}

/** @type {readonly import('./index.js').Service[]} */
export const services = [
  { name: 'PostgreSQL', variable: 'OUTBOX_PG_URL', defaultUrl: 'postgres://postgres@127.0.0.1:5432/test' },
  { name: 'MySQL/MariaDB', variable: 'OUTBOX_MYSQL_URL', defaultUrl: 'mysql://root@127.0.0.1:3306/test' },
  { name: 'nats-server (JetStream)', variable: 'OUTBOX_NATS_URL', defaultUrl: 'nats://127.0.0.1:4222' },
];

/** @param {import('./index.js').Service['variable']} variable */
function serviceUrl(variable) {
  const service = services.find((candidate) => candidate.variable === variable);
  if (!service) throw new Error(`no service reads ${variable}`);
  return setting(variable, service.defaultUrl);
}

export const PG_URL = serviceUrl('OUTBOX_PG_URL');
export const MYSQL_URL = serviceUrl('OUTBOX_MYSQL_URL');
export const NATS_URL = serviceUrl('OUTBOX_NATS_URL');

export const NATS_SERVER_BIN = setting('OUTBOX_NATS_SERVER_BIN', '/usr/sbin/nats-server');
export const MARIADBD_BIN = setting('OUTBOX_MARIADBD_BIN', '/usr/sbin/mariadbd');
export const CHROMIUM = setting('OUTBOX_CHROMIUM', '/usr/bin/chromium');

/**
 * @param {string} url
 * @param {number} [timeoutMs]
 * @returns {Promise<boolean>}
 */
export function answers(url, timeoutMs = 1_000) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port), timeout: timeoutMs });
    /** @param {boolean} ok */
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}
export { OwnNatsServer } from './own-nats-server.js';
