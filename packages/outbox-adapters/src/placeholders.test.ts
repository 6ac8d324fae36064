import { describe, expect, it } from 'vitest';
import { splitPlaceholders } from './placeholders.js';

describe('splitPlaceholders', () => {
  it('cuts a PostgreSQL statement at $n, in order of appearance, repeats and gaps included', () => {
    expect(splitPlaceholders('SELECT $2, $1 WHERE a = $2 AND b = $10', 'postgres')).toEqual({
      texts: ['SELECT ', ', ', ' WHERE a = ', ' AND b = ', ''],
      indexes: [1, 0, 1, 9],
    });
  });

  it('leaves $n alone inside string literals, quoted identifiers, comments and names', () => {
    const sql = `SELECT '$1', "col$2", a$3 -- $4\n/* $5 */ , $1, 'it''s $2'`;
    expect(splitPlaceholders(sql, 'postgres')).toEqual({
      texts: [`SELECT '$1', "col$2", a$3 -- $4\n/* $5 */ , `, `, 'it''s $2'`],
      indexes: [0],
    });
  });

  it('cuts a MySQL statement at each ?, skipping literals, backquoted names and backslash escapes', () => {
    expect(splitPlaceholders("INSERT INTO `a?` VALUES (?, '?', 'x\\'?', ?)", 'mysql')).toEqual({
      texts: ['INSERT INTO `a?` VALUES (', ", '?', 'x\\'?', ", ')'],
      indexes: [0, 1],
    });
  });
});
