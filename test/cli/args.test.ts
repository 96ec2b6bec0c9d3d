import { describe, expect, it } from 'vitest';

import { parseArgs, UsageError } from '../../src/cli/args.js';

describe('tsvpn command line', () => {
  it('reads each command with its options in any order', () => {
    expect(parseArgs(['up', 'peer.json'])).toEqual({ cmd: 'up', file: 'peer.json', log: { level: 'info', format: 'text' } });
    expect(parseArgs(['up', '-v', '/etc/tsvpn/left.json'])).toEqual({ cmd: 'up', file: '/etc/tsvpn/left.json', log: { level: 'debug', format: 'text' } });
    expect(parseArgs(['up', 'left.json', '--verbose'])).toEqual({ cmd: 'up', file: 'left.json', log: { level: 'debug', format: 'text' } });
    expect(parseArgs(['up', '--log-level', 'warn', 'left.json', '--log-format', 'json'])).toEqual({ cmd: 'up', file: 'left.json', log: { level: 'warn', format: 'json' } });
    expect(parseArgs(['up', '--log-level=error', '--log-format=text', 'left.json'])).toEqual({ cmd: 'up', file: 'left.json', log: { level: 'error', format: 'text' } });
    expect(parseArgs(['up', '-v', '--log-level', 'debug', 'left.json'])).toEqual({ cmd: 'up', file: 'left.json', log: { level: 'debug', format: 'text' } });
    expect(parseArgs(['up', 'left.json', '--save-keys', '/root/keys'])).toEqual({ cmd: 'up', file: 'left.json', log: { level: 'info', format: 'text' }, saveKeys: '/root/keys' });
    expect(parseArgs(['up', '--save-keys=keys', 'left.json'])).toMatchObject({ file: 'left.json', saveKeys: 'keys' });
    expect(parseArgs(['down', 'left'])).toEqual({ cmd: 'down', tunnel: { name: 'left' } });
    expect(parseArgs(['down', 'peer.json'])).toEqual({ cmd: 'down', tunnel: { file: 'peer.json' } });
    expect(parseArgs(['down', '/etc/tsvpn/left'])).toEqual({ cmd: 'down', tunnel: { file: '/etc/tsvpn/left' } });
    expect(parseArgs(['status'])).toEqual({ cmd: 'status', json: false });
    expect(parseArgs(['status', '--json'])).toEqual({ cmd: 'status', json: true });
    expect(parseArgs(['status', 'left', '--json'])).toEqual({ cmd: 'status', json: true, tunnel: { name: 'left' } });
    expect(parseArgs(['status', 'x/y'])).toEqual({ cmd: 'status', json: false, tunnel: { file: 'x/y' } });
    expect(parseArgs(['up', 'left.json', '--metrics-file', '/var/lib/node_exporter/tsvpn.prom'])).toEqual({ cmd: 'up', file: 'left.json', log: { level: 'info', format: 'text' }, metricsFile: '/var/lib/node_exporter/tsvpn.prom' });
    expect(parseArgs(['up', '--metrics-file=m.prom', 'left.json'])).toMatchObject({ file: 'left.json', metricsFile: 'm.prom' });
    expect(parseArgs(['up', 'left.json', '--metrics-listen', '127.0.0.1:9474'])).toMatchObject({ metricsListen: { host: '127.0.0.1', port: 9474 } });
    expect(parseArgs(['up', 'left.json', '--metrics-listen=[::1]:9100'])).toMatchObject({ metricsListen: { host: '::1', port: 9100 } });
    expect(parseArgs(['up', 'left.json', '--metrics-listen', '127.0.0.53:9474'])).toMatchObject({ metricsListen: { host: '127.0.0.53', port: 9474 } });
    expect(parseArgs(['events'])).toEqual({ cmd: 'events', json: false });
    expect(parseArgs(['events', 'left', '-j'])).toEqual({ cmd: 'events', json: true, tunnel: { name: 'left' } });
    expect(parseArgs(['metrics'])).toEqual({ cmd: 'metrics' });
    expect(parseArgs(['metrics', 'left.json'])).toEqual({ cmd: 'metrics', tunnel: { file: 'left.json' } });
    expect(parseArgs(['demo'])).toEqual({ cmd: 'demo', keep: false, verbose: false });
    expect(parseArgs(['demo', '--keep', '-v'])).toEqual({ cmd: 'demo', keep: true, verbose: true });
    for (const h of ['help', '--help', '-h']) expect(parseArgs([h])).toEqual({ cmd: 'help' });
    for (const c of ['up', 'down', 'status', 'events', 'metrics', 'demo']) {
      expect(parseArgs([c, '--help'])).toEqual({ cmd: 'help', topic: c });
      expect(parseArgs([c, '-h'])).toEqual({ cmd: 'help', topic: c });
      expect(parseArgs(['help', c])).toEqual({ cmd: 'help', topic: c });
    }
    for (const v of ['--version', 'version', '-V']) expect(parseArgs([v])).toEqual({ cmd: 'version' });
  });

  it('takes a file named like an option after --', () => {
    expect(parseArgs(['up', '--', '-odd.json'])).toEqual({ cmd: 'up', file: '-odd.json', log: { level: 'info', format: 'text' } });
    expect(parseArgs(['up', '--log-level', 'info', '--', '--log-format'])).toMatchObject({ file: '--log-format' });
  });

  it.each([
    [[], /missing command/],
    [['upp'], /unknown command "upp"/],
    [['up'], /up: missing the peer file/],
    [['up', 'a.json', 'b.json'], /unexpected argument "b.json"/],
    [['up', 'a.json', '--json'], /up: unknown option --json \(expected -v, --verbose, --log-level, --log-format, --save-keys, --metrics-file, --metrics-listen, -h, --help\)/],
    [['up', 'a.json', '--save-keys'], /^up: --save-keys takes a dir$/],
    [['up', 'a.json', '--save-keys='], /^up: --save-keys takes a dir$/],
    [['up', 'a.json', '--metrics-file'], /^up: --metrics-file takes a path$/],
    [['up', 'a.json', '--metrics-listen', '0.0.0.0:9474'], /^up: --metrics-listen: 0\.0\.0\.0 is not a loopback address/],
    [['up', 'a.json', '--metrics-listen', '192.0.2.1:9474'], /^up: --metrics-listen: 192\.0\.2\.1 is not a loopback address/],
    [['up', 'a.json', '--metrics-listen', '[::]:9474'], /^up: --metrics-listen: :: is not a loopback address/],
    [['up', 'a.json', '--metrics-listen', 'localhost:9474'], /^up: --metrics-listen: localhost is not a loopback address/],
    [['up', 'a.json', '--metrics-listen', '127.0.0.1'], /^up: --metrics-listen: "127\.0\.0\.1" is not <address>:<port>/],
    [['up', 'a.json', '--metrics-listen', '127.0.0.1:0'], /^up: --metrics-listen: port 0 is not from 1 to 65535$/],
    [['up', 'a.json', '--metrics-file', '-v'], /^up: --metrics-file takes a path$/],
    [['events', 'a', 'b'], /^events: unexpected argument "b"$/],
    [['events', '--follow'], /^events: unknown option --follow/],
    [['metrics', '--json'], /^metrics: unknown option --json/],
    [['up', 'a.json', '--log-level'], /^up: --log-level takes one of debug, info, warn, error$/],
    [['up', 'a.json', '--log-level', 'trace'], /^up: --log-level takes one of debug, info, warn, error, not "trace"$/],
    [['up', 'a.json', '--log-format=yaml'], /^up: --log-format takes one of text, json, not "yaml"$/],
    [['up', 'a.json', '--verbose=yes'], /up: unknown option --verbose=yes/],
    [['up', 'a.json', '--log-level', 'warn', '--log-level', 'info'], /up: --log-level given twice \(warn, info\)/],
    [['up', 'a.json', '-v', '--log-level', 'warn'], /up: -v means --log-level debug, not warn/],
    [['up', '--log-level', 'a.json'], /--log-level takes one of .*, not "a.json"/],
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
