// Child process for crash-rotation.test.ts: runs the real keys code (transpiled from src/keys) and
// rotates a tenant's KEK forever, printing each version once rotate() has resolved (i.e. once the
// new keystore is durable). Every few rotations it also creates and destroys a scratch tenant, so
// the file changes shape too. The parent SIGKILLs it at random moments.
// argv: <keys entry .js> <master key file> <keystore file>
const [entry, masterKeyPath, keystorePath] = process.argv.slice(2);
const { KeyStore } = await import(entry);
// From the file, as the sidecar opens it: destroying a scratch tenant retires the master key (issue 20.4).
const keys = await KeyStore.openWithMasterKeyFile(keystorePath, masterKeyPath);
process.stdout.write('ready\n');
for (let i = 0; ; i++) {
  const version = await keys.rotate('acme');
  process.stdout.write(`rotated ${version}\n`);
  if (i % 3 === 0) {
    const scratch = `scratch-${process.pid}-${i}`;
    await keys.createTenant(scratch);
    if (i % 2 === 0) await keys.destroyTenant(scratch);
  }
}
