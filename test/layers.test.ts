// DESIGN.md "Layers": ike and ipsec never read the clock themselves; the daemon passes `now`
// in. dependency-cruiser (.dependency-cruiser.cjs, `npm run lint:deps`) checks imports but
// cannot see a call to Date.now, so this reads the sources and names file and line.
//
// `new Date(x)` converts a time it was given (a certificate's validity, cfg.wallClock()) and
// is allowed; `new Date()` with no argument reads the clock and is not.
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

const CLOCK_READS: [RegExp, string][] = [
  [/\bDate\.now\b/, 'Date.now'],
  [/(?<![.\w])(new\s+)?Date\s*\(\s*\)/, 'new Date()'],
  [/\bperformance\s*\.\s*(now|timeOrigin)\b/, 'performance.now'],
  [/\bprocess\s*\.\s*(hrtime|uptime)\b/, 'process.hrtime'],
  [/\b(setTimeout|setInterval|setImmediate)\b/, 'a timer'],
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The code of a line without its `//` comment (a block comment line starting with * is dropped). */
const code = (line: string): string => (/^\s*(\*|\/\*)/.test(line) ? '' : line.replace(/\/\/.*$/, ''));

describe('ike and ipsec never read the clock themselves (DESIGN.md, Layers)', () => {
  for (const layer of ['ike', 'ipsec']) {
    it(`src/${layer}: no Date.now, new Date(), performance.now, process.hrtime or timers`, () => {
      const files = sources(join(root, 'src', layer));
      expect(files.length).toBeGreaterThan(0);
      const found: string[] = [];
      for (const file of files) {
        readFileSync(file, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            for (const [re, what] of CLOCK_READS) {
              if (re.test(code(line))) found.push(`${relative(root, file)}:${i + 1}: ${what}: ${line.trim()}`);
            }
          });
      }
      expect(found, 'take `now` (or a wallClock function) from the caller instead').toEqual([]);
    });
  }

  it('the scan itself sees each clock read it forbids, and passes the conversions it allows', () => {
    const hits = (line: string) => CLOCK_READS.filter(([re]) => re.test(code(line))).map(([, w]) => w);
    expect(hits('const t = Date.now();')).toEqual(['Date.now']);
    expect(hits('const d = new Date();')).toEqual(['new Date()']);
    expect(hits('const s = Date();')).toEqual(['new Date()']);
    expect(hits('const p = performance.now();')).toEqual(['performance.now']);
    expect(hits('const h = process.hrtime.bigint();')).toEqual(['process.hrtime']);
    expect(hits('setTimeout(() => {}, 5);')).toEqual(['a timer']);
    expect(hits('const from = new Date(c.x.validFrom);')).toEqual([]);
    expect(hits('const now = cfg.now; // not Date.now')).toEqual([]);
  });
});
