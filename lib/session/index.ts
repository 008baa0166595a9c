export * from './types.js';
export { SdServer, listen } from './server.js';
export { SdClient, connect } from './client.js';
export { DEFAULTS } from './options.js';
export { CANCEL_META } from './session.js';
