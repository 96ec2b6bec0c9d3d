// Shape validation of a peer.json or a gateway file against schema/peer.schema.json (JSON
// Schema 2020-12, ajv with allErrors), and the translation of ajv's errors into one readable
// line per problem: the JSON pointer of the field and what was wanted there.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ajv2020 from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { pointer } from './errors.js';
import type { ConfigProblem } from './types.js';

// ajv is CommonJS: under NodeNext the default import is the module object, whose .default is the class.
type AjvClass = typeof ajv2020.default;
const Ajv: AjvClass = (ajv2020 as unknown as { default?: AjvClass }).default ?? (ajv2020 as unknown as AjvClass);

/** Where the schema file is: the repo's schema/ from src/config/ (tsx) or from dist/src/config/ (tsc). */
export function schemaPath(): string {
  for (const rel of ['../../schema/peer.schema.json', '../../../schema/peer.schema.json']) {
    const file = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(file)) return file;
  }
  throw new Error('schema/peer.schema.json not found next to the tsvpn sources');
}

/** The two forms of a file: one tunnel (peer.json), or a gateway with `connections`. */
export type FileForm = 'peer' | 'gateway';

let ajv: InstanceType<AjvClass> | undefined;
let schemaJson: Record<string, unknown> | undefined;

/** The JSON Schema of peer.json and of the gateway file (both forms, `$defs/peer` and `$defs/gateway`), parsed. */
export function peerSchema(): Record<string, unknown> {
  schemaJson ??= JSON.parse(readFileSync(schemaPath(), 'utf8')) as Record<string, unknown>;
  return schemaJson;
}

function validator(form: FileForm | 'name'): ValidateFunction {
  if (!ajv) {
    // verbose: errors carry the failing schema node (its description and allowed properties) and the data
    ajv = new Ajv({ allErrors: true, strict: true, verbose: true });
    ajv.addSchema(peerSchema());
  }
  const validate = ajv.getSchema(`${String(peerSchema().$id)}#/$defs/${form}`);
  if (!validate) throw new Error(`schema/peer.schema.json has no $defs/${form}`);
  return validate;
}

/** Whether `text` is a name as the schema's `$defs/name` has it (of a tunnel, gateway, connection, pool or secret). */
export function isName(text: string): boolean {
  return validator('name')(text) === true;
}

/** Every shape problem of `json` as a file of the given form (empty when it fits the schema). */
export function validateShape(json: unknown, form: FileForm = 'peer'): ConfigProblem[] {
  const validate = validator(form);
  if (validate(json)) return [];
  return translate(validate.errors ?? []);
}

const TYPE_TEXT: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
  null: 'null',
};

/** A psk or EAP password, its env or secret name (a secret put in the wrong field), or anything under a gateway's /secrets. */
const MAY_HOLD_SECRET = /(?:^|\/)(?:psk|eapPassword)(?:\/env|\/secret)?$|^\/secrets\//;

/** What a value is, for "got ..." — never the value itself where it may be a secret. */
function describe(data: unknown, path: string): string {
  if (data === null) return 'null';
  if (Array.isArray(data)) return data.length === 0 ? 'an empty list' : 'a list';
  if (typeof data === 'object') return Object.keys(data).length === 0 ? 'an empty object' : 'an object';
  if (MAY_HOLD_SECRET.test(path)) return typeof data === 'string' ? 'a string' : `a ${typeof data}`;
  if (typeof data === 'string') {
    if (data === '') return 'an empty string';
    return JSON.stringify(data.length > 40 ? `${data.slice(0, 40)}...` : data);
  }
  return String(data);
}

interface Node {
  description?: string;
  properties?: Record<string, Node>;
  required?: string[];
  type?: string;
  $ref?: string;
  not?: unknown;
}

/**
 * The fields a node with `unevaluatedProperties: false` allows: its own and those of the
 * body it `$ref`s, in the order a file is written (its required fields such as `name`, the
 * body, then its optional ones); fields that are there only to be refused (`not`) are left out.
 */
function allowedFields(node: Node): string[] {
  const own = Object.entries(node.properties ?? {}).filter(([, v]) => v.not === undefined).map(([k]) => k);
  const defs = (peerSchema().$defs ?? {}) as Record<string, Node>;
  const body = node.$ref?.startsWith('#/$defs/') ? Object.keys(defs[node.$ref.slice('#/$defs/'.length)]?.properties ?? {}) : [];
  const required = own.filter((k) => node.required?.includes(k));
  return [...required, ...body, ...own.filter((k) => !required.includes(k))];
}

