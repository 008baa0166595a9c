// The built command line against engine servers (upstream-style peers: plain text, no
// Data-Type), as a test server (listen), over TLS, and its usage and network exit codes.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SdClient, type SdServer } from '../../lib/engine.js';
import { ExitCodes } from '../../lib/cli/exit-codes.js';
import type { ReceivedMessage, Session } from '../../lib/session/types.js';
import { startServer, until } from '../support/engine.js';
import { generateTestCerts } from '../transports/tls-certs.js';
import { waitUntilStable } from '../nest/nest-test.helpers.js';
import { CliProcess, runCli, startListener } from './cli-helpers.js';

const QUIET = { logger: false as const };

const BIG_COUNT = 20_000;
const BIG_CHUNK = Buffer.alloc(1024, 'a');

/** An engine server as upstream peers answer: plain text, metas of their own, no Data-Type. */
function upstreamLike(cancels: { whileOpen: boolean }[], big: { sent: number }) {
  return (session: Session, m: ReceivedMessage): void => {
    if (m.event === '/big') {
      // 20 MB of Replies as fast as the connection takes them (write() backpressure respected).
      const pump = (): void => {
        while (!m.isDone && session.isOpen && big.sent < BIG_COUNT) {
          big.sent++;
          if (!session.reply(m, BIG_CHUNK)) { void session.drain().then(pump); return; }
        }
        if (big.sent >= BIG_COUNT && !m.isDone) session.replyEnd(m);
      };
      pump();
    }
    if (m.event === '/hello') session.replyEnd(m, `hello ${m.dataAsString()}`, 'who=engine&n=1');
    else if (m.event === '/binary') session.replyEnd(m, Buffer.from([0, 1, 0xfe, 0xff]));
    else if (m.event === '/forever') {
      let i = 0;
      const timer = setInterval(() => session.reply(m, `tick ${i++}`), 10);
      m.onCancel(() => {
        clearInterval(timer);
        // The X-Cancel Alarm arrives before the Close: the session is still open then.
        cancels.push({ whileOpen: session.isOpen });
      });
    }
  };
}

