/**
 * Bare `ws` (no framework, no protocol): the WebSocket baseline of the connections scenario
 * (bench/conns.ts). The server echoes each binary message; the client tags requests with a
 * 4-byte id. Only `echo` is implemented: this row is not in the main table.
 */
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { BenchClient, BenchServerHandle, BenchTransportModule } from '../types.js';

const HOST = '127.0.0.1';
const only = (): never => {
  throw new Error('bare-ws implements echo only (connections scenario)');
};

export const transport: BenchTransportModule = {
  async available() {
    return true;
  },

  async startServer(): Promise<BenchServerHandle> {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      ws.on('error', () => ws.terminate());
    });
    server.listen(0, HOST);
    await once(server, 'listening');
    return {
      port: (server.address() as AddressInfo).port,
      close: () =>
        new Promise<void>((resolve) => {
          for (const c of wss.clients) c.terminate();
          wss.close();
          server.close(() => resolve());
        }),
    };
  },

  async createClient(port: number): Promise<BenchClient> {
    const ws = new WebSocket(`ws://${HOST}:${port}`);
    await once(ws, 'open');
    const pending = new Map<number, (b: Buffer) => void>();
    let nextId = 1;
    ws.on('message', (data: Buffer) => {
      const id = data.readUInt32BE(0);
      const fn = pending.get(id);
      pending.delete(id);
      fn?.(data.subarray(4));
    });
    return {
      echo(payload) {
        const id = nextId++;
        const body = Buffer.from(JSON.stringify(payload));
        const b = Buffer.allocUnsafe(4 + body.length);
        b.writeUInt32BE(id >>> 0, 0);
        body.copy(b, 4);
        return new Promise((resolve) => {
          pending.set(id, (r) => resolve(JSON.parse(r.toString())));
          ws.send(b);
        });
      },
      echoBuffer: only,
      put: only,
      emit: only,
      stream: only,
      async close() {
        ws.terminate();
      },
    };
  },
};
