import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.js';

const SECRET = 'hunter2-upstream-password';

describe('log redaction', () => {
  it('blanks passwords, credentials, tokens, authorization headers and env wherever the shapes appear', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
    logger.info({ password: SECRET }, 'top');
    logger.info({ spec: { credentials: { username: 'bot', password: SECRET } } }, 'nested credentials');
    logger.info({ registry: { upstream: 'x', password: SECRET } }, 'nested password');
    logger.info({ a: { b: { password: SECRET } } }, 'two deep');
    logger.info({ token: SECRET, admin: { token: SECRET } }, 'token');
    logger.info({ headers: { authorization: `Bearer ${SECRET}` } }, 'header');
    logger.info({ env: { DOCKERHUB_PASSWORD: SECRET } }, 'env');
    logger.child({ component: 'x' }).warn({ credentials: { password: SECRET } }, 'child');
    expect(lines).toHaveLength(8);
    for (const line of lines) expect(line).not.toContain(SECRET);
    expect(lines.join('')).toContain('[redacted]');
  });
});
