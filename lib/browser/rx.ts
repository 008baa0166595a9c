/**
 * `nestjs-socketd/browser/rx`: Observables over the browser client, for front ends that use
 * rxjs (an optional peer dependency; only this entry loads it).
 */
import { Observable } from 'rxjs';
import type { SocketDError } from '../protocol/errors.js';
import type { BrowserCallOptions, BrowserMessage, BrowserPayload, SocketDBrowserClient } from './browser-client.js';

/**
 * A cold Observable of one Subscribe: each value the client's `next` gets (every Reply, and a
 * ReplyEnd's data), then completion; unsubscribing cancels the server's stream.
 */
export function observeStream(client: SocketDBrowserClient, event: string, data?: BrowserPayload, options?: BrowserCallOptions): Observable<BrowserMessage> {
  return new Observable<BrowserMessage>((subscriber) => {
    let done = false;
    let cancel: (() => void) | undefined;
    client.subscribe(event, data, {
      next: (reply) => subscriber.next(reply),
      complete: () => {
        done = true;
        subscriber.complete();
      },
      error: (err: SocketDError) => {
        done = true;
        subscriber.error(err);
      },
    }, options).then((subscription) => {
      if (subscriber.closed && !done) subscription.cancel();
      else cancel = () => subscription.cancel();
    }, (err: unknown) => subscriber.error(err));
    return () => {
      if (!done) cancel?.();
    };
  });
}

/** A cold Observable of one Request: its reply, then completion. */
export function observeRequest(client: SocketDBrowserClient, event: string, data?: BrowserPayload, options?: BrowserCallOptions): Observable<BrowserMessage> {
  return new Observable<BrowserMessage>((subscriber) => {
    client.request(event, data, options).then((reply) => {
      subscriber.next(reply);
      subscriber.complete();
    }, (err: unknown) => subscriber.error(err));
  });
}
