import { accessSync, constants } from 'node:fs';
import { OutboxConfigError } from '@outboxkit/outbox-core';
import { validateIdentifier } from '@outboxkit/outbox-core/driver';
import { urlSecrets } from './redact.js';
import type { SettingSpec } from './settings.js';

/** Throws the configuration error of one setting, named as the user gave it. */
export function fail(setting: string, message: string): never {
  throw new OutboxConfigError(setting, message);
}

/**
 * The settings of one command, each from its flag, else its env var, else its default (in
 * settings.ts), with typed readers that validate the text and name the setting as the user gave it
 * in every error. Reading a setting the command does not list is a bug, not a configuration error:
 * each command reads exactly the settings its `--help` lists.
 */
export class SettingValues {
  readonly #settings: readonly SettingSpec[];
  readonly #values = new Map<SettingSpec, { readonly text: string; readonly source: string }>();

  constructor(settings: readonly SettingSpec[], flags: Readonly<Record<string, unknown>>, env: NodeJS.ProcessEnv) {
    this.#settings = settings;
    for (const setting of settings) {
      const fromFlag = flags[setting.flag];
      const fromEnv = setting.env === undefined ? undefined : env[setting.env];
      if (fromFlag !== undefined) this.#values.set(setting, { text: String(fromFlag), source: `--${setting.flag}` });
      else if (fromEnv !== undefined && fromEnv !== '') this.#values.set(setting, { text: fromEnv, source: setting.env as string });
      else if (setting.defaultValue !== undefined) {
        this.#values.set(setting, { text: setting.defaultValue, source: `the default of ${setting.env ?? `--${setting.flag}`}` });
      }
    }
  }

  /** The text of a setting: given, or its default; `undefined` when neither. */
  text(setting: SettingSpec): string | undefined {
    if (!this.#settings.includes(setting)) throw new Error(`--${setting.flag} is not a setting of this command`);
    return this.#values.get(setting)?.text;
  }

  /** The setting as the user gave it (`--flag`, `ENV_VAR` or the default), for error messages. */
  name(setting: SettingSpec): string {
    return this.#values.get(setting)?.source ?? (setting.env ? `${setting.env} (--${setting.flag})` : `--${setting.flag}`);
  }

  /** The text of a setting that has a default or is required (`hint` says what to set it to). */
  required(setting: SettingSpec, hint: string): string {
    const text = this.text(setting);
    if (text === undefined) fail(this.name(setting), `missing ${this.name(setting)}: ${hint}`);
    return text;
  }

  /** An integer within the setting's `range`. */
  integer(setting: SettingSpec): number {
    const text = this.required(setting, 'set it to an integer');
    const [min, max] = setting.range ?? [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];
    const value = /^-?\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      fail(this.name(setting), `invalid ${this.name(setting)}: must be an integer from ${min} to ${max}; got ${JSON.stringify(text)}`);
    }
    return value;
  }

  /** true, 1, yes, on / false, 0, no, off (any case); an unset switch is false. */
  boolean(setting: SettingSpec): boolean {
    const text = this.text(setting);
    if (text === undefined) return false;
    if (['true', '1', 'yes', 'on'].includes(text.toLowerCase())) return true;
    if (['false', '0', 'no', 'off'].includes(text.toLowerCase())) return false;
    return fail(this.name(setting), `invalid ${this.name(setting)}: must be true or false; got ${JSON.stringify(text)}`);
  }

  /** A SQL identifier (schema, table), as core validates it. */
  identifier(setting: SettingSpec): string {
    try {
      return validateIdentifier(this.text(setting), this.name(setting));
    } catch (error) {
      return fail(this.name(setting), `invalid ${(error as Error).message}`);
    }
  }

  /** The path of a file this process can read, or `undefined` when the setting is unset. */
  readableFile(setting: SettingSpec): string | undefined {
    const path = this.text(setting);
    if (path === undefined) return undefined;
    try {
      accessSync(path, constants.R_OK);
    } catch {
      fail(this.name(setting), `invalid ${this.name(setting)}: cannot read the file ${JSON.stringify(path)}`);
    }
    return path;
  }

  /** A value matching `pattern` (`what` says which), or `undefined` when unset. */
  matching(setting: SettingSpec, pattern: RegExp, what: string): string | undefined {
    const text = this.text(setting);
    if (text !== undefined && !pattern.test(text))
      fail(this.name(setting), `invalid ${this.name(setting)}: ${what}; got ${JSON.stringify(text)}`);
    return text;
  }

  /** Every secret the given settings hold (see `SettingSpec.secret`), to scrub from logs and errors. */
  secrets(): string[] {
    const found: string[] = [];
    for (const [setting, { text }] of this.#values) {
      if (setting.secret === 'value') found.push(text);
      else if (setting.secret === 'url') found.push(...urlSecrets(text));
      else if (setting.secret === 'url-list') found.push(...text.split(',').flatMap((url) => urlSecrets(url.trim())));
    }
    return found.filter((secret) => secret !== '');
  }
}

/** A stream name: letters, digits, `_` or `-`. */
export const streamName = /^[A-Za-z0-9_-]{1,255}$/;
/** A subject prefix: dot-separated tokens of letters, digits, `_` or `-`. */
export const subjectTokens = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
