export { type CliStreams, main } from './cli.js';
export { type CommandName, type CommandSpec, commands } from './commands.js';
export {
  type DatabaseConfig,
  type DatabaseTlsConfig,
  type DatabaseTlsMode,
  type LogLevel,
  type NatsConfig,
  type NatsConnectionConfig,
  type ParsedCommandLine,
  parseCommandLine,
  type RelayCliConfig,
} from './config.js';
export { describeDatabaseTls, type MysqlSslOption, mysqlSslOption, pgSslOption } from './database-tls.js';
export type { DlqCliConfig } from './dlq-config.js';
export { type ExitStatus, exitStatusOf } from './exit-status.js';
export { commandHelp, ExitCode, generalHelp } from './help.js';
export { type HttpServerOptions, type ReadinessCheck, type RelayHttpServer, startHttpServer } from './http-server.js';
export { type CliLogger, createCliLogger } from './logger.js';
export { createRelayMetrics, type RelayMetrics, type RelayStateSource } from './metrics.js';
export { type ConnectWithRetryOptions, connectNats, connectNatsWithRetry, natsConnectionOptions } from './nats-connection.js';
export { REDACTED, redactText, redactUrl } from './redact.js';
export type { RawSettings, SettingSpec } from './settings.js';
export { type OpenedStore, type OpenStoreOptions, openStore } from './store-factory.js';
