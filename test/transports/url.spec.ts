import { describe, expect, it } from '@jest/globals';
import { parseUrl } from '../../lib/engine.js';
import { isSocketDError } from '../../lib/protocol/errors.js';

describe('parseUrl', () => {
  it.each([
    ['sd:tcp://127.0.0.1:8602/path?u=a&t=1', 'tcp', 'tcp://127.0.0.1:8602/path?u=a&t=1', '127.0.0.1', 8602, '/path', 'u=a&t=1'],
    ['tcp://localhost', 'tcp', 'tcp://localhost', 'localhost', 8602, '/', ''],
    ['sd:ws://h:1023/path?u=a', 'ws', 'ws://h:1023/path?u=a', 'h', 1023, '/path', 'u=a'],
    ['ws://h:80', 'ws', 'ws://h:80', 'h', 80, '/', ''],
    ['ws://h/', 'ws', 'ws://h/', 'h', 8602, '/', ''],
    ['sd:wss://example.com:443/a/b/?x=%20y+z', 'wss', 'wss://example.com:443/a/b/?x=%20y+z', 'example.com', 443, '/a/b/', 'x=%20y+z'],
    ['wss://example.com?k=v', 'wss', 'wss://example.com?k=v', 'example.com', 8602, '/', 'k=v'],
    ['tcp://h:9000?', 'tcp', 'tcp://h:9000?', 'h', 9000, '/', ''],
    ['sd:tcp://[::1]:9000/p', 'tcp', 'tcp://[::1]:9000/p', '::1', 9000, '/p', ''],
    ['ws://[2001:db8::1]/x?y', 'ws', 'ws://[2001:db8::1]/x?y', '2001:db8::1', 8602, '/x', 'y'],
    ['SD:TCP://H:1/', 'tcp', 'TCP://H:1/', 'H', 1, '/', ''],
    ['sd:tcp-java://h:1', 'tcp', 'tcp-java://h:1', 'h', 1, '/', ''],
    ['tcp-netty://h', 'tcp', 'tcp-netty://h', 'h', 8602, '/', ''],
    ['sd:ws-java://h', 'ws', 'ws-java://h', 'h', 8602, '/', ''],
    ['wss-java://h', 'wss', 'wss-java://h', 'h', 8602, '/', ''],
    ['tcp://0.0.0.0:0', 'tcp', 'tcp://0.0.0.0:0', '0.0.0.0', 0, '/', ''],
    ['tcp://h:65535', 'tcp', 'tcp://h:65535', 'h', 65535, '/', ''],
  ])('%s', (input, schema, linkUrl, host, port, path, query) => {
    expect(parseUrl(input)).toEqual({ schema, linkUrl, host, port, path, query });
  });

  it.each([
    ['', 'empty URL'],
    ['tcp:/h', 'expected'],
    ['127.0.0.1:8602', 'expected'],
    ['http://h', "unsupported schema 'http'"],
    ['sd:kcp://h:1', "unsupported schema 'kcp'"],
    ['quic://h', "unsupported schema 'quic'"],
    ['tcp://', 'missing host'],
    ['tcp:///path', 'missing host'],
    ['tcp://h:', 'empty port'],
    ['tcp://h:65536', 'out of range'],
    ['tcp://h:12ab', 'bad host'],
    ['tcp://::1', 'IPv6 hosts need brackets'],
    ['tcp://[nothex]:1', 'bad IPv6'],
    ['tcp://u:p@h', 'user info'],
    ['ws://h/p#frag', 'fragment'],
    [' tcp://h', 'whitespace'],
    ['tcp://h/a b', 'whitespace'],
  ])('rejects %j', (input, why) => {
    let err: unknown;
    try {
      parseUrl(input);
    } catch (e) {
      err = e;
    }
    expect(isSocketDError(err, 'BAD_URL')).toBe(true);
    expect((err as Error).message).toContain(why);
    expect((err as Error).message).toContain(JSON.stringify(input));
  });
});
