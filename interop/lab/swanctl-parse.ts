// Parse `swanctl --list-sas --pretty` into typed records. The pretty form is one vici
// message per block, one item per line: `name {` opens a section, `}` closes it,
// `key = value` is a value (the rest of the line, so DNs with ", " survive), `key = [`
// opens a list whose items follow one per line until `]`. Key names are those of the vici
// `list-sa` event (strongSwan src/libcharon/plugins/vici/README.md, "list-sa").

export type VTree = { [key: string]: string | string[] | VTree };

export class SwanctlParseError extends Error {
  override name = 'SwanctlParseError';
}

/** Parse every top-level block of pretty output; returns [blockName, tree] pairs in order. */
export function parsePretty(text: string): [string, VTree][] {
  const out: [string, VTree][] = [];
  const stack: VTree[] = [];
  let list: string[] | undefined;
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (line === '') continue;
    if (list) {
      if (line === ']') list = undefined;
      else list.push(line);
      continue;
    }
    if (line === '}') {
      if (stack.length === 0) throw new SwanctlParseError(`line ${n + 1}: '}' without a section`);
      stack.pop();
      continue;
    }
    if (line.endsWith('{') && !line.includes(' = ')) {
      const name = line.slice(0, -1).trim();
      const section: VTree = {};
      if (stack.length === 0) out.push([name, section]);
      else stack[stack.length - 1][name] = section;
      stack.push(section);
      continue;
    }
    const eq = line.indexOf(' = ');
    if (eq < 0 || stack.length === 0) {
      // swanctl prints progress/log lines (e.g. "[IKE] ...") outside blocks; skip them
      if (stack.length === 0) continue;
      throw new SwanctlParseError(`line ${n + 1}: expected "key = value", got ${JSON.stringify(line)}`);
    }
    const key = line.slice(0, eq);
    const value = line.slice(eq + 3);
    if (value === '[') {
      list = [];
      stack[stack.length - 1][key] = list;
    } else {
      stack[stack.length - 1][key] = value;
    }
  }
  if (stack.length > 0) throw new SwanctlParseError('unterminated section at end of output');
  return out;
}

export interface ParsedChild {
  /** Child SA config name (`name`), e.g. "net". */
  name: string;
  uniqueId: string;
  state: string; // INSTALLED, REKEYED, DELETING, ...
  mode: string; // TUNNEL | TRANSPORT
  protocol: string; // ESP
  encap: boolean; // UDP encapsulation (always true with kernel-libipsec)
  spiIn: string; // 8 hex digits
  spiOut: string;
  encrAlg?: string; // e.g. AES_GCM_16, CHACHA20_POLY1305, AES_CBC
  encrKeysize?: number;
  integAlg?: string; // e.g. HMAC_SHA2_256_128 (absent for AEAD)
  dhGroup?: string; // PFS group, e.g. CURVE_25519
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  localTs: string[]; // e.g. "203.0.113.128/25" or "203.0.113.128/25[tcp/443]"
  remoteTs: string[];
  raw: VTree;
}

export interface ParsedSa {
  /** Connection name. */
  name: string;
  uniqueId: string;
  state: string; // ESTABLISHED, CONNECTING, DELETING, ...
  version: number;
  localHost: string;
  localPort: number;
  remoteHost: string;
  remotePort: number;
  localId: string;
  remoteId: string;
  initiator: boolean;
  initiatorSpi: string; // 16 hex digits
  responderSpi: string;
  nat: { local: boolean; remote: boolean; fake: boolean; any: boolean };
  encrAlg?: string;
  encrKeysize?: number;
  integAlg?: string;
  prfAlg?: string;
  dhGroup?: string;
  /** Seconds since establishment. */
  established?: number;
  children: ParsedChild[];
  raw: VTree;
}

const str = (t: VTree, k: string): string | undefined => (typeof t[k] === 'string' ? (t[k] as string) : undefined);
const num = (t: VTree, k: string): number | undefined => {
  const v = str(t, k);
  return v === undefined ? undefined : Number(v);
};
const list = (t: VTree, k: string): string[] => (Array.isArray(t[k]) ? (t[k] as string[]) : []);
const yes = (t: VTree, k: string): boolean => str(t, k) === 'yes';
const section = (t: VTree, k: string): VTree =>
  t[k] && typeof t[k] === 'object' && !Array.isArray(t[k]) ? (t[k] as VTree) : {};

function toChild(key: string, c: VTree): ParsedChild {
  return {
    name: str(c, 'name') ?? key,
    uniqueId: str(c, 'uniqueid') ?? '',
    state: str(c, 'state') ?? '',
    mode: str(c, 'mode') ?? '',
    protocol: str(c, 'protocol') ?? '',
    encap: yes(c, 'encap'),
    spiIn: str(c, 'spi-in') ?? '',
    spiOut: str(c, 'spi-out') ?? '',
    encrAlg: str(c, 'encr-alg'),
    encrKeysize: num(c, 'encr-keysize'),
    integAlg: str(c, 'integ-alg'),
    dhGroup: str(c, 'dh-group'),
    bytesIn: num(c, 'bytes-in') ?? 0,
    bytesOut: num(c, 'bytes-out') ?? 0,
    packetsIn: num(c, 'packets-in') ?? 0,
    packetsOut: num(c, 'packets-out') ?? 0,
    localTs: list(c, 'local-ts'),
    remoteTs: list(c, 'remote-ts'),
    raw: c,
  };
}

function toSa(name: string, t: VTree): ParsedSa {
  const children = section(t, 'child-sas');
  return {
    name,
    uniqueId: str(t, 'uniqueid') ?? '',
    state: str(t, 'state') ?? '',
    version: num(t, 'version') ?? 0,
    localHost: str(t, 'local-host') ?? '',
    localPort: num(t, 'local-port') ?? 0,
    remoteHost: str(t, 'remote-host') ?? '',
    remotePort: num(t, 'remote-port') ?? 0,
    localId: str(t, 'local-id') ?? '',
    remoteId: str(t, 'remote-id') ?? '',
    initiator: yes(t, 'initiator'),
    initiatorSpi: str(t, 'initiator-spi') ?? '',
    responderSpi: str(t, 'responder-spi') ?? '',
    nat: { local: yes(t, 'nat-local'), remote: yes(t, 'nat-remote'), fake: yes(t, 'nat-fake'), any: yes(t, 'nat-any') },
    encrAlg: str(t, 'encr-alg'),
    encrKeysize: num(t, 'encr-keysize'),
    integAlg: str(t, 'integ-alg'),
    prfAlg: str(t, 'prf-alg'),
    dhGroup: str(t, 'dh-group'),
    established: num(t, 'established'),
    children: Object.entries(children)
      .filter(([, v]) => typeof v === 'object' && !Array.isArray(v))
      .map(([k, v]) => toChild(k, v as VTree)),
    raw: t,
  };
}

/** `swanctl --list-sas --pretty` output -> one record per IKE SA. */
export function parseListSas(text: string): ParsedSa[] {
  const sas: ParsedSa[] = [];
  for (const [block, tree] of parsePretty(text)) {
    if (block !== 'list-sa event') continue;
    for (const [name, sa] of Object.entries(tree)) {
      if (typeof sa === 'object' && !Array.isArray(sa)) sas.push(toSa(name, sa));
    }
  }
  return sas;
}
