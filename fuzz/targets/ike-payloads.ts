// fast-check arbitraries for IKE payload records (RFC 7296 §3.3-§3.15): well-formed chains
// with values drawn from the registries plus odd ones, encoded by our own encoder. They
// reach the tasks' checks (proposal choice, traffic selector narrowing, notify handling,
// Delete) with inputs that decode, which byte mutation of a few seeds rarely makes.
import fc from 'fast-check';
import { AuthMethod, IdType, NotifyType, ProtocolId, TransformType } from '../../src/wire/constants.js';
import type { Payload, Proposal, TrafficSelector } from '../../src/wire/types.js';

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const oneOrOdd = (values: readonly number[], bits: 8 | 16) => fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...values) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: bits === 8 ? 255 : 65535 }) });
const critical = fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }); // rarely critical

const transform = fc.record({
  type: oneOrOdd(Object.values(TransformType), 8),
  id: oneOrOdd([1, 2, 3, 5, 12, 13, 14, 19, 20, 28, 31, 0], 16),
  keyLength: fc.option(fc.constantFrom(128, 192, 256, 0, 7), { nil: undefined }),
});
const proposal = (n: number) =>
  fc.record({
    number: fc.constant(n),
    protocol: oneOrOdd(Object.values(ProtocolId), 8),
    spi: fc.oneof(fc.constant(new Uint8Array(0)), bytes(4, 4), bytes(8, 8)),
    transforms: fc.array(transform, { minLength: 1, maxLength: 6 }),
  }) as fc.Arbitrary<Proposal>;
const v4 = bytes(4, 4);
const v6 = bytes(16, 16);
const selector: fc.Arbitrary<TrafficSelector> = fc.oneof(
  fc.record({ tsType: fc.constant(7), ipProtocol: oneOrOdd([0, 1, 6, 17, 58], 8), startPort: fc.integer({ min: 0, max: 65535 }), endPort: fc.integer({ min: 0, max: 65535 }), startAddr: v4, endAddr: v4 }),
  fc.record({ tsType: fc.constant(8), ipProtocol: oneOrOdd([0, 6, 17, 58], 8), startPort: fc.integer({ min: 0, max: 65535 }), endPort: fc.integer({ min: 0, max: 65535 }), startAddr: v6, endAddr: v6 }),
);

const payload: fc.Arbitrary<Payload> = fc.oneof(
  fc.record({ kind: fc.constant('N' as const), critical, protocol: fc.constantFrom(0, 1, 3), spi: fc.oneof(fc.constant(new Uint8Array(0)), bytes(4, 4), bytes(8, 8)), notifyType: oneOrOdd(Object.values(NotifyType), 16), data: bytes(0, 40) }),
  fc.record({ kind: fc.constant('D' as const), critical, protocol: fc.constantFrom(1, 3), spiSize: fc.constantFrom(0, 4, 8), spis: fc.array(bytes(4, 4), { maxLength: 3 }) }).map((d) => ({ ...d, spiSize: d.protocol === 1 ? 0 : 4, spis: d.protocol === 1 ? [] : d.spis })),
  fc.record({ kind: fc.constantFrom('TSi' as const, 'TSr' as const), critical, selectors: fc.array(selector, { minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant('NONCE' as const), critical, data: bytes(16, 64) }),
  fc.record({ kind: fc.constant('KE' as const), critical, group: oneOrOdd([14, 19, 31, 0], 16), data: bytes(0, 64) }),
  fc.record({ kind: fc.constantFrom('IDi' as const, 'IDr' as const), critical, idType: oneOrOdd(Object.values(IdType), 8), data: bytes(0, 24) }),
  fc.record({ kind: fc.constant('AUTH' as const), critical, method: oneOrOdd(Object.values(AuthMethod), 8), data: bytes(0, 64) }),
  fc.record({ kind: fc.constant('CERT' as const), critical, encoding: oneOrOdd([4, 7, 12], 8), data: bytes(0, 64) }),
  fc.record({ kind: fc.constant('SA' as const), critical, proposals: fc.integer({ min: 1, max: 3 }).chain((k) => fc.tuple(...Array.from({ length: k }, (_, i) => proposal(i + 1)))) }),
  fc.record({ kind: fc.constant('CP' as const), critical, cfgType: fc.constantFrom(1, 2, 3, 4), attributes: fc.array(fc.record({ type: oneOrOdd([1, 2, 3, 8, 10, 13], 16), value: bytes(0, 16) }), { maxLength: 3 }) }),
  fc.record({ kind: fc.constant('V' as const), critical, data: bytes(0, 20) }),
) as fc.Arbitrary<Payload>;

/** `count` chains of 0 to 8 payload records. */
export function payloadLists(seed: number, count: number): Payload[][] {
  return fc.sample(fc.array(payload, { maxLength: 8 }), { seed, numRuns: count });
}
