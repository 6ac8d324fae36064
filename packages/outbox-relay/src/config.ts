import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { OutboxConfigError } from '@outboxkit/outbox-core';
import type { CliConfig } from './cli-config.js';
import { type CommandSpec, commands, findCommand } from './commands.js';
import { commandHelp, generalHelp } from './help.js';
import { redactUrl } from './redact.js';
import { SettingValues } from './setting-values.js';

/** What the command line asks for: help or version text to print, or a command to run. */
export type ParsedCommandLine =
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'version'; readonly text: string }
  | { readonly kind: 'command'; readonly config: CliConfig };

/**
 * Reads the command line and the environment (flag, then env var, then the default in
 * settings.ts) and validates every setting the command reads before anything is opened.
 *
 * @throws OutboxConfigError with a one-line message naming the setting and the bad value (passwords redacted).
 */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedCommandLine {
  if (argv[0] === '--version' || argv[0] === '-V' || argv[0] === 'version') {
    return { kind: 'version', text: `outbox-relay ${packageVersion()}\n` };
  }
  const { spec, rest } = pickCommand(argv);
  if (!spec) return { kind: 'help', text: generalHelp() };

  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const setting of spec.settings) options[setting.flag] = { type: setting.type };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...rest], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new OutboxConfigError('arguments', `${spec.name}: ${redactUrl((error as Error).message)} (see outbox-relay ${spec.name} --help)`);
  }
  if (parsed.values.help) return { kind: 'help', text: commandHelp(spec) };
  return { kind: 'command', config: spec.read(new SettingValues(spec.settings, parsed.values, env), parsed.positionals) };
}

/** The version in this package's package.json (`../package.json` from both `src/` and `dist/`). */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

/** The commands that take a subcommand (`dead list`, `dlq replay`, `inbox skip`). */
const groups: readonly string[] = ['dead', 'dlq', 'inbox'];

function pickCommand(argv: readonly string[]): { spec: CommandSpec | undefined; rest: readonly string[] } {
  const [first, second, ...others] = argv;
  if (first === undefined || first.startsWith('-')) {
    if (first === '--help' || first === '-h') return { spec: undefined, rest: [] };
    return { spec: findCommand('run'), rest: argv };
  }
  if (first === 'help') {
    const group = second !== undefined && groups.includes(second);
    const target = group
      ? findCommand(`${second} ${others[0] ?? (second === 'inbox' ? 'positions' : 'list')}`)
      : second
        ? findCommand(second)
        : undefined;
    return target ? { spec: target, rest: ['--help'] } : { spec: undefined, rest: [] };
  }
  if (groups.includes(first)) {
    if (second === undefined || second === '--help' || second === '-h') return { spec: undefined, rest: [] };
    const spec = findCommand(`${first} ${second}`);
    if (!spec) {
      const names = commands.filter((command) => command.name.startsWith(`${first} `)).map((command) => command.name);
      throw new OutboxConfigError('command', `unknown command "${first} ${second}"; expected ${names.join(', ')}`);
    }
    return { spec, rest: others };
  }
  const spec = findCommand(first);
  if (!spec) {
    const names = commands.map((command) => command.name.split(' ')[0]).filter((n, i, all) => all.indexOf(n) === i);
    throw new OutboxConfigError('command', `unknown command "${first}"; expected one of ${names.join(', ')} (see outbox-relay --help)`);
  }
  return { spec, rest: [second, ...others].filter((arg): arg is string => arg !== undefined) };
}
