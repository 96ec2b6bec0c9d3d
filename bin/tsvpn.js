#!/usr/bin/env node
// tsvpn command line. The sources are TypeScript, run through tsx's ESM loader (a runtime
// dependency), so there is no build step. Resolves its files relative to itself, not to
// the working directory, so it works from anywhere and through `npx tsvpn`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2));
// stdout and stderr are synchronous for files and terminals, but not when they are a socket
// (a pipe from another Node program, systemd's journal stream): wait until what was written
// has left (a write's callback runs once it and everything before it did, or failed), then exit
const flushed = (s) => new Promise((resolve) => s.write('', () => resolve()));
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit(code);
