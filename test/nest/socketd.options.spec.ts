import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, Inject, Logger, Module, type INestApplication, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientsModule, type ClientProxy } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { DEFAULTS } from '../../lib/session/options.js';
import type { ClientOptions, ServerOptions } from '../../lib/session/types.js';
import {
  CLIENT_OPTION_NAMES,
  ENGINE_CLIENT_OPTION_NAMES,
  ENGINE_SERVER_OPTION_NAMES,
  SERVER_OPTION_NAMES,
  SocketDClient,
  SocketDServer,
  type SocketDClientOptions,
  type SocketDServerOptions,
} from '../../lib/nest/index.js';
import {
  CLIENT_NEST_OPTION_NAMES,
  NEST_OPTION_ALIASES,
  nearest,
  resolveSocketDUrl,
  SERVER_NEST_OPTION_NAMES,
  type SameType,
} from '../../lib/nest/socketd.options.js';
import { generateTestCerts } from '../transports/tls-certs.js';
import { TestAppModule } from './nest-test.app.js';
import { errorOf, waitFor } from './nest-test.helpers.js';

// Type-level: the runtime name lists equal the option types (a drift is a compile error here
// and in lib/nest/socketd.options.ts; `npm run typecheck` runs in CI).
type Expect<T extends true> = T;
export type OptionTypeChecks = [
  Expect<SameType<(typeof ENGINE_SERVER_OPTION_NAMES)[number], keyof ServerOptions>>,
  Expect<SameType<(typeof ENGINE_CLIENT_OPTION_NAMES)[number], keyof ClientOptions>>,
  Expect<SameType<keyof SocketDServerOptions, Exclude<(typeof ENGINE_SERVER_OPTION_NAMES)[number], 'onMessage'> | (typeof SERVER_NEST_OPTION_NAMES)[number] | keyof typeof NEST_OPTION_ALIASES>>,
  Expect<SameType<keyof SocketDClientOptions, Exclude<(typeof ENGINE_CLIENT_OPTION_NAMES)[number], 'onMessage'> | (typeof CLIENT_NEST_OPTION_NAMES)[number] | keyof typeof NEST_OPTION_ALIASES>>,
];

// Type-level: a typo in client options fails to compile under `satisfies`.
// @ts-expect-error 'uri' is not an option (did you mean 'url'?)
export const typo = { uri: 'sd:tcp://127.0.0.1:1' } satisfies SocketDClientOptions;
export const tcpStyle = { host: '127.0.0.1', port: 1, transport: 'ws', requestTimeout: 100 } satisfies SocketDClientOptions;

describe('option names', () => {
  it('every engine default names a server or client option', () => {
    const engine = new Set<string>([...ENGINE_SERVER_OPTION_NAMES, ...ENGINE_CLIENT_OPTION_NAMES]);
    for (const key of Object.keys(DEFAULTS)) expect(engine.has(key)).toBe(true);
  });

  it('the Nest classes accept every key of their option types (and onMessage on neither)', () => {
    for (const key of ENGINE_SERVER_OPTION_NAMES) expect(SERVER_OPTION_NAMES.includes(key)).toBe(key !== 'onMessage');
    for (const key of ENGINE_CLIENT_OPTION_NAMES) expect(CLIENT_OPTION_NAMES.includes(key)).toBe(key !== 'onMessage');
    for (const key of ['url', 'host', 'port', 'transport', 'serializer', 'deserializer']) {
      expect(SERVER_OPTION_NAMES).toContain(key);
      expect(CLIENT_OPTION_NAMES).toContain(key);
    }
    for (const key of ['gracePeriod', 'maxQueuedReplies', 'maxQueuedRepliesPerSession', 'maxQueuedRepliesPerServer']) {
      expect(SERVER_OPTION_NAMES).toContain(key);
    }
  });

  it('nearest() finds typos, case slips and transpositions', () => {
    expect(nearest('uri', SERVER_OPTION_NAMES)).toBe('url');
    expect(nearest('requestTimout', CLIENT_OPTION_NAMES)).toBe('requestTimeout');
    expect(nearest('heartBeatInterval', CLIENT_OPTION_NAMES)).toBe('heartbeatInterval');
    expect(nearest('gracePeirod', SERVER_OPTION_NAMES)).toBe('gracePeriod');
    expect(nearest('zzzzzz', SERVER_OPTION_NAMES)).toBeUndefined();
  });
});

