// The command-line options of a bench script: node:util parseArgs (strict) plus -h/--help;
// an unknown or malformed option, or --help, prints the script's usage and exits 2.
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;
type Values<T extends Options> = ReturnType<typeof parseArgs<{ options: T; strict: true }>>['values'];

export function benchOptions<const T extends Options>(options: T, usage: (msg?: string) => never): Values<T> {
  let v: Values<T> & { help?: boolean };
  try {
    v = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true }).values as Values<T> & { help?: boolean };
  } catch (e) {
    usage((e as Error).message);
  }
  if (v.help) usage();
  return v;
}
