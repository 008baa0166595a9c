import { Observable, type Subscriber } from 'rxjs';

function noop(): void {}

/**
 * The Observable `emit()` returns: what Nest's `connectable(..., { connector: () => new
 * Subject() })` gives, for one outcome. Subscribers before the outcome get `undefined` then
 * the completion (or the error); later ones only the completion (or the error).
 */
export class EmitOutcome<T> extends Observable<T> {
  /** 0 pending, 1 completed, 2 failed. */
  private state = 0;
  private failure: unknown;
  private laterFails = false;
  private subscribers: Subscriber<T>[] | undefined;

  /** Settles (completes, or fails with `err` when `fails`) in the end-of-tick microtask shared by every emit. */
  settleLater(fails: boolean, err?: unknown): void {
    this.laterFails = fails;
    this.failure = err;
    LATER.push(this as EmitOutcome<unknown>);
    if (!laterScheduled) {
      laterScheduled = true;
      queueMicrotask(flushLater);
    }
  }

  /** @internal */
  settleNow(): void {
    if (this.laterFails) this.fail(this.failure);
    else this.settle();
  }

  settle(): void {
    if (this.state !== 0) return;
    this.state = 1;
    const subs = this.subscribers;
    this.subscribers = undefined;
    if (subs === undefined) return;
    for (const s of subs) {
      s.next(undefined as T);
      s.complete();
    }
  }

  fail(err: unknown): void {
    if (this.state !== 0) return;
    this.state = 2;
    this.failure = err;
    const subs = this.subscribers;
    this.subscribers = undefined;
    if (subs !== undefined) for (const s of subs) s.error(err);
  }

  /** rxjs' subscribe hook (internal in its typings; Subject overrides it the same way). */
  protected _subscribe(subscriber: Subscriber<T>): () => void {
    if (this.state === 1) {
      subscriber.complete();
      return noop;
    }
    if (this.state === 2) {
      subscriber.error(this.failure);
      return noop;
    }
    (this.subscribers ??= []).push(subscriber);
    return () => {
      const subs = this.subscribers;
      if (subs === undefined) return;
      const i = subs.indexOf(subscriber);
      if (i !== -1) subs.splice(i, 1);
    };
  }
}

let LATER: EmitOutcome<unknown>[] = [];
let laterScheduled = false;

function flushLater(): void {
  laterScheduled = false;
  const list = LATER;
  LATER = [];
  for (let i = 0; i < list.length; i++) list[i]!.settleNow();
}
