#!/usr/bin/env node
import { runCli } from './run-cli.js';

// Exit explicitly: idle keep-alive sockets must not hold a stopped daemon open.
process.exit(await runCli(process.argv.slice(2), { env: process.env, stdout: process.stdout, stderr: process.stderr }));
