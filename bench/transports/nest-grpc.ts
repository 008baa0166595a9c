/**
 * Nest's gRPC transport (`Transport.GRPC`, @grpc/grpc-js + @grpc/proto-loader) with the
 * service of bench/proto/bench.proto. The handlers are BenchController's (nest-app.ts): gRPC
 * routes by `@GrpcMethod` instead of `@MessagePattern`, so a thin controller maps each rpc to
 * the same method. Payloads are protobuf: the echo payload is a message with ECHO_PAYLOAD's
 * fields, a 1 MiB Buffer a `bytes` field. gRPC has no fire-and-forget call: no events row.
 */
import 'reflect-metadata';
import { fileURLToPath } from 'node:url';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientProxyFactory, GrpcMethod, Transport, type ClientGrpc } from '@nestjs/microservices';
import { firstValueFrom, map, type Observable } from 'rxjs';
import type { BenchClient, BenchServerHandle, BenchTransportModule } from '../types.js';
import { BenchController } from './nest-app.js';
import { freePort } from './free-port.js';

const HOST = '127.0.0.1';
// dist-bench/bench/transports/ -> bench/proto/ (the .proto is read at run time, not compiled)
const PROTO = fileURLToPath(new URL('../../../bench/proto/bench.proto', import.meta.url));
const LOADER = { keepCase: true, longs: Number, defaults: true };

interface BenchRpc {
  echo(m: unknown): Observable<unknown>;
  buf(m: { data: Buffer }): Observable<{ data: Buffer }>;
  put(m: { data: Buffer }): Observable<{ n: number }>;
  stream(m: { n: number }): Observable<{ i: number }>;
}

@Controller()
class BenchGrpcController {
  private readonly impl = new BenchController();

  @GrpcMethod('Bench', 'Echo')
  echo(data: unknown): unknown {
    return this.impl.echo(data);
  }

  @GrpcMethod('Bench', 'Buf')
  buf(data: { data: Buffer }): unknown {
    return { data: this.impl.buf(data.data) };
  }

  @GrpcMethod('Bench', 'Put')
  put(data: { data: Buffer }): { n: number } {
    return { n: this.impl.put(data.data) };
  }

  @GrpcMethod('Bench', 'Stream')
  stream(data: { n: number }): Observable<{ i: number }> {
    return this.impl.stream(data.n).pipe(map((i) => ({ i })));
  }
}

@Module({ controllers: [BenchGrpcController] })
class BenchGrpcModule {}

function grpcOptions(url: string) {
  return {
    transport: Transport.GRPC as const,
    options: {
      url,
      package: 'bench',
      protoPath: PROTO,
      loader: LOADER,
      // 1 MiB echo: the default 4 MiB limit is enough; the bench never sends more
    },
  };
}

async function importable(name: string): Promise<boolean> {
  try {
    await import(name);
    return true;
  } catch {
    return false;
  }
}

export const transport: BenchTransportModule = {
  async available() {
    for (const p of ['@grpc/grpc-js', '@grpc/proto-loader']) if (!(await importable(p))) return `${p} not installed`;
    return true;
  },

  bufferNote() {
    return 'protobuf bytes field';
  },

  async startServer(): Promise<BenchServerHandle> {
    // grpc-js binds port 0 but Nest's ServerGrpc does not expose the bound port: pick a free one
    const port = await freePort();
    const app = await NestFactory.createMicroservice(BenchGrpcModule, { ...grpcOptions(`${HOST}:${port}`), logger: ['error', 'warn'] });
    await app.listen();
    return { port, close: () => app.close() };
  },

  async createClient(port: number): Promise<BenchClient> {
    const client = ClientProxyFactory.create(grpcOptions(`${HOST}:${port}`)) as unknown as ClientGrpc & { close(): void };
    const svc = client.getService<BenchRpc>('Bench');
    return {
      echo: (payload) => firstValueFrom(svc.echo(payload)),
      async echoBuffer(buf) {
        return (await firstValueFrom(svc.buf({ data: buf }))).data.length;
      },
      async put(buf) {
        return (await firstValueFrom(svc.put({ data: buf }))).n;
      },
      emit() {
        throw new Error('gRPC has no fire-and-forget call');
      },
      stream(n, onItem) {
        let count = 0;
        return new Promise<number>((resolve, reject) => {
          svc.stream({ n }).subscribe({
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
        client.close();
      },
    };
  },
};
