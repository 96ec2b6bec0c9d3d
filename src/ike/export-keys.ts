// `tsvpn up --save-keys` (IkeSaConfig.exportKeys): the IKE SA's SK_e* and SK_a* (RFC 7296 §2.14)
// handed to the daemon as an `export-keys` effect, so that Wireshark can decrypt the IKE
// messages of a capture. Called where the keys are derived, before they go into the SK ciphers.
import type { IkeKeys } from '../crypto/kdf.js';
import type { NegotiatedAlgorithms } from '../crypto/proposal.js';
import type { IkeSaConfig } from './config.js';
import type { Effect } from './effects.js';

/** Copies of the SA's encryption and integrity keys when the configuration asks for them; none otherwise. */
export function exportKeys(cfg: IkeSaConfig, alg: NegotiatedAlgorithms, k: IkeKeys, spiI: Uint8Array, spiR: Uint8Array): Effect[] {
  if (!cfg.exportKeys) return [];
  return [
    {
      type: 'export-keys',
      keys: { spiI: spiI.slice(), spiR: spiR.slice(), encr: { ...alg.encr }, integ: alg.integ, skEi: k.skEi.slice(), skEr: k.skEr.slice(), skAi: k.skAi.slice(), skAr: k.skAr.slice() },
    },
  ];
}
