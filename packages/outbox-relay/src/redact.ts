/** What replaces a secret in anything the relay prints. */
export const REDACTED = '***';

// scheme://user:password@ — the password ends at the last '@' before the host, so a password
// containing '@' or ':' is still covered.
const credentialPattern = /([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@:'"]*):([^\s/?#'"]*)@/gi;

/**
 * Returns a URL with its password replaced by `***` (`postgres://user:***@host/db`). A value that
 * does not parse as a URL is still scrubbed of anything that looks like `user:password@`.
 *
 * @example
 * ```ts
 * redactUrl('postgres://app:s3cret@db:5432/orders') // 'postgres://app:***@db:5432/orders'
 * ```
 */
export function redactUrl(url: string): string {
  return url.replace(credentialPattern, `$1$2:${REDACTED}@`);
}

/**
 * Scrubs secrets from free text (an error message, a serialised log line): URL passwords, and
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
    return parsed.password === '' ? undefined : decodeURIComponent(parsed.password);
  } catch {
    const match = /:\/\/[^\s/?#@:]*:([^\s/?#]*)@/.exec(url);
    return match?.[1] || undefined;
  }
}
