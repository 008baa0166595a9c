import { Module } from '@nestjs/common';
import { AppController } from './app.controller.js';
import { AuditService } from './audit.service.js';
import { WebController } from './web.controller.js';

@Module({
  controllers: [AppController, WebController],
  providers: [AuditService],
})
export class AppModule {}
