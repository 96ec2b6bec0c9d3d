// Where a peer.json stops being JSON (RFC 8259), and the line that shows it. JSON.parse's
// own message is not used: V8 quotes up to ten characters around the fault
// ("Unexpected token 'h', "{"psk": hunter2..." is not valid JSON"), which can be a PSK
// written without quotes. This scanner names the line, the column and what was expected,
// and the line is shown with the value of any "psk" on it masked.

export interface JsonSyntaxFault {
  /** 1-based, in characters. */
  line: number;
  column: number;
  expected: string;
  /** The offending line (a caret line below it), any PSK value on it masked. */
  excerpt: string;
}

const SECRET_KEYS = new Set(['psk', 'secret', 'eapPassword']);
// objects whose every member value is a secret: a gateway's EAP users (`secrets.eap`, user -> password)
const SECRET_MAPS = new Set(['eap']);
const MASK = '********';
const VALUE = 'a value (object, array, "string", number, true, false or null)';
const MAX_LINE = 160;

class Stop {
  constructor(
    readonly offset: number,
    readonly expected: string,
  ) {}
}

/** The first syntax fault in `text`, or undefined when it is valid JSON. */
export function findJsonFault(text: string): JsonSyntaxFault | undefined {
  let i = 0;
  // start of the value of a "psk" property being read, while it is being read
  let secretFrom: number | undefined;
  // inside a secret map (its member names are user names, its values passwords): a fault there hides its whole line
  let secretMaps = 0;
  const fail = (expected: string): never => {
    throw new Stop(i, i >= text.length ? `${expected}, but the file ends` : expected);
  };
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++; // RFC 8259 §2: insignificant whitespace
  };
  const string = (): string => {
    const start = ++i;
    for (;;) {
      if (i >= text.length) fail('the closing " of the string');
      const c = text.charCodeAt(i);
      if (c === 0x22) return text.slice(start, i++);
      if (c < 0x20) fail('the closing " of the string on the same line (RFC 8259 §7: no raw line break or control character in a string)');
      if (c === 0x5c) {
        i++;
        if (text[i] === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) i += 4;
        else if (!'"\\/bfnrt'.includes(text[i] ?? 'x') || i >= text.length) fail('an escape: \\" \\\\ \\/ \\b \\f \\n \\r \\t or \\u and four hex digits (RFC 8259 §7)');
      }
      i++;
    }
  };
  const value = (secretMembers = false): void => {
    ws();
    const c = text[i];
    if (c === '{') return object(secretMembers);
    if (c === '[') return array();
    if (c === '"') return void string();
    const num = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    num.lastIndex = i;
    if (c !== undefined && /[-0-9]/.test(c)) {
      if (!num.test(text)) fail('a number (RFC 8259 §6)');
      i = num.lastIndex;
      return;
    }
    for (const lit of ['true', 'false', 'null']) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return;
      }
    }
    fail(VALUE);
  };
  const object = (secretMembers: boolean): void => {
    if (secretMembers) secretMaps++;
    members(secretMembers);
    if (secretMembers) secretMaps--;
  };
  const members = (secretMembers: boolean): void => {
    i++;
    ws();
    if (text[i] === '}') return void i++;
    for (;;) {
      ws();
      if (text[i] !== '"') fail('a property name in double quotes');
      const key = string();
      ws();
      if (text[i] !== ':') fail('":" after the property name');
      i++;
      ws();
      const outer = secretFrom;
      if ((secretMembers || SECRET_KEYS.has(key)) && text[i] !== '{') secretFrom = i;
      value(SECRET_MAPS.has(key));
      secretFrom = outer;
      ws();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') return void i++;
      fail('"," or "}" after the property value');
    }
  };
  const array = (): void => {
    i++;
    ws();
    if (text[i] === ']') return void i++;
    for (;;) {
      value();
      ws();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === ']') return void i++;
      fail('"," or "]" after the array element');
    }
  };
  try {
    value();
    ws();
    if (i < text.length) fail('nothing after the top-level value');
    return undefined;
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    return fault(text, e, secretMaps > 0 ? 0 : secretFrom); // in a secret map: the whole line
  }
}

function fault(text: string, stop: Stop, secretFrom: number | undefined): JsonSyntaxFault {
  const at = Math.min(stop.offset, text.length);
  const lineStart = text.lastIndexOf('\n', at - 1) + 1;
  const nl = text.indexOf('\n', lineStart);
  const lineEnd = nl < 0 ? text.length : nl;
  const mask = (part: string): string => {
    // a PSK being read when the fault came: hidden from where it starts (or the line start)
    if (secretFrom !== undefined && secretFrom < lineStart + part.length) part = part.slice(0, Math.max(0, secretFrom - lineStart)) + MASK;
    return maskAfterSecretKey(part);
  };
  let shown = mask(text.slice(lineStart, lineEnd).replace(/\r$/, ''));
  const column = at - lineStart + 1;
  const line = text.slice(0, lineStart).split('\n').length;
  const gutter = String(line);
  const caretAt = Math.min(mask(text.slice(lineStart, at)).length, shown.length);
  if (shown.length > MAX_LINE) shown = `${shown.slice(0, MAX_LINE)}…`;
  const excerpt = `  ${gutter} | ${shown.replace(/\t/g, ' ')}\n  ${' '.repeat(gutter.length)} | ${' '.repeat(Math.min(caretAt, MAX_LINE))}^`;
  return { line, column, expected: stop.expected, excerpt };
}

/**
 * From the first "psk", "secret", "eapPassword" or "eap" on, the rest of the line is hidden: a broken line may hold a
 * key anywhere after it (`"psk" "x"` with the colon missing, `"psk": "psk": "x"`, `{b"x"`, or
 * a key typed into `{"env": …}`). Nothing is added where nothing follows.
 */
function maskAfterSecretKey(part: string): string {
  const m = /"(?:psk|secret|eapPassword|eap)"/.exec(part);
  if (!m) return part;
  let j = m.index + m[0].length;
  while (j < part.length && /\s/.test(part[j]!)) j++;
  if (part[j] === ':') j++;
  while (j < part.length && /\s/.test(part[j]!)) j++;
  return j < part.length ? part.slice(0, j) + MASK : part;
}
