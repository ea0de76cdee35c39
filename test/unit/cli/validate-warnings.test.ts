// `regcache validate` on a valid config that serves hosts its TLS certificate does not cover: exit 0,
// with the coverage warning on stderr, as `run` would log it.
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/run-cli.js';

/** `*.registry.example.com` and `registry.example.com`. */
const WILDCARD = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'config', 'fixtures', 'wildcard-registry-example-com.pem');

function sink(): Writable & { text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  }) as Writable & { text: () => string };
  stream.text = () => chunks.join('');
  return stream;
}

describe('regcache validate prints config warnings', () => {
  let dir: string;
  const config = (style: string) =>
    `domain: registry.example.com\nhostStyle: ${style}\ndataDir: ./data\ntls: {cert: cert.pem, key: key.pem}\nregistries:\n  docker.io:\n    upstream: https://registry-1.docker.io\n`;
  const validate = async (file: string) => {
    const stdout = sink();
    const stderr = sink();
    const code = await runCli(['validate', '--config', path.join(dir, file)], { env: {}, stdout, stderr });
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'regcache-validate-'));
    await copyFile(WILDCARD, path.join(dir, 'cert.pem'));
    await writeFile(path.join(dir, 'key.pem'), '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n');
    await writeFile(path.join(dir, 'dotted.yaml'), config('dotted'));
    await writeFile(path.join(dir, 'dashed.yaml'), config('dashed'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('a host the certificate does not cover: ok, exit 0, and the warning naming it', async () => {
    const r = await validate('dotted.yaml');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${path.join(dir, 'dotted.yaml')}: ok (1 registries)\n`);
    expect(r.stderr).toBe(
      `warning: tls.cert: ${path.join(dir, 'cert.pem')} does not cover docker.io.registry.example.com; clients verifying TLS will refuse these hosts (a wildcard covers one label; hostStyle: dashed serves docker-io.<domain> instead of docker.io.<domain>)\n`,
    );
  });

  it('every host covered: no warning', async () => {
    const r = await validate('dashed.yaml');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
  });
});
