// `npm run test:consumers` (after `npm run build`): packs the package, then for each app of
// test/consumers (Nest 11 CommonJS, Nest 12 ESM) installs its lockfile (`npm ci`, from the npm
// cache when it can) plus the tarball, compiles test/consumers/app.ts with the app's own tsc
// (strict, skipLibCheck: false) and runs it: every mapping over real tcp and ws sockets.
// Works in a temporary folder, removed at the end.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const APPS = process.argv.length > 2 ? process.argv.slice(2) : ['nest11-cjs', 'nest12-esm'];
const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

function run(command, args, cwd) {
  execFileSync(command, args, { cwd, stdio: 'inherit' });
}

if (!existsSync(join(root, 'dist', 'lib', 'index.js'))) {
  console.error('dist/lib is missing: run `npm run build` first');
  process.exit(1);
}
const work = mkdtempSync(join(tmpdir(), 'socketd-consumer-apps-'));
let failed = false;
try {
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: root, encoding: 'utf8' }));
  const tarball = join(work, packed[0].filename);
  for (const app of APPS) {
    const started = Date.now();
    const source = join(root, 'test', 'consumers', app);
    const dir = join(work, app);
    mkdirSync(join(dir, 'src'), { recursive: true });
    for (const file of ['package.json', 'package-lock.json', 'tsconfig.json']) copyFileSync(join(source, file), join(dir, file));
    copyFileSync(join(root, 'test', 'consumers', 'app.ts'), join(dir, 'src', 'main.ts'));
    console.log(`== ${app}: npm ci, npm install the tarball, tsc, run`);
    run('npm', ['ci', ...NPM_FLAGS], dir);
    // --no-save: the app's package.json and lockfile stay as committed (the tarball changes every build).
    run('npm', ['install', '--no-save', ...NPM_FLAGS, tarball], dir);
    run(process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], dir);
    try {
      run(process.execPath, [join(dir, 'dist', 'main.js')], dir);
    } catch {
      failed = true;
      console.log(`== ${app}: FAILED`);
      continue;
    }
    console.log(`== ${app}: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
