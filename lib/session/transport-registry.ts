import { socketDError } from '../protocol/errors.js';
import type { ClientTransport, ParsedUrl, ServerTransport, ServerTransportOptions, Transport } from './connection.js';

/**
 * Transports by schema, process-wide, for URLs. The package entries register the transports
 * the package ships; a user registers their own with `registerTransport()` before dialling or
 * listening on its schema, or hands transport objects to one server or client (the
 * `transports` option), which are looked up first. Aliases map to the transport that
 * registered them.
 */
const bySchema = new Map<string, Transport>();

/**
 * Makes `transport` serve its schema and aliases (case-insensitive). Registering the same
 * object again is a no-op; a different transport for a taken schema throws, unless `replace`.
 *
 * @throws SocketDError `SOCKETD_ERR_INVALID_ARGUMENT` for a taken or malformed schema.
 */
export function registerTransport(transport: Transport, options: { replace?: boolean } = {}): void {
  const names = [transport.schema, ...(transport.aliases ?? [])].map((name) => name.toLowerCase());
  for (const name of names) {
    if (!/^[a-z][a-z0-9+.-]*$/.test(name) || name === 'sd') {
      throw socketDError('INVALID_ARGUMENT', `'${name}' is not a valid URL schema for a transport`);
    }
    const taken = bySchema.get(name);
    if (taken !== undefined && taken !== transport && !options.replace) {
      throw socketDError('INVALID_ARGUMENT', `schema '${name}' is already served by transport '${taken.schema}' (pass { replace: true } to override)`);
    }
  }
  for (const name of names) bySchema.set(name, transport);
}

/**
 * The transport for a schema or alias (with or without `sd:`), or undefined: the first of
 * `given` (a `transports` option) that names it, else the registered one.
 */
export function findTransport(schema: string, given?: readonly Transport[]): Transport | undefined {
  if (given !== undefined) {
    const found = findGiven(schema, given);
    if (found !== undefined) return found;
  }
  const name = schema.toLowerCase();
  return bySchema.get(name.startsWith('sd:') ? name.slice(3) : name);
}

/** Canonical schemas registered (and `given`), for error messages. */
export function registeredSchemas(given: readonly Transport[] = []): string[] {
  return [...new Set([...given, ...bySchema.values()].map((transport) => transport.schema))];
}

/**
 * The transport for a schema or alias (with or without `sd:`): the first of `given` that
 * names it (a server's or client's `transports` option), else the registered one.
 *
 * @throws SocketDError `SOCKETD_ERR_BAD_URL` for a schema no transport serves.
 */
export function transportFor(schema: string, given?: readonly Transport[]): Transport {
  const transport = findTransport(schema, given);
  if (transport === undefined) throw unsupportedSchema(schema, given);
  return transport;
}

/** The shared client transport for a schema or alias, with or without `sd:`. */
export function createClientTransport(schema: string): ClientTransport {
  return transportFor(schema).client;
}

/** A server transport for a parsed URL. */
export function createServerTransport(url: ParsedUrl, options: ServerTransportOptions = {}): ServerTransport {
  return transportFor(url.schema).createServer(url, options);
}

function findGiven(schema: string, given: readonly Transport[]): Transport | undefined {
  const lower = schema.toLowerCase();
  const name = lower.startsWith('sd:') ? lower.slice(3) : lower;
  return given.find((transport) => transport.schema.toLowerCase() === name
    || (transport.aliases ?? []).some((alias) => alias.toLowerCase() === name));
}

function unsupportedSchema(schema: string, given?: readonly Transport[]) {
  return socketDError('BAD_URL', `Unsupported Socket.D schema '${schema}' (supported: ${registeredSchemas(given).join(', ')})`);
}
