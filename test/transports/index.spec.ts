import { describe, expect, it } from '@jest/globals';
import { createServer as createHttpsServer } from 'node:https';
import {
  createClientTransport,
  createServerTransport,
  parseUrl,
  TcpClientTransport,
  TcpServerTransport,
  WsClientTransport,
  WsServerTransport,
} from '../../lib/engine.js';

describe('transport registry', () => {
  it.each([
    ['tcp', TcpClientTransport],
    ['sd:tcp', TcpClientTransport],
    ['tcp-netty', TcpClientTransport],
    ['ws', WsClientTransport],
    ['wss', WsClientTransport],
    ['sd:ws-java', WsClientTransport],
  ])('client for %s', (schema, type) => {
    expect(createClientTransport(schema)).toBeInstanceOf(type);
  });

  it.each(['kcp', 'http', '', 'quic'])('refuses client schema %j', (schema) => {
    expect(() => createClientTransport(schema)).toThrow(expect.objectContaining({ code: 'SOCKETD_ERR_BAD_URL' }));
  });

  it('builds servers from parsed URLs', () => {
    const tcp = createServerTransport(parseUrl('sd:tcp://127.0.0.1:0'), { maxConnections: 3 });
    expect(tcp).toBeInstanceOf(TcpServerTransport);
    expect(createServerTransport(parseUrl('sd:ws://127.0.0.1:0'))).toBeInstanceOf(WsServerTransport);
    const https = createHttpsServer();
    const wss = createServerTransport(parseUrl('sd:wss://127.0.0.1:0'), { httpServer: https });
    expect(wss).toBeInstanceOf(WsServerTransport);
  });

  it('refuses a wss server without an https server', () => {
    expect(() => createServerTransport(parseUrl('sd:wss://127.0.0.1:0'))).toThrow(
      expect.objectContaining({ code: 'SOCKETD_ERR_INVALID_ARGUMENT' }),
    );
  });
});
