/**
 * Explicit wiring: a server and a client get their transport from the `transports` option,
 * not from the process-wide registry (README, Architecture). This file imports no entry point,
 * so nothing is registered: an in-memory transport handed in is the only way to reach the URL,
 * and the Nest layer's engine options carry the shipped transports themselves.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { isSocketDError } from '../../lib/protocol/errors.js';
import type { Connection, ParsedUrl, ServerTransport, Transport } from '../../lib/session/connection.js';
import { SdClient } from '../../lib/session/client.js';
import { SdServer } from '../../lib/session/server.js';
import { findTransport, registeredSchemas } from '../../lib/session/transport-registry.js';
import { engineOptions } from '../../lib/nest/socketd.engine-options.js';
import { createMemoryPair } from '../../lib/transports/memory-pair.js';
import { SHIPPED_TRANSPORTS } from '../../lib/transports/shipped.js';

/** `sd:mem://name`: connections are in-memory pairs; servers are found by URL host. */
function memoryTransport(): Transport {
  const servers = new Map<string, (connection: Connection) => void>();
  return {
    schema: 'mem',
    client: {
      async connect(url: ParsedUrl): Promise<Connection> {
        const accept = servers.get(url.host);
        if (accept === undefined) throw new Error(`no memory server '${url.host}'`);
        const [client, server] = createMemoryPair();
        accept(server);
        return client;
      },
    },
    createServer(url: ParsedUrl): ServerTransport {
      return {
        async listen(onConnection) { servers.set(url.host, onConnection); },
        async close() { servers.delete(url.host); },
        address: () => ({ host: url.host, port: url.port }),
        unwrap: () => servers,
      };
    },
  };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

describe('transports handed in (the transports option)', () => {
  it('nothing is registered in this module graph', () => {
    expect(registeredSchemas()).toEqual([]);
    expect(findTransport('tcp')).toBeUndefined();
  });

  it('a server and a client on an unregistered transport talk through it', async () => {
    const mem = memoryTransport();
    const server = await new SdServer('sd:mem://unit:1', {
      transports: [mem],
      logger: false,
      onMessage(s, m) { if (m.isRequest) s.replyEnd(m, `pong ${m.dataAsString()}`); },
    }).listen();
    closers.push(() => server.close());
    const client = new SdClient('sd:mem://unit:1/path', { transports: [mem], logger: false, autoReconnect: false });
    closers.push(() => client.close());
    await client.connect();
    expect((await client.request('/ping', 'a')).dataAsString()).toBe('pong a');
    expect(server.sessions.size).toBe(1);
    expect(findTransport('mem')).toBeUndefined();
  });

  it('without the option the schema is unknown (SOCKETD_ERR_BAD_URL)', () => {
    let err: unknown;
    try {
      new SdServer('sd:mem://unit:2', { logger: false });
    } catch (e) {
      err = e;
    }
    expect(isSocketDError(err, 'BAD_URL')).toBe(true);
  });

  it('the Nest layer passes the shipped transports after the user\'s own', () => {
    const mem = memoryTransport();
    const options = engineOptions<{ transports?: readonly Transport[] }>({ transports: [mem] } as never, [], () => {}, () => {});
    expect(options.transports).toEqual([mem, ...SHIPPED_TRANSPORTS]);
    expect(SHIPPED_TRANSPORTS.map((t) => t.schema)).toEqual(['tcp', 'ws', 'wss', 'udp', 'tcps']);
  });

  it('a shipped transport handed in serves a real socket without any registration', async () => {
    const server = await new SdServer('sd:tcp://127.0.0.1:0', {
      transports: SHIPPED_TRANSPORTS,
      logger: false,
      onMessage(s, m) { if (m.isRequest) s.replyEnd(m, 'ok'); },
    }).listen();
    closers.push(() => server.close());
    const client = new SdClient(`sd:tcp://127.0.0.1:${server.address()!.port}`, { transports: SHIPPED_TRANSPORTS, logger: false, autoReconnect: false });
    closers.push(() => client.close());
    await client.connect();
    expect((await client.request('/x')).dataAsString()).toBe('ok');
    expect(registeredSchemas()).toEqual([]);
  });
});
