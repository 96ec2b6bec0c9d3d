// The TLS material of the OpenVPN leg, made at run time with the openssl CLI in the leg's
// temp directory: a throwaway CA and two certificates it signs (ECDSA P-256, valid one
// day), one for the server end (extendedKeyUsage serverAuth, which the client checks with
// --remote-cert-tls server) and one for the client end (clientAuth). Nothing is reused
// between runs; the directory goes when the leg stops.

import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { BenchError, run } from './proc.js';

export interface OpenvpnCerts {
  ca: string;
  server: { cert: string; key: string };
  client: { cert: string; key: string };
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function openssl(args: string[]): Promise<void> {
  const r = await run(undefined, 'openssl', args);
  if (r.code === 127) throw new BenchError('openssl was not found (apt-get install openssl)');
  // the error text names files and subjects only: keys are written to files, never printed
  if (r.code !== 0) throw new BenchError(`openssl ${args[0]} exited ${r.code}: ${r.stderr.trim().split('\n').slice(-2).join(' / ')}`);
}

/** Make the CA and the two end certificates in `dir` (which the caller removes). */
export async function makeOpenvpnCerts(dir: string): Promise<OpenvpnCerts> {
  const p = (n: string): string => join(dir, n);
  await openssl(['req', '-x509', ...KEY, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '1', '-subj', '/CN=tsvpn bench CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const end = async (name: string, usage: 'serverAuth' | 'clientAuth'): Promise<{ cert: string; key: string }> => {
    const ext = p(`${name}.ext`);
    writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=${usage}\n`);
    await openssl(['req', ...KEY, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${name}.bench.example`]);
    await openssl(['x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial',
      '-out', p(`${name}.crt`), '-days', '1', '-extfile', ext]);
    return { cert: p(`${name}.crt`), key: p(`${name}.key`) };
  };
  return { ca: p('ca.crt'), server: await end('server', 'serverAuth'), client: await end('client', 'clientAuth') };
}