describe('nestjs-socketd against an engine server', () => {
  let server: SdServer;
  let url: string;
  const cancels: { whileOpen: boolean }[] = [];
  const big = { sent: 0 };
  let dir: string;

  beforeAll(async () => {
    ({ server, url } = await startServer('ws', { ...QUIET, onMessage: upstreamLike(cancels, big) }));
    dir = mkdtempSync(join(tmpdir(), 'socketd-cli-'));
  });

  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('call: unmarked text printed as is, every meta of the reply on stderr', async () => {
    const result = await runCli(['call', url, '/hello', 'world']);
    expect(result).toMatchObject({ code: 0, stdout: 'hello world\n', stderr: '< who: engine\n< n: 1\n' });
  });

  it('DATA from stdin (-) and from @file', async () => {
    expect(await runCli(['call', url, '/hello', '-', '-q'], 'from stdin')).toMatchObject({ code: 0, stdout: 'hello from stdin\n' });
    const file = join(dir, 'data.txt');
    writeFileSync(file, 'from a file');
    expect(await runCli(['call', url, '/hello', `@${file}`, '-q'])).toMatchObject({ code: 0, stdout: 'hello from a file\n' });
    const missing = await runCli(['call', url, '/hello', `@${join(dir, 'nope')}`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read DATA file');
  });

  it('binary replies: raw bytes when piped, a hex dump with -o hex, base64 with -o json', async () => {
    const child = new CliProcess(['call', url, '/binary', '-q']);
    const raw: Buffer[] = [];
    child.child.stdout.on('data', (chunk: Buffer) => raw.push(chunk));
    expect((await child.exited).code).toBe(0);
    expect(Buffer.concat(raw)).toEqual(Buffer.from([0, 1, 0xfe, 0xff]));
    expect((await runCli(['call', url, '/binary', '-q', '-o', 'hex'])).stdout).toBe(`00000000  00 01 fe ff ${' '.repeat(37)} |....|\n`);
    expect((await runCli(['call', url, '/binary', '-q', '-o', 'json'])).stdout).toBe('{"base64":"AAH+/w=="}\n');
  });

  it('stream: SIGINT sends the X-Cancel Alarm (the handler sees the cancel before the Close) and exits 130', async () => {
    const cli = new CliProcess(['stream', url, '/forever']);
    await cli.until((out) => out.includes('tick 1\n'), 'two values');
    cli.kill('SIGINT');
    const result = await cli.exited;
    expect(result.code).toBe(130);
    expect(result.stdout.startsWith('tick 0\ntick 1\n')).toBe(true);
    await until(() => cancels.length === 1, 10_000, 'the cancel');
    expect(cancels).toEqual([{ whileOpen: true }]);
  });

  it('stream: a closed stdout (| head) cancels the stream at the peer, exit 0', async () => {
    const cli = new CliProcess(['stream', url, '/forever']);
    await cli.until((out) => out.includes('tick 0\n'), 'a value');
    cli.child.stdout.destroy();
    expect((await cli.exited).code).toBe(0);
    await until(() => cancels.length === 2, 10_000, 'the cancel');
  });

  it('stream: a stdout nobody reads stops the reading of the peer (backpressure), then every byte arrives', async () => {
    const cli = new CliProcess(['stream', url, '/big', '-o', 'raw']);
    cli.child.stdout.pause();
    await until(() => big.sent > 0, 10_000, 'the stream to start');
    const held = await waitUntilStable(() => big.sent, 500);
    expect(held).toBeLessThan(BIG_COUNT);
    cli.child.stdout.resume();
    const result = await cli.exited;
    expect(result.code).toBe(0);
    expect(result.stdout.length).toBe(BIG_COUNT * BIG_CHUNK.length);
  });
});

describe('nestjs-socketd listen', () => {
  const clients: SdClient[] = [];
  async function client(url: string): Promise<SdClient> {
    const c = new SdClient(url, { ...QUIET, autoReconnect: false });
    clients.push(c);
    await c.connect();
    return c;
  }
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
  });

  it('echoes Requests and Subscribes, prints every message it receives, exits 0 on SIGINT', async () => {
    const { cli, url } = await startListener(['-o', 'frame']);
    const c = await client(url);
    const reply = await c.request('/req', '{"a":1}', { metas: { 'Data-Type': 'application/json', k: 'v' } });
    expect(reply.dataAsString()).toBe('{"a":1}');
    expect(reply.meta('Data-Type')).toBe('application/json');
    const values: string[] = [];
    await new Promise<void>((resolve, reject) => {
      void c.subscribe('/sub', 'one', { next: (m) => values.push(m.dataAsString()), complete: () => resolve(), error: reject });
    });
    expect(values).toEqual(['one']);
    await c.send('/msg', 'fire');
    await cli.until((out) => out.includes('"/msg"'), 'the Message');
    cli.kill('SIGINT');
    const result = await cli.exited;
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map(({ flag, event, data }) => ({ flag, event, data }))).toEqual([
      { flag: 'Request', event: '/req', data: { a: 1 } },
      { flag: 'Subscribe', event: '/sub', data: 'one' },
      { flag: 'Message', event: '/msg', data: 'fire' },
    ]);
    expect(lines[0]!['metas']).toEqual({ 'Data-Type': 'application/json', k: 'v' });
  });

  it('--reply answers with a fixed value; --count N exits 0 after N messages; the default output has header lines', async () => {
    const { cli, url } = await startListener(['--reply', '{"ok":true}', '--data-type', 'json', '--meta', 'from=cli', '--count', '1'], 'ws');
    const reply = await (await client(url)).request('/anything', 'x');
    expect(reply.dataAsString()).toBe('{"ok":true}');
    expect(reply.metas).toMatchObject({ 'Data-Type': 'application/json', from: 'cli' });
    const result = await cli.exited;
    expect(result).toMatchObject({ code: 0, stdout: '[Request] /anything\nx\n' });
  });

  it('--alarm answers with an Alarm carrying --meta code=N: a CLI call gets exit 3 and the code', async () => {
    const { cli, url } = await startListener(['--alarm', 'not today', '--meta', 'code=4004', '-q']);
    try {
      const result = await runCli(['call', url, '/x']);
      expect(result.code).toBe(3);
      expect(result.stderr).toContain('Alarm from the peer: not today (code 4004)');
    } finally {
      cli.kill('SIGINT');
      await cli.exited;
    }
  });
});

