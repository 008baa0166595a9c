/**
 * Fresh client process for the RSS scenarios: `node client-proc.js '<json>'` with
 * `{ transport, port, kind, n }`. Connects, warms up, reports `ready` (baseline RSS taken),
 * waits for `go`, runs, reports `{ type: 'done', rss, elapsedMs, count }`.
 */
import 'reflect-metadata';
import { findTransport, loadTransport } from './transports/index.js';
import { RssSampler } from './rss.js';
import { ECHO_PAYLOAD, oneMiB, rssClientWork, type ScenarioKind } from './scenarios.js';

interface Args {
  transport: string;
  port: number;
  kind: ScenarioKind;
  n: number;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as Args;
  const entry = findTransport(args.transport);
  if (!entry) throw new Error(`unknown transport ${args.transport}`);
  const mod = await loadTransport(entry);
  const client = await mod.createClient(args.port, entry.kind);
  await client.echo(ECHO_PAYLOAD);
  oneMiB();
  const rss = new RssSampler();
  rss.start();
  await new Promise<void>((resolve) => {
    process.once('message', () => resolve());
    process.send?.({ type: 'ready' });
  });
  const { elapsedMs, count } = await rssClientWork(client, args.kind, args.n);
  const report = rss.stop();
  process.send?.({ type: 'done', rss: report, elapsedMs, count });
  await Promise.race([client.close(), new Promise((r) => setTimeout(r, 1000))]);
  setTimeout(() => process.exit(0), 50);
}

main().catch((err: unknown) => {
  process.send?.({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
  setTimeout(() => process.exit(1), 50);
});
