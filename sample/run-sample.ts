/**
 * `npm run sample`: for sd:tcp, then sd:ws, starts the server app, waits until it listens,
 * runs the client app against it and stops the server. Then the broker topology: a broker,
 * two server instances playing under one name (separate processes), the client app calling
 * through the broker; at the client's request one instance is SIGKILLed midway. Exits 1 if
 * any round trip failed, an app crashed, or the whole run took longer than RUN_TIMEOUT_MS.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BROKER_ENV, INSTANCE_ENV, METRICS_PORT_ENV, URL_ENV, WEB_PORT_ENV } from './shared/contract.js';

const here = dirname(fileURLToPath(import.meta.url));
const SERVER_MAIN = join(here, 'server/src/main.js');
const CLIENT_MAIN = join(here, 'client/src/main.js');
const BROKER_MAIN = join(here, 'broker/main.js');
const RUN_TIMEOUT_MS = 60_000;
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;

const children = new Set<ChildProcess>();

function start(file: string, url: string, env: Record<string, string> = {}): ChildProcess {
  // The server's page (sample/web) on any free port, no metrics port (two instances run at
  // once in the broker topology): only the Socket.D round trips run here.
  const child = fork(file, { env: { ...process.env, [URL_ENV]: url, [WEB_PORT_ENV]: '0', [METRICS_PORT_ENV]: 'off', ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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

/**
 * The broker topology: broker, instances A and B playing under one name, the client through
 * the broker. The client asks (IPC `{ kill: id }`) for an instance to be SIGKILLed and gets
 * `{ killed: id }` once it is gone; the survivor must then answer every call.
 */
async function brokerPass(): Promise<boolean> {
  const url = `sd:tcp://127.0.0.1:${await freePort()}`;
  console.log(`\n── broker ── ${url}: instances A and B play 'sample', the client calls through the broker`);
  const broker = start(BROKER_MAIN, url);
  const instances = new Map<string, ChildProcess>();
  try {
    await ready(broker);
    for (const id of ['A', 'B']) instances.set(id, start(SERVER_MAIN, url, { [BROKER_ENV]: url, [INSTANCE_ENV]: id }));
    await Promise.all([...instances.values()].map(ready));
    const client = start(CLIENT_MAIN, url, { [BROKER_ENV]: url });
    client.on('message', (message: { kill?: string }) => {
      const victim = message.kill === undefined ? undefined : instances.get(message.kill);
      if (victim === undefined) return;
      instances.delete(message.kill!);
      victim.kill('SIGKILL');
      exitCode(victim).then(() => client.connected && client.send({ killed: message.kill }));
    });
    const clientCode = await exitCode(client);
    let ok = clientCode === 0;
    for (const [id, instance] of instances) {
      const code = await stop(instance);
      if (code !== 0) console.log(`  ✗ instance ${id} did not shut down cleanly (exit ${code})`);
      ok &&= code === 0;
    }
    return ok;
  } catch (err) {
    console.log(`  ✗ ${err instanceof Error ? err.message : String(err)}`);
    return false;
  } finally {
    for (const instance of instances.values()) await stop(instance);
    await stop(broker);
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

  const results = { tcp: await pass('tcp'), ws: await pass('ws'), broker: await brokerPass() };
  clearTimeout(timer);
  const ok = results.tcp && results.ws && results.broker;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const status = (passed: boolean): string => (passed ? 'ok' : 'FAILED');
  console.log(`\n${ok ? '✓' : '✗'} sample: tcp ${status(results.tcp)}, ws ${status(results.ws)}, broker ${status(results.broker)} (${seconds} s)`);
  process.exitCode = ok ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error(err);
  killAll();
  process.exit(1);
});
