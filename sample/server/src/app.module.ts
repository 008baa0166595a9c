import { Module } from '@nestjs/common';
import { AppController } from './app.controller.js';
import { AuditService } from './audit.service.js';

@Module({
  controllers: [AppController],
  providers: [AuditService],
})
export class AppModule {}
