/**
 * Deadlines of many pending things with few distinct durations (a session's requests and
 * streams): one list per duration, in insertion order (so in deadline order), and one Node
 * timer per list for its head. Adding and removing a deadline is O(1) and allocates one small
 * node, where a `setTimeout` per request costs a Timeout object, a closure and an async id
 * (measured: ~300 bytes and ~1 µs per request on the hot path).
 */

/** One pending deadline; `remove` it when what it guards settles first. */
export interface Deadline<T> {
  readonly item: T;
  /** `performance.now()` at which the deadline passes. */
  readonly at: number;
}

interface Node<T> extends Deadline<T> {
  prev: Node<T> | undefined;
  next: Node<T> | undefined;
  list: DeadlineList<T> | undefined;
}

interface DeadlineList<T> {
  readonly ms: number;
  head: Node<T> | undefined;
  tail: Node<T> | undefined;
  size: number;
  timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires (`performance.now()`). */
  firesAt: number;
}

/** setTimeout's largest delay (a larger one fires after 1 ms). */
const MAX_TIMER_DELAY = 2_147_483_647;

export class Deadlines<T> {
  /** One list per distinct duration; created on first use (an idle session needs none). */
  private lists: Map<number, DeadlineList<T>> | undefined;

  /** `onExpire(item)` runs once per deadline that passed before it was removed. */
  constructor(private readonly onExpire: (item: T) => void) {}

  /** Adds a deadline `ms` from now for `item`. */
  add(item: T, ms: number): Deadline<T> {
    const lists = this.lists ??= new Map();
    let list = lists.get(ms);
    if (list === undefined) {
      list = { ms, head: undefined, tail: undefined, size: 0, timer: undefined, firesAt: 0 };
      lists.set(ms, list);
    }
    const at = performance.now() + ms;
    const node: Node<T> = { item, at, prev: list.tail, next: undefined, list };
    if (list.tail === undefined) list.head = node;
    else list.tail.next = node;
    list.tail = node;
    if (++list.size === 1) this.arm(list, at);
    return node;
  }

  /** Removes a deadline that has not passed (no-op when it already passed or was removed). */
  remove(deadline: Deadline<T>): void {
    const node = deadline as Node<T>;
    const list = node.list;
    if (list === undefined) return;
    node.list = undefined;
    if (node.prev === undefined) list.head = node.next;
    else node.prev.next = node.next;
    if (node.next === undefined) list.tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = node.next = undefined;
    // The timer stays armed for the next item; an empty list only stops holding the process open.
    if (--list.size === 0) list.timer?.unref?.(); // (browsers' timers are numbers)
  }

  /** Removes every deadline and stops the timers. */
  clear(): void {
    if (this.lists === undefined) return;
    for (const list of this.lists.values()) {
      clearTimeout(list.timer);
      for (let node = list.head; node !== undefined; node = node.next) node.list = undefined;
    }
    this.lists = undefined;
  }

  // Timers are armed for a list's head; a later item of the same list passes later.
  private arm(list: DeadlineList<T>, at: number): void {
    if (list.timer !== undefined) {
      if (list.firesAt <= at + 1) {
        list.timer.ref?.();
        return;
      }
      clearTimeout(list.timer);
    }
    list.firesAt = at;
    // Beyond setTimeout's range the timer fires early and is re-armed for what is left.
    const delay = Math.min(MAX_TIMER_DELAY, Math.max(1, Math.ceil(at - performance.now())));
    list.timer = setTimeout(() => this.fire(list), delay);
  }

  private fire(list: DeadlineList<T>): void {
    list.timer = undefined;
    const now = performance.now();
    try {
      // Node timers may fire up to a millisecond early relative to performance.now().
      for (let node = list.head; node !== undefined && node.at <= now + 1; node = list.head) {
        this.remove(node);
        this.onExpire(node.item);
      }
    } finally {
      // Re-armed even if onExpire threw: the later deadlines must still pass.
      if (list.head !== undefined) this.arm(list, list.head.at);
      else if (this.lists?.get(list.ms) === list) this.lists.delete(list.ms);
    }
  }
}
