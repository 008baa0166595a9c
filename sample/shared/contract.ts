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
  /** Request/reply: which server instance answered, and what it has seen (broker topology). */
  instance: '/instance',
} as const;

/** What the browser page (sample/web) calls, served by WebController over sd:ws. */
export const WebPatterns = {
  /** Stream: counts up every `every` ms until `to` or until the caller cancels. */
  counter: '/web/counter',
  /** Request/reply: the counter's state on the server (`CounterState`). */
  counterState: '/web/counter/state',
  /** Request/reply: bytes in (fragmented by the page), `{ bytes, sha256 }` back. */
  upload: '/web/upload',
  /** Request/reply: `size` bytes of a known pattern back (fragmented by the server). */
  download: '/web/download',
  /** Request/reply: the server then pushes `count` Messages on `/web/news` to the caller. */
  push: '/web/push',
  /** Message from the server to the page. */
  news: '/web/news',
} as const;

/** What `/web/counter/state` answers: is the server still counting, and how far it got. */
export interface CounterState {
  running: boolean;
  count: number;
}

/** Env var: the HTTP port of the hybrid server's page (default 8080; 0 = any free port). */
export const WEB_PORT_ENV = 'SOCKETD_WEB_PORT';

/** The server's Prometheus endpoint (`/metrics`) port; `off` serves none. Default 9464. */
export const METRICS_PORT_ENV = 'SOCKETD_METRICS_PORT';

/** What `/instance` answers: the instance's id and pid, its audit count, its running streams. */
export interface InstanceInfo {
  instance: string;
  pid: number;
  audits: number;
  activeStreams: number;
}

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

/**
 * Broker topology (run-sample.ts, third pass): set on the server app, it plays under
 * {@link PLAYER_NAME} at this broker URL instead of listening; set on the client app, it
 * calls the players through that broker.
 */
export const BROKER_ENV = 'SOCKETD_BROKER';
/** The server instance's id in the broker topology (`A`, `B`). */
export const INSTANCE_ENV = 'SOCKETD_INSTANCE';
/** The name the server instances play under at the broker (the `@` the client targets). */
export const PLAYER_NAME = 'sample';

/** The token the sample client presents (a real app would read it from its config). */
export const SAMPLE_TOKEN = 'sample-token';
