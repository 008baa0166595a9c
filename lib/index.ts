/** nestjs-socketd: the Socket.D engine and the NestJS transport built on it. */
export * from './engine.js';