describe('nestjs-socketd over TLS', () => {
  const certs = generateTestCerts();
  let dir: string;
  const file = (name: string, content: Buffer): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'socketd-cli-tls-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('listen --tls-cert/--tls-key serves TLS; call --tls-ca trusts it, without it exit 2 (untrusted), -k skips the check', async () => {
    const { cli, url } = await startListener(['--tls-cert', file('server.pem', certs.server.cert), '--tls-key', file('server.key', certs.server.key), '-q']);
    try {
      expect(await runCli(['call', url, '/tls', 'secure', '--tls-ca', file('ca.pem', certs.ca), '-q'])).toMatchObject({ code: 0, stdout: 'secure\n' });
      const untrusted = await runCli(['call', url.replace('sd:tcp:', 'sd:tcps:'), '/tls', 'x']);
      expect(untrusted.code).toBe(2);
      expect(untrusted.stderr).toContain('SOCKETD_ERR_TLS');
      expect(await runCli(['call', url.replace('sd:tcp:', 'sd:tcps:'), '/tls', 'anyway', '-k', '-q'])).toMatchObject({ code: 0, stdout: 'anyway\n' });
    } finally {
      cli.kill('SIGINT');
      await cli.exited;
    }
  });
});

describe('nestjs-socketd exit codes', () => {
  it('unreachable (nothing listens on the port): exit 2 with the engine error', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(free));
      });
    });
    const result = await runCli(['call', `sd:tcp://127.0.0.1:${port}`, '/x']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('SOCKETD_ERR_TRANSPORT');
  });

  it('a refused handshake is exit 2', async () => {
    const { server, url } = await startServer('tcp', { ...QUIET, onHandshake: () => false });
    try {
      const result = await runCli(['send', url, '/x']);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('SOCKETD_ERR_HANDSHAKE_REJECTED');
    } finally {
      await server.close();
    }
  });

  it('usage errors are exit 1 with a hint; --help is exit 0 on stdout', async () => {
    const cases = [
      ['call', 'sd:tcp://127.0.0.1:1'],
      ['call', 'sd:tcp://127.0.0.1:1', '/x', '--bogus'],
      ['call', 'sd:tcp://127.0.0.1:1', '/x', '--timeout', 'soon'],
      ['call', 'sd:tcp://127.0.0.1:1', '/x', '--meta', 'novalue'],
      ['call', 'sd:tcp://127.0.0.1:1', '/x', '{not json', '--data-type', 'json'],
      ['call', 'gopher://127.0.0.1', '/x'],
      ['frobnicate'],
    ];
    const failures = await Promise.all(cases.map((args) => runCli(args)));
    failures.forEach((result, i) => {
      expect({ args: cases[i], code: result.code, stdout: result.stdout }).toEqual({ args: cases[i], code: 1, stdout: '' });
      expect(result.stderr).toMatch(/^nestjs-socketd: .*\(see --help\)\n$/);
    });
    const helps = [['--help'], ['call', '--help'], ['help', 'stream'], ['listen', '-h']];
    for (const [i, result] of (await Promise.all(helps.map((args) => runCli(args)))).entries()) {
      expect({ args: helps[i], code: result.code }).toEqual({ args: helps[i], code: 0 });
      expect(result.stdout).toMatch(/Usage:/);
      expect(result.stdout).toContain('Exit codes:');
    }
  });

  it('README and --help list every exit code the command line uses', async () => {
    const readme = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Command line'), readme.indexOf('## Limits and security'));
    const documented = [...section.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
    const used = Object.values(ExitCodes).filter((code) => code !== ExitCodes.SIGTERM);
    expect(documented).toEqual(used);
    expect(section).toContain('143 for SIGTERM');
    const help = (await runCli(['--help'])).stdout;
    for (const code of Object.values(ExitCodes)) expect(help).toMatch(new RegExp(`\\b${code}\\b`));
  });
});
