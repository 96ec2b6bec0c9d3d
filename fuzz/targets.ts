// The fuzz targets by name (fuzz/README.md describes each), and their corpora.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FuzzTarget } from './target.js';
import { ikeMessage } from './targets/ike-message.js';
import { ikeSa } from './targets/ike-sa.js';
import { ikeEap } from './targets/ike-eap.js';
import { espInbound } from './targets/esp-inbound.js';
import { espBatch } from './targets/esp-batch.js';
import { certParsers } from './targets/cert-parsers.js';
import { peerConfig } from './targets/peer-config.js';

export const TARGETS: readonly FuzzTarget[] = [ikeMessage, ikeSa, ikeEap, espInbound, espBatch, certParsers, peerConfig];

export const CORPUS_DIR = join(import.meta.dirname, 'corpus');

/** fuzz/corpus/<target>/*, each file one input. */
export function loadCorpus(target: string): Uint8Array[] {
  const dir = join(CORPUS_DIR, target);
  return readdirSync(dir)
    .sort()
    .map((f) => new Uint8Array(readFileSync(join(dir, f))));
}
