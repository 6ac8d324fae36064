import { describe, expect, it } from 'vitest';
import { redactText, redactUrl, urlPassword } from './redact.js';

describe('redactUrl', () => {
  it('replaces the password and keeps the rest', () => {
    expect(redactUrl('postgres://user:pw@host/db')).toBe('postgres://user:***@host/db');
    expect(redactUrl('mysql://root:p%40ss@h:3306/shop?ssl=true')).toBe('mysql://root:***@h:3306/shop?ssl=true');
    expect(redactUrl('postgres://user:p@ss:w@host/db')).toBe('postgres://user:***@host/db');
    expect(redactUrl('postgres://host:5432/db')).toBe('postgres://host:5432/db');
    expect(redactUrl('nats://a:b@n1:4222,nats://c:d@n2:4222')).toBe('nats://a:***@n1:4222,nats://c:***@n2:4222');
  });
});

describe('redactText', () => {
  it('scrubs URLs and known secrets in every spelling a driver may echo', () => {
    const text = 'connect to postgres://app:s3"cr@t@db/x failed: password "s3\\"cr@t" rejected, s3%22cr%40t';
    const out = redactText(text, ['s3"cr@t']);
    expect(out).not.toContain('s3');
    expect(out).toContain('postgres://app:***@db/x');
  });

  it('finds the password of a URL', () => {
    expect(urlPassword('postgres://u:p%40w@h/db')).toBe('p@w');
    expect(urlPassword('postgres://u@h/db')).toBeUndefined();
  });
});
