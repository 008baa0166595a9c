/**
 * `npm run sample`: for sd:tcp, then sd:ws, starts the server app, waits until it listens,
 * runs the client app against it and stops the server. Exits 1 if any round trip failed, an
 * app crashed, or the whole run took longer than RUN_TIMEOUT_MS.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { URL_ENV } from './shared/contract.js';

const here = dirname(fileURLToPath(import.meta.url));
const SERVER_MAIN = join(here, 'server/src/main.js');
const CLIENT_MAIN = join(here, 'client/src/main.js');
const RUN_TIMEOUT_MS = 60_000;
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;

const children = new Set<ChildProcess>();

function start(file: string, url: string): ChildProcess {
  const child = fork(file, { env: { ...process.env, [URL_ENV]: url }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** A port nobody listens on right now (the OS picks it; freed again for the server). */
async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  probe.close();
  await once(probe, 'close');
  return port;
}

/** Resolves on the server's `{ ready }` message; rejects if it exits or stays silent. */
function ready(server: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server not ready after ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    server.once('message', (message: { ready?: string }) => {
      clearTimeout(timer);
      if (message.ready !== undefined) resolve();
      else reject(new Error(`unexpected message from the server: ${JSON.stringify(message)}`));
    });
    server.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited before listening (${signal ?? `code ${code}`})`));
    });
  });
}

async function exitCode(child: ChildProcess): Promise<number> {
  if (child.exitCode !== null) return child.exitCode;
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return code ?? (signal === null ? 1 : 128);
}

/** SIGTERM (the server closes gracefully and exits 0), SIGKILL if it takes too long. */
async function stop(child: ChildProcess): Promise<number> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? 1;
  const killer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  child.kill('SIGTERM');
  try {
    return await exitCode(child);
  } finally {
    clearTimeout(killer);
  }
}

async function pass(kind: 'tcp' | 'ws'): Promise<boolean> {
  const url = `sd:${kind}://127.0.0.1:${await freePort()}`;
  console.log(`\n── sd:${kind} ── ${url}`);
  const server = start(SERVER_MAIN, url);
  try {
    await ready(server);
    const clientCode = await exitCode(start(CLIENT_MAIN, url));
    const serverCode = await stop(server);
    if (serverCode !== 0) console.log(`  ✗ server did not shut down cleanly (exit ${serverCode})`);
    return clientCode === 0 && serverCode === 0;
  } catch (err) {
    console.log(`  ✗ ${err instanceof Error ? err.message : String(err)}`);
    return false;
  } finally {
    await stop(server);
  }
}

function killAll(): void {
  for (const child of children) child.kill('SIGKILL');
}

async function main(): Promise<void> {
  const started = Date.now();
  const timer = setTimeout(() => {
    console.log(`\n✗ sample run took longer than ${RUN_TIMEOUT_MS / 1000} s; giving up`);
    killAll();
    process.exit(1);
  }, RUN_TIMEOUT_MS);
  process.once('SIGINT', () => {
    killAll();
    process.exit(130);
  });

  const results = { tcp: await pass('tcp'), ws: await pass('ws') };
  clearTimeout(timer);
  const ok = results.tcp && results.ws;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`\n${ok ? '✓' : '✗'} sample: tcp ${results.tcp ? 'ok' : 'FAILED'}, ws ${results.ws ? 'ok' : 'FAILED'} (${seconds} s)`);
  process.exitCode = ok ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error(err);
  killAll();
  process.exit(1);
});
