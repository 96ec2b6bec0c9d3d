import { describe, expect, it } from 'vitest';

import { parseArgs, UsageError } from '../../src/cli/args.js';

describe('tsvpn command line', () => {
  it('reads each command with its options in any order', () => {
    expect(parseArgs(['up', 'peer.json'])).toEqual({ cmd: 'up', file: 'peer.json', verbose: false });
    expect(parseArgs(['up', '-v', '/etc/tsvpn/left.json'])).toEqual({ cmd: 'up', file: '/etc/tsvpn/left.json', verbose: true });
    expect(parseArgs(['up', 'left.json', '--verbose'])).toEqual({ cmd: 'up', file: 'left.json', verbose: true });
    expect(parseArgs(['down', 'left'])).toEqual({ cmd: 'down', tunnel: { name: 'left' } });
    expect(parseArgs(['down', 'peer.json'])).toEqual({ cmd: 'down', tunnel: { file: 'peer.json' } });
    expect(parseArgs(['down', '/etc/tsvpn/left'])).toEqual({ cmd: 'down', tunnel: { file: '/etc/tsvpn/left' } });
    expect(parseArgs(['status'])).toEqual({ cmd: 'status', json: false });
    expect(parseArgs(['status', '--json'])).toEqual({ cmd: 'status', json: true });
    expect(parseArgs(['status', 'left', '--json'])).toEqual({ cmd: 'status', json: true, tunnel: { name: 'left' } });
    expect(parseArgs(['status', 'x/y'])).toEqual({ cmd: 'status', json: false, tunnel: { file: 'x/y' } });
    expect(parseArgs(['demo'])).toEqual({ cmd: 'demo', keep: false, verbose: false });
    expect(parseArgs(['demo', '--keep', '-v'])).toEqual({ cmd: 'demo', keep: true, verbose: true });
    for (const h of ['help', '--help', '-h']) expect(parseArgs([h])).toEqual({ cmd: 'help' });
    for (const c of ['up', 'down', 'status', 'demo']) {
      expect(parseArgs([c, '--help'])).toEqual({ cmd: 'help', topic: c });
      expect(parseArgs([c, '-h'])).toEqual({ cmd: 'help', topic: c });
      expect(parseArgs(['help', c])).toEqual({ cmd: 'help', topic: c });
    }
    for (const v of ['--version', 'version', '-V']) expect(parseArgs([v])).toEqual({ cmd: 'version' });
  });

  it('takes a file named like an option after --', () => {
    expect(parseArgs(['up', '--', '-odd.json'])).toEqual({ cmd: 'up', file: '-odd.json', verbose: false });
  });

  it.each([
    [[], /missing command/],
    [['upp'], /unknown command "upp"/],
    [['up'], /up: missing the peer file/],
    [['up', 'a.json', 'b.json'], /unexpected argument "b.json"/],
    [['up', 'a.json', '--json'], /up: unknown option --json \(expected -v, --verbose, -h, --help\)/],
    [['help', 'upp'], /help: unknown command "upp"/],
    [['down'], /down: missing the tunnel name/],
    [['down', '.hidden'], /not a tunnel name/],
    [['down', 'a', 'b'], /unexpected argument "b"/],
    [['status', 'a b'], /not a tunnel name/],
    [['status', '-x'], /status: unknown option -x/],
    [['demo', 'now'], /unexpected argument "now"/],
    [['__echo', 'client', '203.0.113.1'], /__echo: expected/],
    [['__echo', 'server', '203.0.113.1', '70000'], /port must be an integer/],
  ])('refuses %j with a clear usage error', (argv, msg) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(msg);
  });

  it('refuses tunnel names that could leave the control directory (a path is a peer file)', () => {
    for (const n of ['..', '.hidden', '', 'x'.repeat(33), 'a b']) {
      expect(() => parseArgs(['status', n])).toThrow(UsageError);
    }
    expect(parseArgs(['status', '../etc/passwd'])).toMatchObject({ tunnel: { file: '../etc/passwd' } });
    expect(parseArgs(['status', 'a.b_c-1'])).toMatchObject({ tunnel: { name: 'a.b_c-1' } });
  });
});
