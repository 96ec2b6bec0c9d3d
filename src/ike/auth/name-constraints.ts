// X.509 name constraints (RFC 5280 §4.2.1.10, applied as §6.1.3 (b)/(c) and §6.1.4 (g)) for
// the name forms an IKE identity can take: dNSName, rfc822Name, iPAddress, directoryName.
// A constraint of another form (URI, otherName, ...) only matters when a certificate below
// carries a name of that form: then the name cannot be checked and the path is refused.
import { DerError, Tag, children, readOnly } from './der.js';
import { decodeDn, formatDn, type Rdn } from './dn.js';
import { generalName, type AltName } from './x509-fields.js';

export interface NameConstraints {
  permitted: AltName[];
  excluded: AltName[];
}

/** NameConstraints ::= SEQUENCE { permittedSubtrees [0], excludedSubtrees [1] } of GeneralSubtree; throws DerError. */
export function parseNameConstraints(value: Uint8Array): NameConstraints {
  const out: NameConstraints = { permitted: [], excluded: [] };
  const top = children(readOnly(value, Tag.SEQUENCE).content);
  if (top.length === 0) throw new DerError('NameConstraints is empty', 0); // §4.2.1.10: MUST NOT be empty
  for (const t of top) {
    if (t.tag !== 0xa0 && t.tag !== 0xa1) throw new DerError(`unexpected tag 0x${t.tag.toString(16)} in NameConstraints`, t.start);
    const list = t.tag === 0xa0 ? out.permitted : out.excluded;
    for (const sub of children(t.content)) {
      if (sub.tag !== Tag.SEQUENCE) throw new DerError('GeneralSubtree is not a SEQUENCE', sub.start);
      const [base, ...minMax] = children(sub.content);
      if (!base) throw new DerError('GeneralSubtree without base', sub.start);
      // §4.2.1.10: minimum MUST be zero and maximum MUST be absent
      if (minMax.length > 0) throw new DerError('GeneralSubtree with minimum or maximum', sub.start);
      list.push(generalName(base, [8, 32]));
    }
  }
  return out;
}

const eq = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** §4.2.1.10 dNSName: the name is the base with zero or more labels added on the left; a base
 * with a leading period only matches names below it (as OpenSSL reads it). */
function dnsWithin(name: string, base: string): boolean {
  if (base === '') return true;
  if (name.length < base.length) return false;
  const tail = name.slice(name.length - base.length);
  if (!eq(tail, base)) return false;
  return name.length === base.length ? !base.startsWith('.') : base.startsWith('.') || name[name.length - base.length - 1] === '.';
}

/** §4.2.1.10 rfc822Name: a mailbox (with "@"), a host (all mailboxes on it) or ".domain" (any host below). */
function emailWithin(name: string, base: string): boolean {
  const at = name.lastIndexOf('@');
  if (at < 0) return false;
  if (base.includes('@')) return eq(name, base);
  const host = name.slice(at + 1);
  if (base.startsWith('.')) return host.length > base.length && eq(host.slice(host.length - base.length), base);
  return eq(host, base);
}

/** §4.2.1.10 iPAddress: the base is address | mask, 8 octets for IPv4, 32 for IPv6. */
function ipWithin(ip: Uint8Array, base: Uint8Array): boolean {
  const n = ip.length;
  if (base.length !== 2 * n) return false;
  for (let i = 0; i < n; i++) if ((ip[i] & base[n + i]) !== (base[i] & base[n + i])) return false;
  return true;
}

/** §4.2.1.10 directoryName: the base's RDNs are the first RDNs of the name (compared as in §7.1, case folded). */
function dnWithin(name: Rdn[], base: Rdn[]): boolean {
  if (base.length > name.length) return false;
  return base.every((b, i) => b.oid === name[i].oid && eq(b.value.trim().replace(/\s+/g, ' '), name[i].value.trim().replace(/\s+/g, ' ')));
}

function within(name: AltName, base: AltName): boolean {
  switch (name.type) {
    case 'dns':
      return base.type === 'dns' && dnsWithin(name.value, base.value);
    case 'email':
      return base.type === 'email' && emailWithin(name.value, base.value);
    case 'ip':
      return base.type === 'ip' && ipWithin(name.value, base.value);
    case 'dn':
      return base.type === 'dn' && dnWithin(decodeDn(name.value), decodeDn(base.value));
    default:
      return false;
  }
}

const sameForm = (a: AltName, b: AltName) => a.type === b.type && (a.type !== 'other' || (b.type === 'other' && a.tag === b.tag));

function nameText(n: AltName): string {
  switch (n.type) {
    case 'dns':
      return `dNSName ${n.value}`;
    case 'email':
      return `rfc822Name ${n.value}`;
    case 'ip':
      return `iPAddress ${n.value.length === 4 ? n.value.join('.') : Buffer.from(n.value).toString('hex').replace(/(.{4})(?!$)/g, '$1:')}`;
    case 'dn':
      return `directoryName "${formatDn(n.value)}"`;
    default:
      return `GeneralName [${n.tag & 0x1f}]`;
  }
}

/**
 * Why `names` (a subordinate certificate's subject and subjectAltNames) break `nc`, or undefined
 * when they satisfy it (§6.1.3 (b), (c)): each name must lie in a permitted subtree of its form
 * when the constraint lists any of that form, and in no excluded subtree. Throws DerError when a
 * directoryName cannot be decoded.
 */
export function nameConstraintViolation(nc: NameConstraints, names: AltName[]): string | undefined {
  for (const name of names) {
    for (const b of nc.excluded.filter((e) => sameForm(e, name))) {
      if (name.type === 'other') return `${nameText(name)} cannot be checked against an excluded subtree of that form`;
      if (within(name, b)) return `${nameText(name)} is in excluded subtree ${nameText(b)}`;
    }
    const permitted = nc.permitted.filter((b) => sameForm(b, name));
    if (permitted.length === 0) continue;
    if (name.type === 'other') return `${nameText(name)} cannot be checked against the permitted subtrees of that form`;
    if (!permitted.some((b) => within(name, b))) return `${nameText(name)} is outside the permitted subtrees (${permitted.map((b) => nameText(b)).join(', ')})`;
  }
  return undefined;
}

/** The names of a certificate that name constraints apply to: the subject (unless empty), its
 * emailAddress attributes as rfc822Names (§4.2.1.10, for legacy certificates), and the SANs. */
export function constrainedNames(subject: Uint8Array, alts: AltName[]): AltName[] {
  const out: AltName[] = [];
  const rdns = decodeDn(subject);
  if (rdns.length > 0) out.push({ type: 'dn', value: subject });
  for (const r of rdns) if (r.oid === '1.2.840.113549.1.9.1') out.push({ type: 'email', value: r.value });
  out.push(...alts);
  return out;
}
