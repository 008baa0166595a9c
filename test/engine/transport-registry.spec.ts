import { afterEach, describe, expect, it } from '@jest/globals';
import {
  SdClient, SdServer, TcpClientTransport, TcpServerTransport, findTransport, parseUrl, registerTransport, tcpTransport,
  type ClientConnectOptions, type Connection, type ParsedUrl, type Transport,
} from '../../lib/engine.js';
import { Clients } from '../support/engine.js';

/** A user's own transport: tcp underneath, counting what goes through the registry. */
class CountingTransport implements Transport {
  readonly schema = 'tcp-counted';
  readonly aliases = ['counted'];
  dials = 0;
  servers = 0;
  private readonly tcp = new TcpClientTransport();
  readonly client = {
    connect: (url: ParsedUrl, options: ClientConnectOptions): Promise<Connection> => {
      this.dials++;
      return this.tcp.connect(url, options);
    },
  };
  createServer(url: ParsedUrl, options: object) {
    this.servers++;
    return new TcpServerTransport(url.host, url.port, options);
  }
}

describe('transport registry', () => {
  const clients = new Clients();
  const servers: SdServer[] = [];
  afterEach(async () => {
    await clients.closeAll();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('serves a user-registered schema and its aliases through SdServer and SdClient', async () => {
    const counted = new CountingTransport();
    registerTransport(counted);
    expect(findTransport('SD:Counted')).toBe(counted);
    expect(parseUrl('sd:counted://127.0.0.1:1').schema).toBe('tcp-counted');

    const server = await new SdServer('sd:tcp-counted://127.0.0.1:0', {
      onMessage: (session, message) => { session.replyEnd(message, `echo ${message.dataAsString()}`); },
    }).listen();
    servers.push(server);
    const client = await clients.open(`sd:counted://127.0.0.1:${server.address()!.port}`);
    const reply = await client.request('/echo', 'hi');
    expect(reply.dataAsString()).toBe('echo hi');
    expect(counted.servers).toBe(1);
    expect(counted.dials).toBe(1);
  });

  it('refuses a taken schema unless asked to replace it, and a malformed one', () => {
    const other: Transport = { ...tcpTransport, aliases: [] };
    expect(() => registerTransport(other)).toThrow(expect.objectContaining({ code: 'SOCKETD_ERR_INVALID_ARGUMENT' }));
    expect(() => registerTransport({ ...tcpTransport, schema: 'not a schema', aliases: [] }))
      .toThrow(expect.objectContaining({ code: 'SOCKETD_ERR_INVALID_ARGUMENT' }));
    registerTransport(tcpTransport); // the same object again: a no-op
    expect(findTransport('tcp')).toBe(tcpTransport);
  });

  it('names the registered schemas when a URL has none of them', () => {
    expect(() => new SdClient('sd:nope://h')).toThrow(/unsupported schema 'nope' \(supported: tcp, ws, wss/);
  });
});
