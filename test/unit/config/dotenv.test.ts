import { describe, expect, it } from 'vitest';
import { parseDotenv } from '../../../src/config/dotenv.js';
import { expandEnv } from '../../../src/config/expand-env.js';

describe('parseDotenv', () => {
  it('reads KEY=value lines with quotes, export and comments', () => {
    expect(parseDotenv('# c\nA=1\nexport B="two words"\nC=\'x#y\'\nD=plain # trailing\n\nbad line\n')).toEqual({
      A: '1',
      B: 'two words',
      C: 'x#y',
      D: 'plain',
    });
  });
});

describe('expandEnv', () => {
  it('treats $$ as a literal dollar and leaves non-strings alone', () => {
    const r = expandEnv({ a: 'p$$w${X}', n: 5, list: ['${X:-d}'] }, { X: 'x' });
    expect(r).toEqual({ value: { a: 'p$wx', n: 5, list: ['x'] }, problems: [] });
  });
  it('uses the default when the variable is empty', () => {
    expect(expandEnv('${X:-fallback}', { X: '' }).value).toBe('fallback');
  });
});
