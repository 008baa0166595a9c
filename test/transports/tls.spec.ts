import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect as tlsConnect } from 'node:tls';
import { encodeFrame } from '../../lib/protocol/frame-codec.js';
import { Flags } from '../../lib/protocol/flags.js';
import { SdClient, SdServer, isSocketDError, parseUrl, type EngineLogger, type ServerOptions, type Session, type ReceivedMessage } from '../../lib/engine.js';
import { TcpClientTransport, TcpServerTransport } from '../../lib/transports/tcp-transport.js';
import type { Connection } from '../../lib/session/connection.js';
import { cleanups, messageFrame, Queue, Recorder, runCleanups } from './helpers.js';
import { generateTestCerts, type TestCerts } from './tls-certs.js';
import { sha256 } from '../support/engine.js';

/** A logger that keeps what it is told. */
function recordingLogger(): EngineLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m), debug: () => undefined };
}

async function waitForLine(logger: { lines: string[] }, pattern: RegExp, ms = 5000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const line = logger.lines.find((l) => pattern.test(l));
    if (line !== undefined) return line;
    if (Date.now() > deadline) throw new Error(`no log line matching ${pattern} in ${JSON.stringify(logger.lines)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The error `connect()` rejects with, and how long it took. */
async function connectError(client: SdClient): Promise<{ err: Error; ms: number }> {
  const started = Date.now();
  const err = await client.connect().then(() => undefined, (e: unknown) => e as Error);
  if (err === undefined) throw new Error('connect() succeeded');
  return { err, ms: Date.now() - started };
}

// Echo, a hash of the data, the data back, and a stream of N replies.
const handlers: Pick<ServerOptions, 'onMessage'> = {
  onMessage(session: Session, message: ReceivedMessage) {
    if (message.event === '/echo') session.reply(message, message.data);
    else if (message.event === '/hash') session.reply(message, sha256(message.data));
    else if (message.event === '/url') session.reply(message, session.handshake.url);
    else if (message.event === '/count') {
      const n = Number(message.dataAsString());
      for (let i = 0; i < n; i++) session.reply(message, String(i));
      session.replyEnd(message, 'end');
    }
  },
};

let certs: TestCerts;
const servers: SdServer[] = [];
const clients: SdClient[] = [];

function client(url: string, options: ConstructorParameters<typeof SdClient>[1] = {}): SdClient {
  const c = new SdClient(url, { autoReconnect: false, logger: false, ...options });
  clients.push(c);
  return c;
}

async function server(url: string, options: ServerOptions): Promise<{ server: SdServer; port: number }> {
  const s = await new SdServer(url, options).listen();
  servers.push(s);
  return { server: s, port: s.address()!.port };
}

beforeAll(() => {
  certs = generateTestCerts();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await runCleanups();
});

describe('TLS over tcp: the same frames inside TLS', () => {
  let port: number;
  beforeAll(async () => {
    const s = await new SdServer('sd:tcp://127.0.0.1:0', { ...handlers, logger: false, tls: { key: certs.server.key, cert: certs.server.cert } }).listen();
    port = s.address()!.port;
    afterAllClose.push(s);
  });
  const afterAllClose: SdServer[] = [];
  afterAll(async () => {
    await Promise.all(afterAllClose.map((s) => s.close()));
  });

  it('request/reply over sd:tcps:// and over sd:tcp:// with the tls option; Connect carries the link URL verbatim', async () => {
    const tcps = client(`sd:tcps://127.0.0.1:${port}/app?u=a`, { tls: { ca: certs.ca } });
    expect((await tcps.request('/echo', 'hello')).dataAsString()).toBe('hello');
    expect((await tcps.request('/url')).dataAsString()).toBe(`tcps://127.0.0.1:${port}/app?u=a`);
    const tcp = client(`sd:tcp://localhost:${port}`, { tls: { ca: certs.ca } });
    expect((await tcp.request('/echo', 'over tcp + tls')).dataAsString()).toBe('over tcp + tls');
    expect(parseUrl('sd:tcps://h:1').schema).toBe('tcps');
  });

  it('streams a subscribe of 1000 replies in order', async () => {
    const c = client(`sd:tcps://127.0.0.1:${port}`, { tls: { ca: certs.ca } });
    const got: string[] = [];
    const end = await new Promise<string>((resolve, reject) => {
      void c.subscribe('/count', '1000', {
        next: (reply) => got.push(reply.dataAsString()),
        complete: (last) => resolve(last === undefined ? 'no end message' : 'an end message'),
        error: reject,
      });
    });
    // The ReplyEnd carries 'end': the stream's last value, given to next.
    expect(end).toBe('no end message');
    expect(got).toHaveLength(1001);
    expect(got.slice(0, 1000).every((v, i) => v === String(i))).toBe(true);
    expect(got[1000]).toBe('end');
  });

  it('carries a 20 MiB payload both ways (sha256 equal)', async () => {
    const c = client(`sd:tcps://127.0.0.1:${port}`, { tls: { ca: certs.ca }, requestTimeout: 30_000 });
    const payload = randomBytes(20 * 1024 * 1024);
    expect((await c.request('/hash', payload)).dataAsString()).toBe(sha256(payload));
    const back = await c.request('/echo', payload);
    expect(back.data.length).toBe(payload.length);
    expect(sha256(back.data)).toBe(sha256(payload));
  });

  it('a client that does not trust the certificate fails with SOCKETD_ERR_TLS naming tls.ca', async () => {
    const { err } = await connectError(client(`sd:tcps://127.0.0.1:${port}`));
    expect(isSocketDError(err, 'TLS')).toBe(true);
    expect((err as { details?: { reason?: string } }).details?.reason).toBe('untrusted-certificate');
    expect(err.message).toMatch(/not trusted.*tls\.ca/);
  });

  it('a certificate that does not name the host fails with SOCKETD_ERR_TLS (hostname-mismatch)', async () => {
    const { err } = await connectError(client(`sd:tcps://127.0.0.1:${port}`, { tls: { ca: certs.ca, servername: 'elsewhere.example' } }));
    expect(isSocketDError(err, 'TLS')).toBe(true);
    expect((err as { details?: { reason?: string } }).details?.reason).toBe('hostname-mismatch');
    expect(err.message).toMatch(/does not name the host/);
  });
});

