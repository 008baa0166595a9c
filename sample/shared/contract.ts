/** What both apps agree on: the Socket.D events (patterns) and their payloads. */
export const Patterns = {
  /** Request/reply: a user by id. */
  getUser: '/user/get',
  /** Stream: `count` ticks, one every few ms. */
  ticks: '/ticks',
  /** Event (fire-and-forget): an audit entry. */
  audit: '/audit',
  /** Request/reply: how many audit entries the server has seen. */
  auditCount: '/audit/count',
  /** Request/reply whose handler first asks the client who it is (server → client). */
  greet: '/greet',
  /** Served by the client app: the server's callback. */
  whoAmI: '/client/whoami',
} as const;

export interface User {
  id: number;
  name: string;
}

export interface AuditEntry {
  action: string;
  by: string;
}

export interface ClientIdentity {
  name: string;
  pid: number;
}

/** Env var through which run-sample.ts hands both apps the URL (`sd:tcp://...` or `sd:ws://...`). */
export const URL_ENV = 'SOCKETD_URL';
export const DEFAULT_URL = 'sd:tcp://127.0.0.1:8602';

/** The token the sample client presents (a real app would read it from its config). */
export const SAMPLE_TOKEN = 'sample-token';
