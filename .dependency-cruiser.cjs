// The import rules of DESIGN.md ("Layers"), checked over src by `npm run lint:deps`.
// Every rule is severity error: one violation makes the run exit non-zero.
// What dependency-cruiser cannot see (ike and ipsec never read the clock) is
// test/layers.test.ts.

/** Node's I/O modules that ike and ipsec must never import (DESIGN.md: "no node: I/O module"). */
const NODE_IO = '^(node:)?(dgram|fs|fs/promises|net|child_process)$';

/** Only these (besides the layer's own files) may be imported from `layer`. */
const only = (name, layer, allowed, comment) => ({
  name,
  comment,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { pathNot: allowed },
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No module depends on itself through others at run time: every such cycle is a layer (or a file) that should be split.',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only', 'type-import'] } },
    },
    {
      name: 'no-circular-types',
      comment:
        'No cycle at all, not even one closed only by `import type` or `import(...)` types: such a cycle runs fine but still ties files together (split the file or move the shared type out).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import resolves to a file or a package; an unresolved one could hide a crossing from the rules below.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    only(
      'wire-only-wire',
      'wire',
      ['^src/wire/'],
      'wire (bytes <-> typed records) imports only wire: no crypto, no I/O, no node: module, no package.',
    ),
    only(
      'crypto-only-wire-crypto',
      'crypto',
      ['^src/(wire|crypto)/', '^node_modules/@noble/', '^(node:)?crypto$'],
      'crypto imports only wire and crypto, plus @noble/* and node:crypto. Backends with I/O (the native addon) are implemented in io and passed in.',
    ),
    only(
      'ike-only-wire-crypto-ike',
      'ike',
      ['^src/(wire|crypto|ike)/', '^node_modules/@noble/', '^(node:)?crypto$'],
      'ike (the state machine) imports only wire, crypto and ike, plus @noble/* and node:crypto. Not src/config: config builds ike\'s IkeSaConfig from peer.json and passes it in (config imports ike, never the reverse).',
    ),
    only(
      'ipsec-only-wire-crypto-ipsec',
      'ipsec',
      ['^src/(wire|crypto|ipsec)/', '^(node:)?crypto$'],
      'ipsec (ESP datapath, SAD, SPD) imports only wire, crypto and ipsec, plus node:crypto: it knows nothing about IKE, I/O or the daemon.',
    ),
    {
      name: 'ike-ipsec-no-node-io',
      comment: 'ike and ipsec never import node:dgram, node:fs, node:net or node:child_process: the daemon feeds them and applies what they return.',
      severity: 'error',
      from: { path: '^src/(ike|ipsec)/' },
      to: { path: NODE_IO },
    },
    {
      name: 'io-only-wire-io-node',
      comment: 'io imports only wire, io and node: built-ins. The one crossing: the types of crypto/aead-types.ts, the in-place AEAD interface io implements with the addon.',
      severity: 'error',
      from: { path: '^src/io/' },
      to: { pathNot: ['^src/(wire|io)/', '^src/crypto/aead-types\\.ts$'], dependencyTypesNot: ['core'] },
    },
    {
      name: 'io-crypto-types-only',
      comment: 'io imports crypto/aead-types.ts with `import type` only: no crypto code runs in io.',
      severity: 'error',
      from: { path: '^src/io/' },
      to: { path: '^src/crypto/aead-types\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'config-not-above-ike',
      comment: 'config (peer.json loading and checking) may import wire, crypto and ike (it builds their configuration) and node:, never ipsec, io, daemon or cli.',
      severity: 'error',
      from: { path: '^src/config/' },
      to: { path: '^src/(ipsec|io|daemon|cli)/' },
    },
    {
      name: 'daemon-not-cli',
      comment: 'daemon (glue: reads io, feeds ike and ipsec, applies effects) never imports cli.',
      severity: 'error',
      from: { path: '^src/daemon/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'nothing-imports-cli',
      comment: 'cli is the top: nothing below it (every src directory but cli) imports cli.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // a git worktree's node_modules is a symlink to the main checkout's: keep the path as
    // imported (node_modules/...), or the package rules above would not recognise it
    preserveSymlinks: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // see `import type` too (a type-only crossing is still a crossing, except where a rule says)
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types'],
    },
  },
};
