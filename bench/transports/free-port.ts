/** A free TCP port on 127.0.0.1, for servers that do not report the port they bound. */
import net from 'node:net';
import { once } from 'node:events';

export async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
