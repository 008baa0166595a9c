/** Chromium, ports and the recorded vectors for the browser tests. */
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, BrowserType } from 'playwright-core';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The recorded vectors, cloned beside the repository (see test/protocol/vectors.spec.ts). */
export const VECTORS = path.join(REPO_ROOT, 'test/fixtures/socketd-vectors');
/** Debian's Chromium (`.ci/run` installs it); CHROMIUM_PATH overrides. */
export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

// No background traffic (this machine's network is closed), no GPU, a fresh profile.
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Headless Chromium with a new empty profile in `userDataDir`. */
export function launchChromium(type: BrowserType, userDataDir: string): Promise<BrowserContext> {
  return type.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1000, height: 1100 },
    timeout: 20_000,
  });
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  probe.close();
  await once(probe, 'close');
  return port;
}

/** One recorded frame and what it must decode to (file relative to {@link VECTORS}). */
export interface VectorExpectation {
  file: string;
  flag: number;
  frameLength: number;
  sid: string;
  event: string;
  metaString: string;
  metas?: Record<string, string>;
  dataLength: number;
  dataSha256?: string;
  dataText?: string | null;
  storedLength?: number;
}

interface JsPyEntry {
  file: string; flag: number; frameLength: number; sid?: string; event?: string; metaString?: string;
  metas?: Record<string, string>; dataLength?: number; dataSha256?: string; dataText?: string | null;
  truncated?: boolean; storedLength?: number;
}
interface JavaEntry {
  file: string; flag: number; len: number; sid: string | null; event: string | null; metaString: string | null;
  dataLength: number; dataSha256: string | null; dataText: string | null;
}

/** Every vector of index.json and java-tcp/index.json, as test/protocol/vectors.spec.ts reads them. */
export function vectorExpectations(): VectorExpectation[] {
  const read = <T>(file: string): T => JSON.parse(readFileSync(path.join(VECTORS, file), 'utf8')) as T;
  return [
    ...read<{ frames: JsPyEntry[] }>('index.json').frames.map((e): VectorExpectation => ({
      file: e.file, flag: e.flag, frameLength: e.frameLength, sid: e.sid ?? '', event: e.event ?? '',
      metaString: e.metaString ?? '', metas: e.metas, dataLength: e.dataLength ?? 0, dataSha256: e.dataSha256,
      dataText: e.dataText, storedLength: e.truncated ? e.storedLength : undefined,
    })),
    ...read<JavaEntry[]>('java-tcp/index.json').map((e): VectorExpectation => ({
      file: `java-tcp/${e.file}`, flag: e.flag, frameLength: e.len, sid: e.sid ?? '', event: e.event ?? '',
      metaString: e.metaString ?? '', dataLength: e.dataLength, dataSha256: e.dataSha256 ?? undefined, dataText: e.dataText,
    })),
  ];
}
