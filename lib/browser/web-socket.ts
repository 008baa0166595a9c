/**
 * The part of the browser's `WebSocket` the browser transport uses. Declared here instead of
 * pulling TypeScript's DOM library into the whole (Node) build.
 */
export interface BrowserWebSocket {
  binaryType: 'blob' | 'arraybuffer';
  readonly bufferedAmount: number;
  readonly readyState: number;
  readonly protocol: string;
  send(data: ArrayBufferView | ArrayBuffer | string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'error', fn: () => void): void;
  addEventListener(type: 'message', fn: (event: { data: ArrayBuffer | string }) => void): void;
  addEventListener(type: 'close', fn: (event: { code: number; reason: string; wasClean: boolean }) => void): void;
}

/** `WebSocket.OPEN`. */
export const WS_OPEN = 1;

type WebSocketClass = new (url: string, protocols?: string | string[]) => BrowserWebSocket;

/** The global `WebSocket` (browsers, Deno, Node >= 22), or undefined. */
export function globalWebSocket(): WebSocketClass | undefined {
  return (globalThis as { WebSocket?: WebSocketClass }).WebSocket;
}
