import type { ReadPacket } from '@nestjs/microservices';
import type { Session } from '../session/types.js';
import { callMetas, unwrapRecord, type SocketDRecordOptions } from './socketd.record-builder.js';
import { isThenable, mergeMetas, type SocketDEntity, type SocketDSerializerLike } from './socketd.serializer.js';

/**
 * Encodes and sends one Message (an `emit()` of a {@link SocketDClient}): true when the socket
 * took it, else a promise that settles once it did (an asynchronous serializer, or a saturated
 * session to drain). Throws what the synchronous part throws. `target` is the broker target
 * (meta `@`) unless the record sets its own.
 */
export function sendEvent(session: Session, event: string, packet: ReadPacket, serializer: SocketDSerializerLike, target?: string): true | Promise<void> {
  const { data, options } = unwrapRecord(packet.data);
  const entity = serializer.serialize(data);
  if (isThenable<SocketDEntity>(entity)) {
    return Promise.resolve(entity).then((e) => {
      const sent = sendEntity(session, event, e, packet, options, target);
      return sent === true ? undefined : sent;
    });
  }
  return sendEntity(session, event, entity, packet, options, target);
}

function sendEntity(
  session: Session,
  event: string,
  entity: SocketDEntity,
  packet: ReadPacket,
  options: Readonly<SocketDRecordOptions>,
  target: string | undefined,
): true | Promise<void> {
  const metas = mergeMetas(entity.metas, packet.metadata, callMetas(options, target));
  // Backpressure for emitters that await their emits: settle once the socket took it.
  return session.send(event, entity.data, { metas }) ? true : session.drain();
}