describe('mutual TLS (requestCert + rejectUnauthorized)', () => {
  const mtls = (logger: EngineLogger) => ({
    ...handlers,
    logger,
    tls: { key: certs.server.key, cert: certs.server.cert, ca: certs.ca, requestCert: true, rejectUnauthorized: true },
  });

  it('accepts a client certificate signed by the CA', async () => {
    const { port } = await server('sd:tcp://127.0.0.1:0', mtls(recordingLogger()));
    const c = client(`sd:tcps://127.0.0.1:${port}`, { tls: { ca: certs.ca, cert: certs.client.cert, key: certs.client.key } });
    expect((await c.request('/echo', 'mtls')).dataAsString()).toBe('mtls');
  });

  it('refuses a client without a certificate: SOCKETD_ERR_TLS on the client, a line with its address in the server log', async () => {
    const logger = recordingLogger();
    const { port } = await server('sd:tcp://127.0.0.1:0', mtls(logger));
    const { err } = await connectError(client(`sd:tcps://127.0.0.1:${port}`, { tls: { ca: certs.ca } }));
    expect(isSocketDError(err, 'TLS')).toBe(true);
    expect((err as { details?: { reason?: string } }).details?.reason).toBe('client-certificate-required');
    expect(err.message).toMatch(/requires a client certificate.*tls\.cert and tls\.key/);
    expect(await waitForLine(logger, /sent no certificate/)).toMatch(/^Socket\.D TLS server: 127\.0\.0\.1:\d+: .*SOCKETD_ERR_TLS/);
  });

  it('refuses a client certificate from another CA, with a clear error and a log line', async () => {
    const logger = recordingLogger();
    const { port } = await server('sd:tcp://127.0.0.1:0', mtls(logger));
    const { err } = await connectError(client(`sd:tcps://127.0.0.1:${port}`, {
      tls: { ca: certs.ca, cert: certs.strangerClient.cert, key: certs.strangerClient.key },
    }));
    expect(isSocketDError(err, 'TLS')).toBe(true);
    expect(err.message).toMatch(/client certificate/);
    expect(await waitForLine(logger, /127\.0\.0\.1:\d+: .*certificate was refused/)).toMatch(/SOCKETD_ERR_TLS/);
  });
});

