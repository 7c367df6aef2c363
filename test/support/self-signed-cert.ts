import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface SelfSignedCert {
  certPath: string;
  keyPath: string;
}

/**
 * A self-signed P-256 certificate made by the openssl CLI (Debian package openssl), valid two days:
 * a token issuer's root for the registry's `token` auth, or a TLS server's certificate (`san` such as
 * `IP:127.0.0.1` makes it verifiable for that address with --ca-file).
 */
export function makeSelfSignedCert(
  dir: string,
  name: string,
  options: { san?: string } = {},
): SelfSignedCert {
  const keyPath = join(dir, `${name}.key`);
  const certPath = join(dir, `${name}.crt`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      ...(options.san === undefined ? [] : ['-addext', `subjectAltName=${options.san}`]),
      '-keyout',
      keyPath,
      '-out',
      certPath,
    ],
    { stdio: 'ignore' },
  );
  return { certPath, keyPath };
}
