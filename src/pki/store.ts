import { X509Certificate } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Errors, TgError } from '../errors.js';
import {
  type CertificateAuthority,
  type IssuedCertificate,
  certificateAuthorityFromPem,
  createCertificateAuthority,
  issueCertificate,
} from './authority.js';
import { isErrnoCode, makeDirectoryDurably, writeFileDurably } from '../durable-file.js';
import { type CertificateRole, isValidIdSegment } from './spiffe.js';

const PRIVATE_FILE = 0o600;
const PUBLIC_FILE = 0o644;
const PRIVATE_DIR = 0o700;

/**
 * Where everything lives in a PKI directory; the one place that knows the layout.
 *
 *   <dir>/ca.crt  ca.key  revoked.json  issued.json
 *   <dir>/<role>/<id>.crt  <dir>/<role>/<id>.key
 *
 * `issued.json` lists the serial of every certificate saved here, renewed ones included, so a
 * revocation can tell a real serial from a typo (issue 17.8).
 */
export interface PkiPaths {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly revocationList: string;
  readonly issuedSerials: string;
  certificate(role: CertificateRole, id: string): string;
  privateKey(role: CertificateRole, id: string): string;
}

export function pkiPaths(dir: string): PkiPaths {
  const leaf = (role: CertificateRole, id: string, ext: string): string => {
    // The SPIFFE segment grammar has no '/' and refuses '.' and '..', so the joined path stays
    // inside <dir>/<role>/. Checked here too because callers may pass ids from the command line.
    if (!isValidIdSegment(id)) throw new TgError(Errors.BAD_REQUEST, { reasons: ['invalid certificate id'] });
    return join(dir, role, `${id}.${ext}`);
  };
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    revocationList: join(dir, 'revoked.json'),
    issuedSerials: join(dir, 'issued.json'),
    certificate: (role, id) => leaf(role, id, 'crt'),
    privateKey: (role, id) => leaf(role, id, 'key'),
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isErrnoCode(error, 'ENOENT')) return false;
    throw error;
  }
}

/**
 * Saves the CA. Refuses (PKI_EXISTS) when a CA is already there unless `force`: replacing it
 * silently would make every certificate issued so far untrusted.
 * The key is written before the certificate, so a crash in between leaves a directory that
 * loadCertificateAuthority rejects rather than a certificate whose key is gone.
 */
export async function saveCertificateAuthority(
  dir: string,
  ca: CertificateAuthority,
  options: { readonly force?: boolean } = {},
): Promise<PkiPaths> {
  const paths = pkiPaths(dir);
  if (!options.force && ((await exists(paths.caKey)) || (await exists(paths.caCert)))) {
    throw new TgError(Errors.PKI_EXISTS);
  }
  await makeDirectoryDurably(dir, PRIVATE_DIR);
  await writeFileDurably(paths.caKey, ca.keyPem, PRIVATE_FILE);
  await writeFileDurably(paths.caCert, ca.certPem, PUBLIC_FILE);
  return paths;
}

/** Loads and cross-checks the CA of a PKI directory (PKI_INVALID if missing or mismatched). */
export async function loadCertificateAuthority(dir: string): Promise<CertificateAuthority> {
  const paths = pkiPaths(dir);
  let certPem: string;
  let keyPem: string;
  try {
    [certPem, keyPem] = await Promise.all([readFile(paths.caCert, 'utf8'), readFile(paths.caKey, 'utf8')]);
  } catch (error) {
    if (isErrnoCode(error, 'ENOENT')) throw new TgError(Errors.PKI_INVALID, { reasons: ['ca_files_missing'] });
    throw error;
  }
  return certificateAuthorityFromPem(certPem, keyPem);
}

/** Writes `<dir>/<role>/<id>.crt` (0644) and `.key` (0600), replacing an earlier certificate for the same id. */
export async function saveIssuedCertificate(
  dir: string,
  issued: IssuedCertificate,
): Promise<{ readonly certificate: string; readonly privateKey: string }> {
  const paths = pkiPaths(dir);
  const certificate = paths.certificate(issued.role, issued.id);
  const privateKey = paths.privateKey(issued.role, issued.id);
  await makeDirectoryDurably(join(dir, issued.role), PRIVATE_DIR);
  // Remembered before the certificate exists: a crash in between leaves a serial that can be
  // revoked but was never handed out, never a certificate whose serial cannot be revoked.
  await rememberIssuedSerial(dir, issued.serialNumber);
  await writeFileDurably(privateKey, issued.keyPem, PRIVATE_FILE);
  await writeFileDurably(certificate, issued.certPem, PUBLIC_FILE);
  return { certificate, privateKey };
}

