#!/usr/bin/env node
// tsvpn command line. The sources are TypeScript, run through tsx's ESM loader (a runtime
// dependency), so there is no build step. Resolves its files relative to itself, not to
// the working directory, so it works from anywhere and through `npx tsvpn`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2));
// stdout and stderr are synchronous for files, pipes and terminals on Linux: nothing is lost
process.exit(code);
