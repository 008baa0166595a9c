// The built command line against a real Nest app (SocketDServer) and through a real broker.
import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SocketDServer } from '../../lib/nest/index.js';
import type { SdBroker } from '../../lib/broker/index.js';
import type { SdClient } from '../../lib/session/client.js';
import { state, TestAppModule } from '../nest/nest-test.app.js';
import { within } from '../nest/nest-test.helpers.js';
import { player, startBroker, until } from '../broker/broker-helpers.js';
import { CliProcess, runCli } from './cli-helpers.js';

describe('nestjs-socketd against a Nest SocketDServer', () => {
  let app: INestMicroservice;
  let url: string;

  beforeAll(async () => {
    const server = new SocketDServer({ url: 'sd:tcp://127.0.0.1:0' });
    app = await NestFactory.createMicroservice(TestAppModule, { strategy: server, logger: false });
    await app.listen();
    url = `sd:tcp://127.0.0.1:${server.address()!.port}`;
  });

  afterAll(async () => {
    await app.close();
  });

  beforeEach(() => state.reset());

  it('call: prints the JSON reply on stdout and its metas on stderr, exit 0', async () => {
    const result = await runCli(['call', url, 'sum', '[1,2,3]']);
    expect(result).toMatchObject({ code: 0, stdout: '6\n' });
    expect(result.stderr).toBe('< Data-Type: application/json\n');
    // An object reply is pretty-printed; --output json gives one compact line.
    const ctx = await runCli(['call', url, 'ctx', '{"k":"v"}', '--meta', 'tenant=acme', '-o', 'json', '-q']);
    expect(ctx.code).toBe(0);
    expect(ctx.stderr).toBe('');
    expect(ctx.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(JSON.parse(ctx.stdout)).toMatchObject({ data: { k: 'v' }, pattern: 'ctx', tenant: 'acme' });
  });

  it('call to a handler throwing an RpcException: the Alarm text, its code and the Nest error value on stderr, exit 3', async () => {
    const result = await runCli(['call', url, 'rpc-object', '{}']);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('nestjs-socketd: Alarm from the peer: nope (code 42)');
    expect(result.stderr).toContain('nestjs-socketd: Nest error: {"code":42,"message":"nope"}');
    expect(result.stderr).toContain('< code: 42');
  });

  it('call with no handler for the event: Nest\'s "no matching handler" Alarm, exit 3', async () => {
    const result = await runCli(['call', url, 'no-such-pattern']);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('There is no matching message handler');
  });

  it('stream: prints values as they arrive; SIGINT cancels the stream (the handler is torn down) and exits 130', async () => {
    const cli = new CliProcess(['stream', url, 'ticks', '-o', 'json']);
    await cli.until((out) => out.split('\n').length > 2, 'two values');
    cli.kill('SIGINT');
    const result = await cli.exited;
    expect(result.code).toBe(130);
    expect(result.stderr).toBe('');
    // Values in order from 0, one JSON value per line.
    const values = result.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as number);
    expect(values.slice(0, 2)).toEqual([0, 1]);
    await within(state.producerStopped.promise, 10_000, "the handler's finalize");
  });

  it('stream: a finite stream ends with the ReplyEnd (exit 0); --count takes N values and cancels', async () => {
    const all = await runCli(['stream', url, 'range', '4']);
    expect(all).toMatchObject({ code: 0, stdout: '0\n1\n2\n3\n', stderr: '' });
    // -o frame: every message received, the empty ReplyEnd that ends the stream included.
    const frames = await runCli(['stream', url, 'range', '2', '-o', 'frame']);
    expect(frames.code).toBe(0);
    expect(frames.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).map(({ flag, data }) => ({ flag, data }))).toEqual([
      { flag: 'Reply', data: 0 }, { flag: 'Reply', data: 1 }, { flag: 'ReplyEnd', data: null },
    ]);
    const some = await runCli(['stream', url, 'ticks', '--count', '3']);
    expect(some).toMatchObject({ code: 0, stdout: '0\n1\n2\n', stderr: '' });
    await within(state.producerStopped.promise, 10_000, "the handler's finalize");
  });

  it('send: the @EventPattern handler receives the Message, exit 0', async () => {
    const result = await runCli(['send', url, 'notify', '{"hello":"nest"}', '--data-type', 'json']);
    expect(result).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(await within(state.eventSignal.promise, 10_000, 'the event')).toEqual({ hello: 'nest' });
  });

  it('timeout: no answer within --timeout is exit 4', async () => {
    const result = await runCli(['call', url, 'slow', '3000', '--timeout', '300']);
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('SOCKETD_ERR_TIMEOUT');
  });

  it('call interrupted by SIGINT while it waits: exit 130, nothing on stdout, no error printed', async () => {
    const cli = new CliProcess(['call', url, 'slow', '5000', '-v']);
    await cli.until((_, err) => err.includes('* connected'), 'the connection');
    cli.kill('SIGINT');
    const result = await cli.exited;
    expect(result.code).toBe(130);
    expect(result.stdout).toBe('');
    expect(result.stderr).not.toContain('nestjs-socketd:');
  });
});

describe('nestjs-socketd through a broker (--at)', () => {
  let broker: SdBroker;
  let brokerUrl: string;
  let echo: SdClient;

  beforeAll(async () => {
    ({ broker, url: brokerUrl } = await startBroker('tcp'));
    echo = (await player(brokerUrl, 'svc', 1)).client;
  });

  afterAll(async () => {
    await echo.close();
    await broker.close();
  });

  it('call --at NAME reaches the player (its metas printed), a failing player is exit 3 with its code', async () => {
    const result = await runCli(['call', brokerUrl, '/echo', 'hi there', '--at', 'svc']);
    expect(result).toMatchObject({ code: 0, stdout: 'hi there\n' });
    expect(result.stderr).toContain('< who: svc#1');
    const failed = await runCli(['call', brokerUrl, '/fail', '--at', 'svc']);
    expect(failed.code).toBe(3);
    expect(failed.stderr).toContain('Alarm from the peer: failed on purpose (code 4001)');
  });

  it('stream --at NAME: the Replies relayed by the broker, ended by the ReplyEnd', async () => {
    const result = await runCli(['stream', brokerUrl, '/count', '3', '--at', 'svc']);
    expect(result).toMatchObject({ code: 0, stdout: '0\n1\n2\n', stderr: '' });
  });

  it('listen --player NAME answers calls routed by the broker', async () => {
    const cli = new CliProcess(['listen', brokerUrl, '--player', 'cli-echo', '-o', 'frame']);
    try {
      await cli.until((_, err) => err.includes("as player 'cli-echo'"), 'joined');
      await until(() => broker.players.has('cli-echo'), 10_000, 'the player registered');
      const result = await runCli(['call', brokerUrl, '/ping', 'pong?', '--at', 'cli-echo', '-q']);
      expect(result).toMatchObject({ code: 0, stdout: 'pong?\n', stderr: '' });
      await cli.until((out) => out.includes('"event":"/ping"'), 'the printed Request');
      expect(JSON.parse(cli.stdout.trim())).toMatchObject({ flag: 'Request', event: '/ping', data: 'pong?', metas: { '@': 'cli-echo' } });
    } finally {
      cli.kill('SIGINT');
      expect((await cli.exited).code).toBe(0);
    }
  });
});
