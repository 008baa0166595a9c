/** The pure protocol layer: bytes <-> frames, metas, sids, fragments, limits, errors. */
export * from './flags.js';
export * from './constants.js';
export * from './errors.js';
export { unexpectedFlag, type AlarmFrame, type Frame, type FrameOf, type HandshakeFrame, type ReplyFrame, type RequestFrame } from './frame.js';
export * from './frame-codec.js';
export * from './wrong-protocol.js';
export { FieldCache } from './field-cache.js';
export * from './frame-decoder.js';
export * from './metas.js';
export * from './sid.js';
export * from './fragments.js';
