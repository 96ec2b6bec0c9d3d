// An EffectApplier with an empty SAD and SPD and no-op sockets and routes, for tests of what
// it does with single effects (events, --save-keys); `deps` adds or replaces dependencies.
import { EffectApplier, type EffectDeps } from '../../../src/daemon/effects.js';
import { silentLogger } from '../../../src/daemon/log.js';
import { Sad } from '../../../src/ipsec/sad.js';
import { Spd } from '../../../src/ipsec/spd.js';

export function bareApplier(deps: Partial<EffectDeps> = {}): EffectApplier {
  return new EffectApplier({
    sad: new Sad(),
    spd: new Spd(),
    sendIke: () => {},
    routes: { install: (c) => c, remove: () => {} },
    now: () => 0,
    wallClock: () => 0,
    log: silentLogger,
    forceEncap: () => false,
    ...deps,
  });
}
