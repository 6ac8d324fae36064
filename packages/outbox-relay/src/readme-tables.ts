import {
  consoleSettings,
  databaseSettings,
  dlqSettings,
  inboxSettings,
  invocationSettings,
  logLevelSetting,
  natsSettings,
  partitionSettings,
  rangeText,
  relaySettings,
  type SettingSpec,
  streamSettings,
} from './settings.js';

/**
 * The README's configuration tables, by the name of their marker (`<!-- settings:NAME -->`): each
 * is generated from settings.ts, so a flag, env var or default cannot differ between `--help`,
 * the parser and the README.
 */
export const readmeTables: Readonly<Record<string, readonly SettingSpec[]>> = {
  relay: [
    invocationSettings.once,
    ...Object.values(databaseSettings),
    logLevelSetting,
    ...Object.values(natsSettings),
    ...Object.values(streamSettings),
    ...Object.values(relaySettings),
    invocationSettings.json,
    invocationSettings.limit,
    invocationSettings.after,
    invocationSettings.all,
  ],
  dlq: Object.values(dlqSettings),
  inbox: Object.values(inboxSettings),
  partitions: Object.values(partitionSettings),
  console: Object.values(consoleSettings),
};

/** One Markdown table: flag, env var, default, meaning; columns padded as a formatter would. */
export function markdownTable(settings: readonly SettingSpec[]): string {
  const rows = settings.map((setting) => [
    `\`--${setting.flag}${setting.type === 'string' ? ' <value>' : ''}\``,
    setting.env ? `\`${setting.env}\`` : '-',
    setting.defaultValue === undefined ? '-' : `\`${setting.defaultValue}\``,
    rangeText(setting) ? `${setting.description} Integer, ${rangeText(setting)}.` : setting.description,
  ]);
  const header = ['flag', 'env var', 'default', 'meaning'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] as string).length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column] as number)).join(' | ')} |`;
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

/**
 * The README with every generated table replaced by its current text.
 * @throws Error when a marker or its end (`<!-- /settings -->`) is missing.
 */
export function withReadmeTables(readme: string): string {
  let text = readme;
  for (const [name, settings] of Object.entries(readmeTables)) {
    const start = `<!-- settings:${name} (generated from src/settings.ts: npm run readme -w @outboxkit/outbox-relay) -->`;
    const end = '<!-- /settings -->';
    const from = text.indexOf(start);
    const to = text.indexOf(end, from);
    if (from < 0 || to < 0) throw new Error(`README.md: no "${start}" ... "${end}" section`);
    text = `${text.slice(0, from + start.length)}\n\n${markdownTable(settings)}\n\n${text.slice(to)}`;
  }
  return text;
}
