/** What replaces a secret in anything the relay prints. */
export const REDACTED = '***';

// scheme://user:password@ — the password ends at the last '@' before the host, so a password
// containing '@' or ':' is still covered. The scheme is bounded (64 characters): unbounded, every
// letter of a long run starts a scan to its end, quadratic on a 1 MB payload (measured: 12.7 s for
// 40,000 letters); a longer run before '://' still matches from a later letter, so nothing leaks.
const credentialPattern = /([a-z][a-z0-9+.-]{0,63}:\/\/)([^\s/?#@:'"\\]*):([^\s/?#'"\\]*)@/gi;

// nats://token@host: for the NATS schemes a user without a password is an auth token.
const natsTokenPattern = /((?:nats|tls|ws|wss):\/\/)([^\s/?#@:'"\\]+)@/gi;

// name=value in a query string or a key=value connection string. The name may be percent-encoded
// (`pass%77ord`); the value runs to the next separator.
const parameterPattern = /([?&;\s]|^)([A-Za-z0-9_.%+-]+)=([^&;\s#'"\\]*)/g;

/**
 * Query parameters that carry a secret, compared case-insensitively after percent-decoding: the
 * password pg and mysql2 read from the URL, libpq's `sslpassword` (the client key's passphrase),
 * `sslkey` (pg-connection-string reads a file path there, but some setups inline the PEM), and
 * the NATS and generic token names.
 */
// mysql2 parses a query value as JSON: `?ssl={"key":"-----BEGIN...","passphrase":"..."}`, raw or
// percent-encoded. The value ends at its closing brace, so a JSON log line around it stays intact.
const sslObjectPattern = /([?&]ssl=)(\{[^}]*\}|%7B.*?%7D)/gi;

const secretParameters = new Set([
  'password',
  'pass',
  'passwd',
  'pwd',
  'sslpassword',
  'sslkey',
  'passphrase',
  'token',
  'auth_token',
  'secret',
]);

function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    return name.toLowerCase();
  }
}

function isSecretParameter(name: string, value: string): boolean {
  const key = decodedName(name);
  if (secretParameters.has(key)) return true;
  // mysql2 parses a query value as JSON: `?ssl={"key":"-----BEGIN...","passphrase":"..."}`.
  if (key === 'ssl') {
    const text = decodedName(value);
    return text.includes('key') || text.includes('passphrase') || text.includes('pfx');
  }
  return false;
}

/**
 * Returns a URL with every secret it can carry replaced by `***`: the password of the userinfo
 * (`postgres://user:***@host/db`), a NATS token given as the userinfo (`nats://***@host`), and the
 * values of secret query parameters (`password`, `sslpassword`, `sslkey`, `token`, ... in any
 * case, percent-encoded or not). Text that does not parse as a URL is scrubbed the same way, so
 * it is safe on free text too.
 *
 * @example
 * ```ts
 * redactUrl('postgres://app:s3cret@db:5432/orders') // 'postgres://app:***@db:5432/orders'
 * redactUrl('mysql://app@db/shop?Password=s3cret') // 'mysql://app@db/shop?Password=***'
 * ```
 */
export function redactUrl(url: string): string {
  // Most text (a payload, a log line) has no '://': skip the two URL patterns then.
  const withScheme = url.includes('://');
  return (withScheme ? url.replace(credentialPattern, `$1$2:${REDACTED}@`).replace(natsTokenPattern, `$1${REDACTED}@`) : url)
    .replace(sslObjectPattern, (match: string, lead: string, value: string) =>
      isSecretParameter('ssl', value) ? `${lead}${REDACTED}` : match,
    )
    .replace(parameterPattern, (match: string, lead: string, name: string, value: string) =>
      value !== '' && value !== REDACTED && isSecretParameter(name, value) ? `${lead}${name}=${REDACTED}` : match,
    );
}

/**
 * Scrubs secrets from free text (an error message, a serialised log line): URL secrets, and
 * every given secret in its raw, percent-decoded and JSON-escaped spellings, since drivers echo
 * a connection string in any of those forms.
 */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = redactUrl(text);
  for (const form of secretForms(secrets)) {
    if (out.includes(form)) out = out.split(form).join(REDACTED);
  }
  return out;
}

/** Every spelling of the secrets worth searching for, longest first so a prefix never wins. */
export function secretForms(secrets: readonly string[]): string[] {
  const forms = new Set<string>();
  for (const secret of secrets) {
    // Very short values would blank out ordinary words; a one-character password is its own problem.
    if (secret.length < 3) continue;
    forms.add(secret);
    forms.add(JSON.stringify(secret).slice(1, -1));
    forms.add(encodeURIComponent(secret));
    forms.add(encodeURIComponent(secret).replace(/%20/g, '+'));
    try {
      forms.add(decodeURIComponent(secret));
    } catch {
      // Not percent-encoded: the raw form is enough.
    }
  }
  return [...forms].filter((form) => form.length >= 3).sort((a, b) => b.length - a.length);
}

/** The password of a URL (percent-decoded), when it has one: a secret to scrub from driver errors. */
export function urlPassword(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return parsed.password === '' ? undefined : safeDecode(parsed.password);
  } catch {
    const match = /:\/\/[^\s/?#@:]*:([^\s/?#]*)@/.exec(url);
    return match?.[1] || undefined;
  }
}

/**
 * Every secret a URL carries, percent-decoded: its password, a NATS token in the userinfo, and the
 * values of secret query parameters. The CLI scrubs each from anything a driver echoes back.
 */
export function urlSecrets(url: string): string[] {
  const found: string[] = [];
  const password = urlPassword(url);
  if (password) found.push(password);
  const token = /^(?:nats|tls|ws|wss):\/\/([^\s/?#@:]+)@/i.exec(url.trim());
  if (token?.[1]) found.push(safeDecode(token[1]));
  for (const match of url.matchAll(sslObjectPattern)) {
    const value = match[2] ?? '';
    if (isSecretParameter('ssl', value)) found.push(value, safeDecode(value));
  }
  for (const match of url.matchAll(parameterPattern)) {
    const [, , name = '', value = ''] = match;
    if (value !== '' && isSecretParameter(name, value)) {
      found.push(value, safeDecode(value.replace(/\+/g, ' ')));
    }
  }
  return [...new Set(found)];
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
