/**
 * nestjs-socketd: the Socket.D engine and the NestJS transport built on it.
 * Engine-only users can import `nestjs-socketd/engine`, which never loads `@nestjs/*` or rxjs.
 */
export * from './engine.js';
export * from './nest/index.js';
