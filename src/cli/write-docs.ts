// `npx tsx src/cli/write-docs.ts`: writes the man page and the shell completions that
// usage-docs.ts renders from usage.ts into the repository. Run it after changing usage.ts;
// test/cli/generated-docs.test.ts says when it is due.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { version } from './main.js';
import { generatedFiles } from './usage-docs.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
for (const f of generatedFiles(version())) {
  const path = root + f.path;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, f.text);
  process.stdout.write(`wrote ${f.path}\n`);
}
