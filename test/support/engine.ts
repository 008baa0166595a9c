import { createHash } from 'node:crypto';
import { SdClient, SdServer } from '../../lib/engine.js';
import type { ClientOptions, ServerOptions } from '../../lib/session/index.js';

export type Schema = 'tcp' | 'ws';
export const SCHEMAS: Schema[] = ['tcp', 'ws'];

/** Starts an engine server on a random free port of 127.0.0.1. */
export async function startServer(schema: Schema, options: ServerOptions = {}, port = 0): Promise<{ server: SdServer; url: string; port: number }> {
  const server = await new SdServer(`sd:${schema}://127.0.0.1:${port}`, options).listen();
  const bound = server.address()!.port;
  return { server, url: `sd:${schema}://127.0.0.1:${bound}/path?u=a`, port: bound };
}

/** Tracks clients so every test closes what it opened. */
export class Clients {
  private readonly all: SdClient[] = [];
  async open(url: string, options: ClientOptions = {}): Promise<SdClient> {
    const client = new SdClient(url, { autoReconnect: false, ...options });
    this.all.push(client);
    await client.connect();
    return client;
  }
  create(url: string, options: ClientOptions = {}): SdClient {
    const client = new SdClient(url, options);
    this.all.push(client);
    return client;
  }
  async closeAll(): Promise<void> {
    await Promise.all(this.all.splice(0).map((c) => c.close()));
  }
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A deferred value, resolved from a callback. */
export function deferred<T = void>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

/** Resolves when `predicate()` holds, polling every few ms; rejects after `ms`. */
export async function until(predicate: () => boolean, ms = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
