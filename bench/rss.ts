/**
 * Peak-RSS measurement inside one process.
 *
 * Linux: the peak is the kernel's high-water mark `VmHWM` (/proc/self/status), reset at the
 * start of a measurement by writing `5` to /proc/self/clear_refs, so a peak reached while the
 * event loop is blocked is not missed. `process.resourceUsage().maxRSS` is NOT used for the
 * peak: in a forked child it includes the parent's RSS at fork time (the kernel carries the
 * pre-exec high-water mark over exec), so it reads ~100 MB for a 50 MB child. It is kept in
 * the report for reference. Elsewhere, `process.memoryUsage.rss()` is sampled every 20 ms.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { RssReport } from './types.js';

function readHwm(): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function resetHwm(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

export class RssSampler {
  private baseline = 0;
  private peak = 0;
  private hwm = false;
  private timer: NodeJS.Timeout | undefined;

  start(intervalMs = 20): void {
    this.stop();
    this.hwm = resetHwm() && readHwm() !== undefined;
    this.baseline = process.memoryUsage.rss();
    this.peak = this.baseline;
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    const r = process.memoryUsage.rss();
    if (r > this.peak) this.peak = r;
  }

  stop(): RssReport {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    const hwm = this.hwm ? (readHwm() ?? 0) : 0;
    return {
      baseline: this.baseline,
      peak: Math.max(this.peak, hwm),
      sampledPeak: this.peak,
      source: this.hwm ? 'VmHWM' : 'sampled',
      maxRSS: process.resourceUsage().maxRSS * 1024,
    };
  }
}

/** How peaks are measured on this machine. */
export function rssMethod(): string {
  return resetHwm() && readHwm() !== undefined
    ? 'the kernel high-water mark VmHWM (reset with /proc/self/clear_refs at the start of each measurement)'
    : 'process.memoryUsage.rss() sampled every 20 ms';
}
