export { assertInTransaction } from './assert-in-transaction.js';
export { INBOX_SCHEMA_VERSION } from './migrations/inbox-migrations.js';
export { OUTBOX_SCHEMA_VERSION } from './migrations/outbox-migrations.js';
export { mysqlExecutor, mysqlTransactions } from './mysql-executor.js';
export { MysqlInboxStore, type MysqlInboxStoreOptions, type MysqlInboxStoreSettings } from './mysql-inbox-store.js';
export type { MysqlConnectionLike, MysqlPoolLike } from './mysql-like.js';
export { MysqlOutboxStore, type MysqlOutboxStoreOptions } from './mysql-outbox-store.js';
export { transaction } from './transaction.js';
export { translateMysqlError } from './translate-mysql-error.js';