describe('SocketDServer / SocketDClient options at construction', () => {
  it('an unknown key fails naming the nearest valid one', () => {
    const bad = { uri: 'sd:tcp://127.0.0.1:0' } as SocketDClientOptions;
    expect(() => new SocketDClient(bad)).toThrow("SocketDClient: unknown option 'uri' — did you mean 'url'?");
    expect(() => new SocketDServer(bad as SocketDServerOptions)).toThrow("SocketDServer: unknown option 'uri' — did you mean 'url'?");
    expect(() => new SocketDServer({ url: 'sd:tcp://127.0.0.1:0', gracePeriode: 10 } as SocketDServerOptions)).toThrow(
      "unknown option 'gracePeriode' — did you mean 'gracePeriod'?",
    );
    const err = (() => {
      try {
        new SocketDClient({ requestTimout: 5 } as SocketDClientOptions);
      } catch (e) {
        return e;
      }
    })();
    expect((err as { code?: string }).code).toBe('SOCKETD_ERR_INVALID_ARGUMENT');
  });

  it('a key of the other side, onMessage, and nothing near are told apart', () => {
    expect(() => new SocketDServer({ autoReconnect: true } as SocketDServerOptions)).toThrow("'autoReconnect' is a client option");
    expect(() => new SocketDClient({ gracePeriod: 1 } as SocketDClientOptions)).toThrow("'gracePeriod' is a server option");
    expect(() => new SocketDClient({ onMessage: () => undefined } as SocketDClientOptions)).toThrow("option 'onMessage' is not available here");
    expect(() => new SocketDClient({ qqqqqqqq: 1 } as SocketDClientOptions)).toThrow(/unknown option 'qqqqqqqq' \(valid: url, host, port/);
  });

  it('a malformed url is refused at construction, on both sides', () => {
    const bad = (make: () => unknown) => {
      try {
        make();
      } catch (err) {
        return err as { code?: string; message: string };
      }
      throw new Error('accepted');
    };
    for (const err of [bad(() => new SocketDClient({ url: '127.0.0.1:8602' })), bad(() => new SocketDServer({ url: '127.0.0.1:8602' }))]) {
      expect(err.code).toBe('SOCKETD_ERR_BAD_URL');
      expect(err.message).toContain('Bad Socket.D URL "127.0.0.1:8602"');
    }
    expect(bad(() => new SocketDClient({ url: 'sd:htp://h:1' })).message).toContain("unsupported schema 'htp'");
  });

  it('url and host/port together are refused; host/port/transport build the URL', () => {
    expect(() => new SocketDClient({ url: 'sd:tcp://a:1', port: 2 })).toThrow("give either 'url' or 'host'/'port'/'transport'");
    expect(resolveSocketDUrl({})).toBe('sd:tcp://127.0.0.1:8602');
    expect(resolveSocketDUrl({ port: 9000 })).toBe('sd:tcp://127.0.0.1:9000');
    expect(resolveSocketDUrl({ host: '::1', port: 0, transport: 'ws' })).toBe('sd:ws://[::1]:0');
    expect(() => resolveSocketDUrl({ port: 70000 })).toThrow('port must be an integer in 0..65535');
  });
});

describe("Nest's TCP transport option names", () => {
  it("'tlsOptions' is accepted as 'tls' on both sides: a real TLS round trip", async () => {
    const certs = generateTestCerts();
    const strategy = new SocketDServer({ url: 'sd:tcps://127.0.0.1:0', tlsOptions: certs.server });
    const app = await NestFactory.createMicroservice(TestAppModule, { strategy, logger: false });
    await app.listen();
    const client = new SocketDClient({ url: `sd:tcps://127.0.0.1:${strategy.address()!.port}`, tlsOptions: { ca: certs.ca } });
    try {
      expect(await firstValueFrom(client.send('sum', [1, 2, 3]))).toBe(6);
    } finally {
      await client.close();
      await app.close();
    }
  });

  it("'tls' and 'tlsOptions' together are refused", () => {
    expect(() => new SocketDClient({ tls: {}, tlsOptions: {} })).toThrow("give either 'tls' or 'tlsOptions' (Nest's name for it), not both");
    expect(() => new SocketDServer({ tls: {}, tlsOptions: {} })).toThrow("give either 'tls' or 'tlsOptions' (Nest's name for it), not both");
  });

  it("Nest TCP options without a same-meaning option here are refused naming ours", () => {
    const client = (options: object) => () => new SocketDClient(options as SocketDClientOptions);
    const server = (options: object) => () => new SocketDServer(options as SocketDServerOptions);
    expect(client({ retryAttempts: 3 })).toThrow(
      "SocketDClient: 'retryAttempts' is an option of Nest's TCP transport, not of SocketDClient: SocketDClient reconnects by itself: 'autoReconnect'",
    );
    expect(client({ retryDelay: 100 })).toThrow("use 'reconnectDelay'");
    expect(server({ retryAttempts: 3 })).toThrow("SocketDServer fails listen() at once");
    expect(server({ maxBufferSize: 1 })).toThrow("use 'maxFrameSize' (one frame) and 'maxMessageSize'");
    expect(client({ maxSendBufferSize: 1 })).toThrow("use 'maxWriteBufferSize'");
    expect(server({ incompleteMessageTimeout: 1 })).toThrow("use 'frameTimeout'");
    expect(client({ socketClass: class {} })).toThrow("pick the transport with 'url'");
  });

  it('a typo gets a suggestion from both vocabularies', () => {
    const bad = (options: object) => () => new SocketDClient(options as SocketDClientOptions);
    expect(bad({ tlsOption: {} })).toThrow("unknown option 'tlsOption' — did you mean 'tlsOptions' (Nest's name for 'tls')?");
    expect(bad({ retryAttempt: 1 })).toThrow("unknown option 'retryAttempt' — did you mean Nest's 'retryAttempts'? Not an option here: SocketDClient reconnects");
    expect(bad({ reconectDelay: 1 })).toThrow("unknown option 'reconectDelay' — did you mean 'reconnectDelay'?");
  });
});

describe('host/port options with real apps', () => {
  let server: INestMicroservice | undefined;
  let http: INestApplication | undefined;

  afterEach(async () => {
    await http?.close();
    await server?.close();
    http = server = undefined;
  });

  it('a ClientsModule app reaches a { host, port, transport } server through options that satisfy SocketDClientOptions', async () => {
    const strategy = new SocketDServer({ host: '127.0.0.1', port: 0, transport: 'ws' });
    server = await NestFactory.createMicroservice(TestAppModule, { strategy, logger: false });
    await server.listen();
    const port = strategy.address()!.port;

    @Controller()
    class CallerController {
      constructor(@Inject('SD') private readonly client: ClientProxy) {}
      @Get('sum')
      sum(): Promise<number> {
        return firstValueFrom(this.client.send<number>('sum', [1, 2, 3]));
      }
    }
    @Module({
      imports: [
        ClientsModule.register([
          {
            name: 'SD',
            customClass: SocketDClient,
            options: { host: '127.0.0.1', port, transport: 'ws', requestTimeout: 5_000 } satisfies SocketDClientOptions,
          },
        ]),
      ],
      controllers: [CallerController],
    })
    class CallerModule {}

    http = await NestFactory.create(CallerModule, { logger: false });
    await http.listen(0, '127.0.0.1');
    const address = http.getHttpServer().address() as { port: number };
    const res = await fetch(`http://127.0.0.1:${address.port}/sum`);
    expect(await res.text()).toBe('6');
  });

  it('ClientsModule.register() with a mistyped key fails at once (it builds the client)', () => {
    expect(() => ClientsModule.register([{ name: 'SD', customClass: SocketDClient, options: { uri: 'sd:tcp://127.0.0.1:1' } }])).toThrow(
      "SocketDClient: unknown option 'uri' — did you mean 'url'?",
    );
  });
});

describe("'error' events and refused handshakes", () => {
  it("the server emits 'error' when it cannot listen, and app.listen() rejects", async () => {
    const first = new SocketDServer({ url: 'sd:tcp://127.0.0.1:0' });
    const app1 = await NestFactory.createMicroservice(TestAppModule, { strategy: first, logger: false });
    await app1.listen();
    const second = new SocketDServer({ port: first.address()!.port });
    const errors: Error[] = [];
    second.on('error', (err) => errors.push(err));
    const app2 = await NestFactory.createMicroservice(TestAppModule, { strategy: second, logger: false });
    try {
      expect(String(await errorOf(app2.listen()))).toContain('EADDRINUSE');
      expect(errors).toHaveLength(1);
      expect(String(errors[0])).toContain('EADDRINUSE');
    } finally {
      await app2.close();
      await app1.close();
    }
  });

  it("the client emits 'error' when it cannot connect", async () => {
    const client = new SocketDClient({ port: 1, connectTimeout: 2_000, autoReconnect: false });
    const errors: Error[] = [];
    client.on('error', (err) => errors.push(err));
    try {
      expect(await errorOf(firstValueFrom(client.send('sum', [1])))).toBeInstanceOf(Error);
      await waitFor(() => errors.length === 1, 5_000, "'error' event");
      expect(String(errors[0])).toMatch(/ECONNREFUSED|connect/i);
    } finally {
      await client.close();
    }
  });

  it('a refused handshake is logged with the remote address', async () => {
    const warnings: string[] = [];
    const strategy = new SocketDServer({
      url: 'sd:tcp://127.0.0.1:0',
      onHandshake: (handshake) => handshake.params['token'] === 'ok',
    });
    const app = await NestFactory.createMicroservice(TestAppModule, { strategy, logger: false });
    await app.listen();
    const warn = Logger.prototype.warn;
    Logger.prototype.warn = function (this: Logger, message: unknown, ...rest: unknown[]) {
      warnings.push(String(message));
      return warn.call(this, message, ...(rest as []));
    } as typeof Logger.prototype.warn;
    const port = strategy.address()!.port;
    const client = new SocketDClient({ port, autoReconnect: false });
    client.on('error', () => undefined);
    try {
      const err = await errorOf(client.connect());
      expect((err as { code?: string }).code).toBe('SOCKETD_ERR_HANDSHAKE_REJECTED');
      await waitFor(() => warnings.some((w) => w.includes('refused handshake')), 5_000, 'refusal log');
      expect(warnings.find((w) => w.includes('refused handshake'))).toMatch(/refused handshake from (::ffff:)?127\.0\.0\.1.*onHandshake returned false/);
    } finally {
      Logger.prototype.warn = warn;
      await client.close();
      await app.close();
    }
  });
});
