export { INBOX_SCHEMA_VERSION } from './migrations/inbox-migrations.js';
export { OUTBOX_SCHEMA_VERSION } from './migrations/outbox-migrations.js';
export { pgExecutor, pgTransactions } from './pg-executor.js';
export { PgInboxStore, type PgInboxStoreOptions, type PgInboxStoreSettings } from './pg-inbox-store.js';
export { isPoolLike, type PgClientLike, type PgPoolLike, type PgQueryResultLike } from './pg-like.js';
export { PgOutboxStore, type PgOutboxStoreOptions } from './pg-outbox-store.js';
export { transaction } from './transaction.js';
export { type TranslateContext, translatePgError } from './translate-pg-error.js';
export type { PgListenClientLike } from './wakeup-listener.js';
