/**
 * Machine calibration printed in the report's header: the cost of one small `socket.write()`
 * on loopback TCP (each is a write syscall when the socket is writable). Rows that write once
 * per frame (raw-net one-write-per-frame, Nest TCP) are bound by it, so their numbers move with
 * the machine's syscall cost (virtualisation, mitigations) far more than batched rows do.
 */
import net from 'node:net';
import { once } from 'node:events';

export interface WriteCost {
  /** Microseconds per 109-byte write() (one frame per write). */
  singleUs: number;
  /** Microseconds per 109-byte frame when 1000 frames leave in one write(). */
  batchedUs: number;
}

export async function measureWriteCost(): Promise<WriteCost> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(c, 'connect');
  c.setNoDelay(true);
  const [s] = await accepted;
  let got = 0;
  let want = 0;
  let onAll: (() => void) | undefined;
  s.on('data', (d: Buffer) => {
    got += d.length;
    if (got >= want && onAll) onAll();
  });
  const frame = Buffer.alloc(109, 1);
  const batch = Buffer.alloc(109 * 1000, 1);
  const arrived = (bytes: number) =>
    new Promise<void>((resolve) => {
      want += bytes;
      if (got >= want) resolve();
      else onAll = resolve;
    });
  let singleMs = 0;
  let batchedMs = 0;
  const rounds = 20;
  for (let r = 0; r < rounds; r++) {
    const done = arrived(109 * 1000);
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) c.write(frame);
    singleMs += performance.now() - t0;
    await done;
    const done2 = arrived(batch.length);
    const t1 = performance.now();
    c.write(batch);
    batchedMs += performance.now() - t1;
    await done2;
  }
  c.destroy();
  s.destroy();
  server.close();
  return { singleUs: (singleMs * 1000) / (rounds * 1000), batchedUs: (batchedMs * 1000) / (rounds * 1000) };
}
