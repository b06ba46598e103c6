import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig, type SidecarConfig } from '../config/index.js';
import {
  CERTIFICATE_ROLES,
  issueCertificate,
  loadCertificateAuthority,
  loadRevocationList,
  normalizeSerial,
  requireIssuedSerial,
  revokeCertificate,
  saveIssuedCertificate,
  type CertificateRole,
} from '../pki/index.js';
import { Errors, TgError } from '../errors.js';
import { runCommand } from './run-command.js';
import { DEFAULT_SETUP_DIR } from './serve-command.js';

function configOf(configFile: string | undefined): SidecarConfig {
  return loadConfig(configFile ?? process.env['TENANTGUARD_CONFIG'] ?? join(DEFAULT_SETUP_DIR, 'config.yaml'));
}

function pkiDirOf(configFile: string | undefined): string {
  return configOf(configFile).paths.pki;
}

export function registerPkiCommands(program: Command): void {
  const pki = program.command('pki').description('issue, revoke and list certificates of the dev CA');

  pki
    .command('issue')
    .description('issue (or renew) a client certificate spiffe://<trust-domain>/<role>/<id>')
    .argument('<role>', 'operator | worker | tenant')
    .argument('<id>', 'principal id, e.g. a tenant id')
    .option('-c, --config <file>', 'config file (env: TENANTGUARD_CONFIG)')
    .option('--days <n>', 'validity in days', (v) => Number.parseInt(v, 10), 90)
    .option('--force', 'issue a tenant certificate for a tenant id the config does not list', false)
    .action((role: string, id: string, opts: { config?: string; days: number; force: boolean }) =>
      runCommand(async () => {
        if (!['operator', 'worker', 'tenant'].includes(role)) {
          throw new TgError(Errors.BAD_REQUEST, { message: `role must be operator, worker or tenant, not "${role.slice(0, 32)}"` });
        }
        const config = configOf(opts.config);
        // A certificate for a tenant the sidecar does not know is a credential nobody meant to
        // hand out (issue 17.8); --force for one issued ahead of the config change.
        if (role === 'tenant' && !opts.force && !config.tenants.some((t) => t.id === id)) {
          throw new TgError(Errors.UNKNOWN_TENANT, {
            message: `tenant "${id.slice(0, 64)}" is not in the config ${config.file} (tenants: ${config.tenants.map((t) => t.id).join(', ')}); add it under tenants first, or pass --force to issue anyway`,
          });
        }
        const dir = config.paths.pki;
        const ca = await loadCertificateAuthority(dir);
        const issued = await issueCertificate(ca, { role: role as CertificateRole, id, validityDays: opts.days });
        const files = await saveIssuedCertificate(dir, issued);
        console.log(`issued ${issued.spiffeId} serial ${issued.serialNumber} valid until ${issued.notAfter.toISOString()}`);
        console.log(`  cert: ${files.certificate}\n  key:  ${files.privateKey}`);
      }),
    );

  pki
    .command('revoke')
    .description('revoke a certificate by serial number; the running sidecar refuses it within a second')
    .argument('<serial>', 'serial number (hex) as shown by `pki list`')
    .option('-c, --config <file>', 'config file (env: TENANTGUARD_CONFIG)')
    .option('--force', 'revoke a serial this PKI directory has no record of issuing', false)
    .action((serial: string, opts: { config?: string; force: boolean }) =>
      runCommand(async () => {
        const dir = pkiDirOf(opts.config);
        if (!opts.force) await requireIssuedSerial(dir, serial);
        const list = await revokeCertificate(dir, serial);
        console.log(`revoked ${normalizeSerial(serial)}; ${list.serials.length} certificate(s) revoked in total`);
      }),
    );

  pki
    .command('list')
    .description('list issued certificates with serial, SPIFFE id, expiry and revocation state')
    .option('-c, --config <file>', 'config file (env: TENANTGUARD_CONFIG)')
    .action((opts: { config?: string }) =>
      runCommand(async () => {
        const dir = pkiDirOf(opts.config);
        const revoked = await loadRevocationList(dir);
        for (const role of CERTIFICATE_ROLES) {
          let files: string[];
          try {
            files = readdirSync(join(dir, role)).filter((f) => f.endsWith('.crt'));
          } catch {
            continue;
          }
          for (const file of files) {
            const cert = new X509Certificate(readFileSync(join(dir, role, file)));
            const serial = normalizeSerial(cert.serialNumber) ?? cert.serialNumber;
            const state = revoked.has(serial) ? 'REVOKED' : new Date(cert.validTo) < new Date() ? 'expired' : 'valid';
            console.log(`${serial.padEnd(34)} ${(cert.subjectAltName ?? '').padEnd(56)} ${new Date(cert.validTo).toISOString()} ${state}`);
          }
        }
      }),
    );
}
