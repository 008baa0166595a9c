/**
 * The bench client of both Nest rows (built-in TCP and our SocketDClient): the same calls on a
 * Nest `ClientProxy`, so the rows differ only by transport and by how a Buffer travels.
 */
import type { ClientProxy } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import type { BenchClient } from '../types.js';

/** A `BenchClient` over a connected `client`; `echoBuffer` and `put` are the row's own (Buffer encoding). */
export function nestBenchClient(client: ClientProxy, binary: Pick<BenchClient, 'echoBuffer' | 'put'>): BenchClient {
  return {
    echo: (payload) => firstValueFrom(client.send('echo', payload)),
    ...binary,
    emit(payload) {
      client.emit('ev', payload);
    },
    stream(n, onItem) {
      let count = 0;
      return new Promise<number>((resolve, reject) => {
        client.send<number>('stream', n).subscribe({
          next() {
            count++;
            if (onItem) onItem();
          },
          error: reject,
          complete: () => resolve(count),
        });
      });
    },
    async close() {
      await client.close();
    },
  };
}
