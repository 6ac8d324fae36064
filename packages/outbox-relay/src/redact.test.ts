import { describe, expect, it } from 'vitest';
import { redactText, redactUrl, urlPassword, urlSecrets } from './redact.js';

describe('redactUrl', () => {
  it('replaces the password and keeps the rest', () => {
    expect(redactUrl('postgres://user:pw@host/db')).toBe('postgres://user:***@host/db');
    expect(redactUrl('mysql://root:p%40ss@h:3306/shop?ssl=true')).toBe('mysql://root:***@h:3306/shop?ssl=true');
    expect(redactUrl('postgres://user:p@ss:w@host/db')).toBe('postgres://user:***@host/db');
    expect(redactUrl('postgres://host:5432/db')).toBe('postgres://host:5432/db');
    expect(redactUrl('nats://a:b@n1:4222,nats://c:d@n2:4222')).toBe('nats://a:***@n1:4222,nats://c:***@n2:4222');
  });

  // Every form a URL can carry a password in; none of them may survive.
  it.each([
    ['pg userinfo', 'postgres://app:hunter22@db:5432/orders', 'postgres://app:***@db:5432/orders'],
    ['postgresql userinfo, percent-encoded', 'postgresql://app:hun%74er22@db/orders', 'postgresql://app:***@db/orders'],
    ['pg ?password=', 'postgres://app@db/orders?password=hunter22', 'postgres://app@db/orders?password=***'],
    [
      'pg &PassWord= (any case)',
      'postgres://app@db/orders?sslmode=require&PassWord=hunter22',
      'postgres://app@db/orders?sslmode=require&PassWord=***',
    ],
    ['pg percent-encoded parameter name', 'postgres://app@db/orders?pass%77ord=hunter22', 'postgres://app@db/orders?pass%77ord=***'],
    ['pg percent-encoded value', 'postgres://app@db/orders?password=hun%74er22', 'postgres://app@db/orders?password=***'],
    [
      'pg sslpassword',
      'postgres://app@db/orders?sslpassword=hunter22&sslmode=verify-full',
      'postgres://app@db/orders?sslpassword=***&sslmode=verify-full',
    ],
    ['pg sslkey', 'postgres://app@db/orders?sslkey=hunter22', 'postgres://app@db/orders?sslkey=***'],
    ['mysql userinfo', 'mysql://root:hunter22@db:3306/shop', 'mysql://root:***@db:3306/shop'],
    ['mysql ?password=', 'mysql://root@db:3306/shop?password=hunter22', 'mysql://root@db:3306/shop?password=***'],
    ['mysql ?ssl={"key":...}', 'mysql://root@db/shop?ssl={"key":"hunter22"}', 'mysql://root@db/shop?ssl=***'],
    ['nats user:pass', 'nats://relay:hunter22@nats:4222', 'nats://relay:***@nats:4222'],
    ['nats token', 'nats://hunter22@nats:4222', 'nats://***@nats:4222'],
    ['tls token', 'tls://hunter22@nats:4222', 'tls://***@nats:4222'],
    ['libpq key=value string', 'host=db user=app password=hunter22 dbname=orders', 'host=db user=app password=*** dbname=orders'],
  ])('%s', (_form, url, expected) => {
    expect(redactUrl(url)).toBe(expected);
    expect(redactUrl(url)).not.toMatch(/hunter22|hun%74er22/);
    // The secret is found too, so a driver's echo of it is scrubbed.
    expect(urlSecrets(url)).toContain(url.includes('{') ? '{"key":"hunter22"}' : 'hunter22');
  });

  it('keeps ordinary parameters and user names', () => {
    const url = 'postgres://app@db/orders?sslmode=verify-full&application_name=x&ssl=true';
    expect(redactUrl(url)).toBe(url);
    expect(urlSecrets(url)).toEqual([]);
    expect(redactUrl('postgres://app@db/orders')).toBe('postgres://app@db/orders');
  });
});

describe('redactText', () => {
  it('scrubs URLs and known secrets in every spelling a driver may echo', () => {
    const text = 'connect to postgres://app:s3"cr@t@db/x failed: password "s3\\"cr@t" rejected, s3%22cr%40t';
    const out = redactText(text, ['s3"cr@t']);
    expect(out).not.toContain('s3');
    expect(out).toContain('postgres://app:***@db/x');
  });

  it('scrubs a secret inside a serialised JSON log line', () => {
    const line = JSON.stringify({ database: 'postgres://app@db/x?password=hunter22', err: { message: "ENOENT: open 'hunter22'" } });
    const out = redactText(line, urlSecrets('postgres://app@db/x?password=hunter22'));
    expect(out).not.toContain('hunter22');
    expect(JSON.parse(out).database).toBe('postgres://app@db/x?password=***');
  });

  it('finds the password of a URL', () => {
    expect(urlPassword('postgres://u:p%40w@h/db')).toBe('p@w');
    expect(urlPassword('postgres://u@h/db')).toBeUndefined();
  });
});

describe('redaction of large text', () => {
  it('stays linear on a megabyte of letters with a URL in it (a payload the console shows)', () => {
    const text = `${'x'.repeat(1_048_576)} postgres://app:s3cret@db/x ${'y'.repeat(100_000)}`;
    const started = performance.now();
    const out = redactUrl(text);
    // Quadratic before the scheme was bounded: 12.7 s for 40,000 letters (measured).
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(out).toContain('postgres://app:***@db/x');
    expect(redactUrl(`${'a'.repeat(100)}postgres://app:s3cret@db`)).not.toContain('s3cret');
  });
});
