import { describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { SdClient } from '../../lib/engine.js';
import type { ReceivedMessage, Session } from '../../lib/session/index.js';
import { deferred, startServer } from '../support/engine.js';

const echo = {
  onMessage(s: Session, m: ReceivedMessage) {
    s.replyEnd(m, m.data);
  },
};

describe('reconnect backoff', () => {
  it('calls made while the server is down wait for the scheduled attempt: no more attempts than the backoff allows', async () => {
    const { server, url, port } = await startServer('tcp', { ...echo, logger: false });
    const client = new SdClient(url, { reconnectDelay: 200, maxReconnectDelay: 10_000, logger: false });
    await client.connect();
    const down = deferred();
    client.onStatus((s) => { if (s === 'reconnecting') down.resolve(); });
    await server.close();
    await down.promise;
    // The port now accepts TCP and hangs up at once: every attempt fails after its connect.
    let attempts = 0;
    const sockets = new Set<net.Socket>();
    const refuser = net.createServer((socket) => { attempts++; sockets.add(socket); socket.destroy(); });
    await new Promise<void>((resolve) => refuser.listen(port, '127.0.0.1', resolve));
    const started = Date.now();
    const calls: Promise<unknown>[] = [];
    while (Date.now() - started < 1200) {
      calls.push(client.request('/echo', 'x').catch((e) => e));
      calls.push(client.send('/note', 'x').catch((e) => e));
      await new Promise((r) => setTimeout(r, 5));
    }
    const elapsed = Date.now() - started;
    // Delays 200, 400, 800 ms (+-20%): at most 3 attempts in ~1.2 s; allow one more for a slow machine.
    expect(calls.length).toBeGreaterThan(100);
    expect(attempts).toBeGreaterThanOrEqual(1);
    expect(attempts).toBeLessThanOrEqual(Math.max(4, Math.ceil(Math.log2(elapsed / 160 + 1)) + 1));
    await client.close();
    const outcomes = await Promise.all(calls);
    expect(outcomes.every((e) => e instanceof Error)).toBe(true);
    expect(client.status).toBe('closed');
    await new Promise<void>((resolve) => refuser.close(() => resolve()));
  });
});