function wanted(e: ErrorObject): string {
  const node = (e.parentSchema ?? {}) as Node;
  return node.description ?? (node.type ? TYPE_TEXT[node.type] ?? node.type : 'a value');
}

function one(e: ErrorObject): ConfigProblem {
  const node = (e.parentSchema ?? {}) as Node;
  const p = e.params as Record<string, unknown>;
  if (e.propertyName !== undefined) {
    // a key that is not a name (propertyNames): the key itself is the field at fault
    const at = e.instancePath + pointer(e.propertyName);
    return { path: at, expected: `expected ${node.description ?? 'another name'} as the key, got ${describe(e.propertyName, at)}` };
  }
  const at = e.instancePath;
  const got = describe(e.data, at);
  switch (e.keyword) {
    case 'required':
      return { path: at + pointer(String(p.missingProperty)), expected: 'required' };
    case 'additionalProperties': {
      const allowed = Object.keys(node.properties ?? {}).join(', ');
      return { path: at + pointer(String(p.additionalProperty)), expected: `unknown field (expected one of ${allowed})` };
    }
    case 'unevaluatedProperties':
      return { path: at + pointer(String(p.unevaluatedProperty)), expected: `unknown field (expected one of ${allowedFields(node).join(', ')})` };
    case 'not': // a field refused in this place, its description says why and where it goes
      return { path: at, expected: node.description ?? 'not allowed here' };
    case 'minProperties':
      return { path: at, expected: `expected ${node.description ?? `at least ${String(p.limit)} fields`}, got ${got}` };
    case 'type': {
      const want = node.description ?? String(p.type).split(',').map((t) => TYPE_TEXT[t] ?? t).join(' or ');
      return { path: at, expected: `expected ${want}, got ${got}` };
    }
    case 'enum':
      return { path: at, expected: `expected one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, got ${got}` };
    case 'minItems':
      return { path: at, expected: `expected at least ${String(p.limit)} ${p.limit === 1 ? 'entry' : 'entries'}, got ${got}` };
    case 'oneOf':
    case 'anyOf':
      return { path: at, expected: `expected ${node.description ?? 'a value of another shape'}` };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
    case 'multipleOf': {
      const bound = node.description ?? `${TYPE_TEXT[node.type ?? 'number'] ?? 'a number'} ${String(p.comparison ?? 'that is a multiple of')} ${String(p.limit ?? p.multipleOf)}`;
      return { path: at, expected: `expected ${bound}, got ${got}` };
    }
    default: // pattern, minLength, and anything else: the node's own description says what fits
      return { path: at, expected: `expected ${wanted(e)}, got ${got}` };
  }
}

/**
 * ajv errors -> problems. A failed oneOf (psk, remote.ca) is one line saying which forms fit,
 * unless the value is an object or list and something inside it is wrong in a way that is not
 * just "this is the other form" (required/unknown field): then those inner lines are shown.
 * Duplicates are dropped.
 */
export function translate(all: ErrorObject[]): ConfigProblem[] {
  // "if" and "propertyNames" only summarise errors that are reported on their own; a body
  // `$ref`ed by a described node (peer, connection) repeats its type check without the description
  const described = (e: ErrorObject) => (e.parentSchema as Node | undefined)?.description !== undefined;
  const twin = (e: ErrorObject) => e.keyword === 'type' && !described(e) && all.some((o) => o !== e && o.keyword === 'type' && o.instancePath === e.instancePath && described(o));
  const errors = all.filter((e) => e.keyword !== 'if' && e.keyword !== 'propertyNames' && !twin(e));
  const alternatives = errors.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf');
  const under = (e: ErrorObject, at: string) => e.instancePath === at || e.instancePath.startsWith(`${at}/`);
  const isAlt = (e: ErrorObject) => e.keyword === 'oneOf' || e.keyword === 'anyOf';
  const formMismatch = (e: ErrorObject, at: string) =>
    e.instancePath === at || e.keyword === 'required' || e.keyword === 'additionalProperties';
  const keep = new Set<ErrorObject>(errors.filter((e) => !isAlt(e) && !alternatives.some((a) => under(e, a.instancePath))));
  for (const a of alternatives) {
    const inner = typeof a.data === 'object' && a.data !== null
      ? errors.filter((e) => !isAlt(e) && under(e, a.instancePath) && !formMismatch(e, a.instancePath))
      : [];
    if (inner.length > 0) inner.forEach((e) => keep.add(e));
    else keep.add(a);
  }
  const out: ConfigProblem[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (!keep.has(e)) continue;
    const prob = one(e);
    const key = `${prob.path}\u0000${prob.expected}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(prob);
  }
  return out;
}
