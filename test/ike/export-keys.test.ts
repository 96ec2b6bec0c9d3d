// IkeSaConfig.exportKeys (`tsvpn up --save-keys`): each IKE SA hands out SK_e* and SK_a* (RFC
// 7296 §2.14) as an `export-keys` effect when it derives them, in IKE_SA_INIT and again for an
// IKE SA rekey (§2.18), and never without the flag.
import { describe, expect, it } from 'vitest';
import { createSkCipher } from '../../src/crypto/sk.js';
import type { Effect, ExportedIkeKeys } from '../../src/ike/effects.js';
import type { IkeSa } from '../../src/ike/ike-sa.js';
import { PayloadType } from '../../src/wire/constants.js';
import type { SideOptions } from './helpers/pair.js';
import { Lab, type Side } from './rekey-harness.js';

const moon: SideOptions = { id: 'moon.example', remoteId: 'sun.example', seed: 71 };
const sun: SideOptions = { id: 'sun.example', remoteId: 'moon.example', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 72 };
const exported = (fx: Effect[]): ExportedIkeKeys[] => fx.flatMap((e) => (e.type === 'export-keys' ? [e.keys] : []));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const spis = (sa: IkeSa): string => `${hex(sa.spiI)}/${hex(sa.spiR)}`;

describe('export-keys: the IKE SA keys for Wireshark, only when asked', () => {
  it('without exportKeys no effect carries a key', () => {
    const lab = new Lab(moon, sun);
    lab.establish();
    lab.cmd('a', (sa) => sa.rekeyIke(lab.now));
    lab.flush();
    for (const s of ['a', 'b'] as const) expect(exported(lab.fx[s])).toEqual([]);
  });

  it('§2.14: both ends export the same SK_e*/SK_a* under the SA\'s SPIs, and SK_ei opens the IKE_AUTH request', () => {
    const lab = new Lab(moon, sun, (cfg) => (cfg.exportKeys = true));
    lab.establish();
    const [a, b] = [exported(lab.fx.a), exported(lab.fx.b)];
    expect(a).toHaveLength(1);
    expect(b).toHaveLength(1);
    const k = a[0]!;
    expect(`${hex(k.spiI)}/${hex(k.spiR)}`).toBe(spis(lab.ike('a')));
    expect({ ...b[0]! }).toEqual({ ...k });
    // aes256gcm16: 32 octets of key and 4 of salt (RFC 5282 §7.1), no integrity keys (RFC 5282 §8)
    expect(k.encr).toEqual({ id: 20, keyLength: 256 });
    expect([k.skEi.length, k.skEr.length, k.skAi.length, k.skAr.length, k.integ]).toEqual([36, 36, 0, 0, 0]);
    expect(hex(k.skEi)).not.toBe(hex(k.skEr));
    // the IKE_AUTH request (a's second datagram): header (28) and SK header (4) are the AAD
    const auth = lab.fx.a.flatMap((e) => (e.type === 'send' ? [e.bytes] : []))[1]!;
    expect(auth[16]).toBe(PayloadType.SK);
    expect(auth[28]).toBe(PayloadType.IDi); // the SK header names IDi as the first payload inside
    const inner = createSkCipher(k.encr, k.integ, k.skEi, k.skAi).open(auth.subarray(0, 32), auth.subarray(32)); // throws on a wrong key
    expect(Buffer.from(inner).includes('moon.example')).toBe(true); // IDi, readable now
  });

  for (const by of ['a', 'b'] as Side[]) {
    it(`§2.18: an IKE SA rekey by the original ${by === 'a' ? 'initiator' : 'responder'} exports the new SA's keys under its new SPIs on both ends`, () => {
      const lab = new Lab(moon, sun, (cfg) => (cfg.exportKeys = true));
      lab.establish();
      lab.cmd(by, (sa) => sa.rekeyIke(lab.now));
      lab.flush();
      const [a, b] = [exported(lab.fx.a), exported(lab.fx.b)];
      expect(a).toHaveLength(2);
      expect(b).toHaveLength(2);
      expect(`${hex(a[1]!.spiI)}/${hex(a[1]!.spiR)}`).toBe(spis(lab.ike('a')));
      expect({ ...b[1]! }).toEqual({ ...a[1]! });
      expect(hex(a[1]!.skEi)).not.toBe(hex(a[0]!.skEi));
    });
  }
});
