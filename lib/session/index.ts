export * from './types.js';
export type * from './connection.js';
export { DEFAULT_HIGH_WATER_MARK } from './connection.js';
export { registerTransport, findTransport, transportFor, createClientTransport, createServerTransport } from './transport-registry.js';
export { parseUrl } from './url.js';
export { SdServer, listen } from './server.js';
export { SdClient, connect } from './client.js';
export { DEFAULTS } from './options.js';
export { CANCEL_META } from './session.js';
