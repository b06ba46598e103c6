import { X509Certificate } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { describe, expect, test } from 'vitest';
import {
  createCertificateAuthority,
  issueCertificate,
  loadRevocationList,
  normalizeSerial,
  pkiPaths,
  revokeCertificate,
} from '../../src/pki/index.js';
import { rejection, tempDirs } from './helpers.js';

const freshDir = tempDirs('tg-pki-rev-');

describe('revocation list', () => {
  test('a directory without revoked.json revokes nothing', async () => {
    const list = await loadRevocationList(await freshDir());
    expect(list.serials).toEqual([]);
    expect(list.has('4a01')).toBe(false);
  });

  test('a revoked certificate is found again by the serial Node reports for the peer, after a reload', async () => {
    const dir = await freshDir();
    const ca = await createCertificateAuthority({ trustDomain: 'cluster.test' });
    const [revoked, kept] = await Promise.all([
      issueCertificate(ca, { role: 'tenant', id: 'acme' }),
      issueCertificate(ca, { role: 'tenant', id: 'globex' }),
    ]);
    await revokeCertificate(dir, revoked.serialNumber);

    // A fresh load reads the file, as a restarted sidecar would.
    const list = await loadRevocationList(dir);
    // Node's X509Certificate / getPeerCertificate() spell serials in upper case.
    expect(list.has(new X509Certificate(revoked.certPem).serialNumber)).toBe(true);
    expect(list.has(new X509Certificate(kept.certPem).serialNumber)).toBe(false);
  });

  test('serials match whatever their spelling: case, colons and leading zeros', async () => {
    const dir = await freshDir();
    await revokeCertificate(dir, '00:0A:1B:FF');
    const list = await loadRevocationList(dir);
    expect(list.serials).toEqual(['a1bff']);
    for (const spelling of ['A1BFF', 'a1bff', '0a1bff', '0A:1B:FF', '000A1BFF']) {
      expect(list.has(spelling), spelling).toBe(true);
    }
    expect(list.has('a1bf')).toBe(false);
    expect(list.has('not-hex')).toBe(false);
    expect(normalizeSerial('0')).toBe('0');
    expect(normalizeSerial('xyz')).toBeNull();
  });

  test('revoking twice is idempotent and concurrent revocations are all kept', async () => {
    const dir = await freshDir();
    const serials = Array.from({ length: 12 }, (_, i) => (0x4000 + i).toString(16));
    await Promise.all([...serials, ...serials].map((serial) => revokeCertificate(dir, serial)));
    const list = await loadRevocationList(dir);
    expect(list.serials).toEqual([...serials].sort());
    // The file is written by rename; no temporary siblings survive.
    expect(await readdir(dir)).toEqual(['revoked.json']);
    expect(JSON.parse(await readFile(pkiPaths(dir).revocationList, 'utf8'))).toEqual({ version: 1, serials: list.serials });
  });

  test('a corrupt revocation list fails closed instead of un-revoking everything', async () => {
    const dir = await freshDir();
    const path = pkiPaths(dir).revocationList;
    for (const content of ['{"version":1,"serials":["4a01",', '{"version":2,"serials":[]}', '{"version":1,"serials":["zz"]}', '[]']) {
      await writeFile(path, content);
      const error = await rejection(loadRevocationList(dir));
      expect(error.code).toBe('TG_ERR_PKI_INVALID');
      // Revoking on top of a corrupt list must not silently replace it with a one-entry list.
      expect((await rejection(revokeCertificate(dir, '4a02'))).code).toBe('TG_ERR_PKI_INVALID');
      expect(await readFile(path, 'utf8')).toBe(content);
    }
  });

  test('a serial that is not hexadecimal is refused', async () => {
    const error = await rejection(revokeCertificate(await freshDir(), 'serial-42'));
    expect(error.code).toBe('TG_ERR_BAD_REQUEST');
  });
});
