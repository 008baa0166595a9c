import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PEM material made for one test run (nothing is checked in). */
export interface TestCerts {
  /** The CA that signed `server` and `client`. */
  readonly ca: Buffer;
  /** A certificate for `127.0.0.1` and `localhost`, signed by `ca`. */
  readonly server: { readonly key: Buffer; readonly cert: Buffer };
  /** A client certificate (CN=socketd-test-client), signed by `ca`. */
  readonly client: { readonly key: Buffer; readonly cert: Buffer };
  /** A second CA, unrelated to `ca`. */
  readonly otherCa: Buffer;
  /** A client certificate signed by `otherCa` (not trusted by a server that trusts `ca`). */
  readonly strangerClient: { readonly key: Buffer; readonly cert: Buffer };
  /** A certificate for `other.example` only, signed by `ca` (a hostname mismatch on 127.0.0.1). */
  readonly wrongHost: { readonly key: Buffer; readonly cert: Buffer };
}

/**
 * Generates a CA, a server certificate for 127.0.0.1/localhost, client certificates and a
 * mismatching one with the `openssl` command line, in a temporary directory removed before
 * returning. EC P-256 keys: a full set takes well under a second.
 */
export function generateTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'socketd-tls-'));
  const run = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const path = (name: string): string => join(dir, name);
  const key = (name: string): void => run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path(name));
  const ca = (name: string, cn: string): void => {
    key(`${name}.key`);
    run('req', '-x509', '-new', '-key', path(`${name}.key`), '-sha256', '-days', '2', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-out', path(`${name}.crt`));
  };
  const leaf = (name: string, cn: string, signer: string, ext: string): void => {
    key(`${name}.key`);
    run('req', '-new', '-key', path(`${name}.key`), '-subj', `/CN=${cn}`, '-out', path(`${name}.csr`));
    writeFileSync(path(`${name}.ext`), ext);
    run('x509', '-req', '-in', path(`${name}.csr`), '-CA', path(`${signer}.crt`), '-CAkey', path(`${signer}.key`),
      '-CAcreateserial', '-days', '2', '-sha256', '-extfile', path(`${name}.ext`), '-out', path(`${name}.crt`));
  };
  try {
    ca('ca', 'socketd-test-ca');
    ca('other-ca', 'socketd-other-ca');
    leaf('server', 'localhost', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    leaf('client', 'socketd-test-client', 'ca', 'extendedKeyUsage=clientAuth\n');
    leaf('stranger', 'socketd-stranger', 'other-ca', 'extendedKeyUsage=clientAuth\n');
    leaf('wrong-host', 'other.example', 'ca', 'subjectAltName=DNS:other.example\nextendedKeyUsage=serverAuth\n');
    const pair = (name: string) => ({ key: readFileSync(path(`${name}.key`)), cert: readFileSync(path(`${name}.crt`)) });
    return {
      ca: readFileSync(path('ca.crt')),
      server: pair('server'),
      client: pair('client'),
      otherCa: readFileSync(path('other-ca.crt')),
      strangerClient: pair('stranger'),
      wrongHost: pair('wrong-host'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
