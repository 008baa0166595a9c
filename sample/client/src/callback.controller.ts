import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Patterns, type ClientIdentity } from '../../shared/contract.js';

/** Handlers for the Requests the server starts on the client's connection. */
@Controller()
export class CallbackController {
  @MessagePattern(Patterns.whoAmI)
  whoAmI(@Payload() _data: { asker: string }): ClientIdentity {
    return { name: 'sample-client', pid: process.pid };
  }
}