/** Lower-case hex without leading zeros, as revoked.json spells serials. */
function serialKey(serial: string): string {
  return serial.replace(/:/g, '').toLowerCase().replace(/^0+(?=.)/, '');
}

async function readIssuedFile(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (isErrnoCode(error, 'ENOENT')) return [];
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as { version?: unknown; serials?: unknown };
    if (parsed.version === 1 && Array.isArray(parsed.serials) && parsed.serials.every((s) => typeof s === 'string')) return parsed.serials as string[];
  } catch {
    // fall through
  }
  throw new TgError(Errors.PKI_INVALID, { reasons: ['issued_list_unreadable'] });
}

async function rememberIssuedSerial(dir: string, serial: string): Promise<void> {
  const path = pkiPaths(dir).issuedSerials;
  const serials = await readIssuedFile(path);
  const key = serialKey(serial);
  if (serials.includes(key)) return;
  await writeFileDurably(path, `${JSON.stringify({ version: 1, serials: [...serials, key] }, null, 2)}
`, PUBLIC_FILE);
}

/**
 * Every serial this PKI directory issued: those in issued.json plus those of the certificates on
 * disk (a directory made before issued.json existed has only the latter).
 */
export async function issuedSerials(dir: string): Promise<Set<string>> {
  const serials = new Set((await readIssuedFile(pkiPaths(dir).issuedSerials)).map(serialKey));
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (!entry.isDirectory()) continue;
    for (const file of await readdir(join(dir, entry.name)).catch(() => [] as string[])) {
      if (!file.endsWith('.crt')) continue;
      try {
        serials.add(serialKey(new X509Certificate(await readFile(join(dir, entry.name, file))).serialNumber));
      } catch {
        // not a certificate: it issued nothing
      }
    }
  }
  return serials;
}

export interface InitPkiOptions {
  readonly trustDomain: string;
  /** DNS names for the sidecar's server certificate. Default ['localhost']. */
  readonly serverDnsNames?: readonly string[];
  /** IP addresses for the server certificate. Default ['127.0.0.1', '::1']. */
  readonly serverIpAddresses?: readonly string[];
  /** Id of the server certificate (`spiffe://<td>/server/<id>`). Default 'tenantguard'. */
  readonly serverId?: string;
  /** Id of the first operator certificate, so someone can administer the sidecar. Default 'admin'. */
  readonly operatorId?: string;
  /** Replace an existing CA (every certificate it issued stops being trusted). */
  readonly force?: boolean;
  readonly now?: Date;
}

export interface InitializedPki {
  readonly paths: PkiPaths;
  readonly ca: CertificateAuthority;
  readonly server: IssuedCertificate;
  readonly operator: IssuedCertificate;
}

/**
 * `tenantguard init` for the PKI: a fresh CA, the sidecar's server certificate and one operator
 * client certificate, all saved durably. Workers and tenants are issued later with
 * issueCertificate + saveIssuedCertificate.
 */
export async function initPkiDirectory(dir: string, options: InitPkiOptions): Promise<InitializedPki> {
  const paths = pkiPaths(dir);
  // Checked before generating keys so a refused init costs nothing; saveCertificateAuthority checks again.
  if (!options.force && ((await exists(paths.caKey)) || (await exists(paths.caCert)))) {
    throw new TgError(Errors.PKI_EXISTS);
  }
  const now = options.now;
  const ca = await createCertificateAuthority({ trustDomain: options.trustDomain, ...(now ? { now } : {}) });
  const [server, operator] = await Promise.all([
    issueCertificate(ca, {
      role: 'server',
      id: options.serverId ?? 'tenantguard',
      ...(options.serverDnsNames ? { dnsNames: options.serverDnsNames } : {}),
      ...(options.serverIpAddresses ? { ipAddresses: options.serverIpAddresses } : {}),
      ...(now ? { now } : {}),
    }),
    issueCertificate(ca, { role: 'operator', id: options.operatorId ?? 'admin', ...(now ? { now } : {}) }),
  ]);
  await saveCertificateAuthority(dir, ca, { force: options.force ?? false });
  await saveIssuedCertificate(dir, server);
  await saveIssuedCertificate(dir, operator);
  return { paths, ca, server, operator };
}
