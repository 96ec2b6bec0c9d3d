// `tsvpn up --metrics-file`: the textfile collector's file, written whole with mode 0644 and removed on stop.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startMetricsFile } from '../../src/daemon/metrics-file.js';
import type { Logger } from '../../src/daemon/log.js';
import { upStatus } from '../cli/fixtures.js';

let dir: string;
const warnings: string[] = [];
const log: Logger = { info: () => {}, debug: () => {}, error: () => {}, warn: (_a, m) => warnings.push(m) };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsvpn-mf-'));
  warnings.length = 0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('metrics textfile', () => {
  it('is written whole, world-readable, rewritten with the new numbers, and removed on stop', async () => {
    const path = join(dir, 'tsvpn.prom');
    const s = upStatus();
    const f = startMetricsFile(path, () => s, log, 60_000);
    await f.write();
    expect(readFileSync(path, 'utf8')).toContain('tsvpn_esp_in_bytes_total{tunnel="left",connection="left"} 1234');
    expect(statSync(path).mode & 0o777).toBe(0o644);
    s.ikeSas[0]!.children[0]!.bytesIn = 99999;
    await f.write();
    expect(readFileSync(path, 'utf8')).toContain('tsvpn_esp_in_bytes_total{tunnel="left",connection="left"} 99999');
    expect(readdirSync(dir)).toEqual(['tsvpn.prom']); // no temporary file left behind
    f.stop();
    expect(existsSync(path)).toBe(false);
  });

  it('says once why it cannot write, and carries on', async () => {
    const f = startMetricsFile(join(dir, 'missing', 'tsvpn.prom'), upStatus, log, 60_000);
    await f.write();
    await f.write();
    f.stop();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot write .*missing\/tsvpn\.prom: ENOENT/);
  });
});
