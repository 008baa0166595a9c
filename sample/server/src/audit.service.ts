import { Injectable } from '@nestjs/common';
import type { AuditEntry } from '../../shared/contract.js';

/** Keeps the audit entries the server received (in memory: it is a sample). */
@Injectable()
export class AuditService {
  private readonly entries: AuditEntry[] = [];

  record(entry: AuditEntry): void {
    this.entries.push(entry);
  }

  get count(): number {
    return this.entries.length;
  }
}
