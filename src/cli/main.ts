#!/usr/bin/env node
import { runCli } from './run-cli.js';

const code = await runCli(process.argv.slice(2), { env: process.env, stdout: process.stdout, stderr: process.stderr });
// Output to a pipe is written asynchronously: exiting before it drains cuts a long render short.
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise<void>((resolve) => stream.write('', () => resolve()))));
// Exit explicitly: idle keep-alive sockets must not hold a stopped daemon open.
process.exit(code);
