// Child process for crash-erasure.test.ts: runs the real keys code (transpiled from src/keys) and
// erases tenants forever: each round creates a scratch tenant, then destroys it, which retires the
// master key (issue 20.4: new key file, re-wrapped keystore, rename). It prints `erased <id>` once
// destroyTenant has resolved (the erasure is durable). The parent SIGKILLs it at random moments.
// argv: <keys entry .js> <master key file> <keystore file>
const [entry, masterKeyPath, keystorePath] = process.argv.slice(2);
const { KeyStore } = await import(entry);
const keys = await KeyStore.openWithMasterKeyFile(keystorePath, masterKeyPath);
process.stdout.write('ready\n');
for (let i = 0; ; i++) {
  const scratch = `scratch-${process.pid}-${i}`;
  await keys.createTenant(scratch);
  process.stdout.write(`created ${scratch}\n`);
  await keys.destroyTenant(scratch);
  process.stdout.write(`erased ${scratch}\n`);
}
