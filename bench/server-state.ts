/** Per-process server state shared by the transport handlers and the IPC loop in server.ts. */

let events = 0;
let target = -1;
let onTarget: (() => void) | undefined;

/** Called by every transport's `ev` handler. */
export function countEvent(): void {
  events++;
  if (events === target && onTarget) {
    const fn = onTarget;
    onTarget = undefined;
    target = -1;
    fn();
  }
}

export function eventCount(): number {
  return events;
}

export function resetEvents(): void {
  events = 0;
  target = -1;
  onTarget = undefined;
}

/** Runs `fn` once `n` events were counted (at once if they already were). */
export function whenEvents(n: number, fn: () => void): void {
  if (events >= n) {
    fn();
    return;
  }
  target = n;
  onTarget = fn;
}

/** Byte length of a payload as a handler sees it (Buffer, base64 string, or JSON'd Buffer). */
export function payloadBytes(d: unknown): number {
  if (Buffer.isBuffer(d) || d instanceof Uint8Array) return d.byteLength;
  if (typeof d === 'string') {
    let pad = 0;
    if (d.endsWith('==')) pad = 2;
    else if (d.endsWith('=')) pad = 1;
    return Math.floor((d.length * 3) / 4) - pad;
  }
  if (d && typeof d === 'object' && Array.isArray((d as { data?: unknown }).data)) {
    return (d as { data: unknown[] }).data.length;
  }
  return -1;
}