describe('client-initiated TLS renegotiation (default options)', () => {
  it('is refused at the first attempt: the connection closes with a log line, other clients carry on', async () => {
    const logger = recordingLogger();
    const { server: s, port } = await server('sd:tcps://127.0.0.1:0', { ...handlers, logger, tls: { key: certs.server.key, cert: certs.server.cert } });
    const good = client(`sd:tcps://127.0.0.1:${port}`, { tls: { ca: certs.ca } });
    expect((await good.request('/echo', 'before')).dataAsString()).toBe('before');

    // A real TLS 1.2 client (1.3 has no renegotiation) with a real Socket.D session.
    const attacker = tlsConnect({ host: '127.0.0.1', port, ca: certs.ca, maxVersion: 'TLSv1.2' });
    cleanups.push(() => attacker.destroy());
    attacker.on('error', () => undefined);
    await once(attacker, 'secureConnect');
    expect(attacker.getProtocol()).toBe('TLSv1.2');
    const url = `tcps://127.0.0.1:${port}/`;
    attacker.write(encodeFrame({ flag: Flags.Connect, sid: 'reneg-1', event: url, metaString: 'Socket.D=1.0', data: Buffer.from(url) }));
    const [connack] = await once(attacker, 'data') as [Buffer];
    expect(connack.readInt32BE(4)).toBe(Flags.Connack);
    expect(s.sessions.size).toBe(2);

    const closed = once(attacker, 'close');
    let renegotiated: Error | null | undefined;
    expect(attacker.renegotiate({ rejectUnauthorized: true }, (err) => { renegotiated = err; })).toBe(true);
    await closed;
    expect(renegotiated).not.toBeNull(); // never completed (the callback is not called, or with an error)
    const line = await waitForLine(logger, /renegotiation/);
    expect(line).toMatch(/^Socket\.D TLS server: 127\.0\.0\.1:\d+: the client asked for a TLS renegotiation; refused and the connection closed \(SOCKETD_ERR_TLS\)$/);
    expect(logger.lines.filter((l) => /renegotiation/.test(l))).toHaveLength(1);
    const deadline = Date.now() + 5000;
    while (s.sessions.size !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(s.sessions.size).toBe(1);
    expect((await good.request('/echo', 'after')).dataAsString()).toBe('after');
  });
});

describe('one side TLS, the other plain: a clear error at once, not a hang', () => {
  it('a plain tcp client dialling a TLS server is told to use sd:tcps:// (long before connectTimeout); the server logs it', async () => {
    const logger = recordingLogger();
    const { port } = await server('sd:tcp://127.0.0.1:0', { logger, tls: { key: certs.server.key, cert: certs.server.cert } });
    const { err, ms } = await connectError(client(`sd:tcp://127.0.0.1:${port}`, { connectTimeout: 10_000 }));
    expect(isSocketDError(err, 'TLS')).toBe(true);
    expect((err as { details?: { reason?: string } }).details?.reason).toBe('server-speaks-tls');
    expect(err.message).toMatch(/the server speaks TLS: dial it with sd:tcps:\/\/ or pass the tls option/);
    expect(ms).toBeLessThan(5000);
    expect(await waitForLine(logger, /where a TLS ClientHello should be/)).toMatch(/127\.0\.0\.1:\d+: sent a plain Socket\.D frame/);
  });

  it('a TLS client dialling a plain server fails with SOCKETD_ERR_TLS naming sd:tcp://; the server logs the TLS hint', async () => {
    const logger = recordingLogger();
    const { port } = await server('sd:tcp://127.0.0.1:0', { logger });
    const { err, ms } = await connectError(client(`sd:tcps://127.0.0.1:${port}`, { tls: { ca: certs.ca }, connectTimeout: 10_000 }));
    expect(isSocketDError(err, 'TLS')).toBe(true);
    expect(err.message).toMatch(/sd:tcp:\/\//);
    expect(ms).toBeLessThan(5000);
    expect(await waitForLine(logger, /TLS handshake/)).toMatch(/plain tcp/);
  });
});

describe('TLS options', () => {
  it('sd:tcps without tls, tls without a certificate, and tls on a ws server are refused with SOCKETD_ERR_INVALID_ARGUMENT', () => {
    const invalid = (fn: () => unknown): string => {
      try {
        fn();
      } catch (err) {
        expect(isSocketDError(err, 'INVALID_ARGUMENT')).toBe(true);
        return (err as Error).message;
      }
      throw new Error('did not throw');
    };
    expect(invalid(() => new SdServer('sd:tcps://127.0.0.1:0'))).toMatch(/tcps needs the tls option/);
    expect(invalid(() => new SdServer('sd:tcp://127.0.0.1:0', { tls: { ca: certs.ca } }))).toMatch(/key and cert/);
    expect(invalid(() => new SdServer('sd:ws://127.0.0.1:0', { tls: { key: certs.server.key, cert: certs.server.cert } }))).toMatch(/httpServer/);
    expect(invalid(() => new SdServer('sd:tcp://127.0.0.1:0', { tls: true as never }))).toMatch(/tls must be an object/);
    expect(invalid(() => new SdServer('sd:tcp://127.0.0.1:0', { tls: { key: 'not a key', cert: 'not a cert' } }))).toMatch(/^tls: /);
  });
});

describe('TLS options of a client', () => {
  it('a tls option that is not an object fails the connect with SOCKETD_ERR_INVALID_ARGUMENT (tcp and ws check it)', async () => {
    for (const schema of ['tcp', 'ws']) {
      const client = new SdClient(`sd:${schema}://127.0.0.1:1`, { tls: true as never, autoReconnect: false, logger: false });
      const err = await client.connect().then(() => undefined, (e: unknown) => e);
      await client.close();
      expect(isSocketDError(err, 'INVALID_ARGUMENT')).toBe(true);
      expect((err as Error).message).toMatch(/tls must be an object/);
    }
  });
});

describe('TcpConnection over a TLSSocket', () => {
  async function pair(): Promise<{ client: Connection; server: Connection }> {
    const transport = new TcpServerTransport('127.0.0.1', 0, { tls: { key: certs.server.key, cert: certs.server.cert } });
    const accepted = new Queue<Connection>();
    await transport.listen((c) => {
      cleanups.push(() => c.destroy());
      accepted.push(c);
    });
    cleanups.push(() => transport.close());
    const c = await new TcpClientTransport(true).connect(parseUrl(`sd:tcps://127.0.0.1:${transport.address()!.port}`), {
      connectTimeout: 5000, tls: { ca: certs.ca }, highWaterMark: 64 * 1024,
    });
    cleanups.push(() => c.destroy());
    return { client: c, server: await accepted.next() };
  }

  it('frames written in one tick arrive whole and in order (corked into one writev)', async () => {
    const { client: c, server: s } = await pair();
    const rec = new Recorder(s);
    for (let i = 0; i < 500; i++) c.write(messageFrame(i));
    c.writeParts(messageFrame(500).subarray(0, 20), messageFrame(500).subarray(20));
    await rec.until(() => rec.frames.length === 501);
    expect(rec.frames.map((f) => f.sid)).toEqual(Array.from({ length: 501 }, (_, i) => String(i)));
  });

  it('pause() holds the peer back (TLS does not read on behind it) and resume() drains it', async () => {
    const { client: c, server: s } = await pair();
    const rec = new Recorder(s);
    const sender = new Recorder(c);
    s.pause();
    const big = Buffer.alloc(256 * 1024, 7);
    const count = 128; // 32 MiB: more than the kernel's socket buffers hold
    for (let i = 0; i < count; i++) c.write(messageFrame(i, big));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Nothing delivered, and most of it still queued at the sender: the paused reader pushed back.
    expect(rec.frames).toHaveLength(0);
    expect(c.bufferedAmount).toBeGreaterThan(8 * 1024 * 1024);
    s.resume();
    await rec.until(() => rec.frames.length === count);
    await sender.until(() => sender.drains > 0);
    expect(rec.frames.map((f) => f.sid)).toEqual(Array.from({ length: count }, (_, k) => String(k)));
    expect(c.bufferedAmount).toBe(0);
  });
});
