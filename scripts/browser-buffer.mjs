// Injected by esbuild into the browser bundle (scripts/build-browser.mjs): every free `Buffer`
// of lib/protocol and lib/session resolves to the `buffer` package, a Uint8Array subclass with
// Node's Buffer API, so the engine's codec runs unchanged in the browser.
export { Buffer } from 'buffer';
