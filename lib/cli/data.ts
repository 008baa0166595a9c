/** DATA of the command line: the text itself, `@file`, or `-` (stdin); and TLS files. */
import { readFile } from 'node:fs/promises';
import type { TlsClientOptions, TlsServerOptions } from '../transports/transport-options.js';
import { UsageError, type CliCommand } from './args.js';
import { mediaType } from './output.js';

/** Reads everything from a readable stream (stdin). */
async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

async function readLocalFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * The bytes of a DATA argument: `-` reads `stdin`, `@file` the file, anything else is the text
 * (UTF-8). Data marked JSON (`dataType`) must parse, so a typo fails here, not in the peer.
 */
export async function readData(arg: string | undefined, dataType: string | undefined, stdin: NodeJS.ReadableStream): Promise<Buffer | undefined> {
  if (arg === undefined) return undefined;
  let bytes: Buffer;
  if (arg === '-') bytes = await readAll(stdin);
  else if (arg.startsWith('@')) bytes = await readLocalFile(arg.slice(1), 'DATA file');
  else bytes = Buffer.from(arg, 'utf8');
  if (dataType !== undefined && mediaType(dataType).endsWith('json') && bytes.length > 0) {
    try {
      JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw new UsageError(`DATA is marked ${dataType} but is not JSON: ${(err as Error).message}`);
    }
  }
  return bytes;
}

/** The metas to send with data: `Data-Type` when `--data-type` gave one. */
export function dataMetas(command: CliCommand): Record<string, string> {
  return command.dataType === undefined ? { ...command.metas } : { ...command.metas, 'Data-Type': command.dataType };
}

/** Client TLS settings from `--tls-ca/--tls-cert/--tls-key/--insecure` (undefined when none). */
export async function clientTls(command: CliCommand): Promise<TlsClientOptions | undefined> {
  if (command.tlsCa === undefined && command.tlsCert === undefined && command.tlsKey === undefined && !command.insecure) return undefined;
  if ((command.tlsCert === undefined) !== (command.tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const tls: TlsClientOptions = {};
  if (command.tlsCa !== undefined) tls.ca = await readLocalFile(command.tlsCa, '--tls-ca file');
  if (command.tlsCert !== undefined) tls.cert = await readLocalFile(command.tlsCert, '--tls-cert file');
  if (command.tlsKey !== undefined) tls.key = await readLocalFile(command.tlsKey, '--tls-key file');
  if (command.insecure) tls.rejectUnauthorized = false;
  return tls;
}

/** Server TLS settings of `listen` (`--tls-cert` + `--tls-key`, `--tls-ca` for client certificates). */
export async function serverTls(command: CliCommand): Promise<TlsServerOptions | undefined> {
  if (command.tlsCert === undefined && command.tlsKey === undefined) {
    if (command.tlsCa !== undefined) throw new UsageError('--tls-ca on listen needs --tls-cert and --tls-key');
    return undefined;
  }
  if (command.tlsCert === undefined || command.tlsKey === undefined) throw new UsageError('--tls-cert and --tls-key go together');
  const tls: TlsServerOptions = {
    cert: await readLocalFile(command.tlsCert, '--tls-cert file'),
    key: await readLocalFile(command.tlsKey, '--tls-key file'),
  };
  if (command.tlsCa !== undefined) {
    tls.ca = await readLocalFile(command.tlsCa, '--tls-ca file');
    tls.requestCert = true;
    tls.rejectUnauthorized = true;
  }
  return tls;
}
