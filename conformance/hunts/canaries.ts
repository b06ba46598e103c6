import { randomBytes } from 'node:crypto';

/**
 * Unique marker content per tenant: planted in KV bytes and figures, then searched for in every
 * response, metric and the audit log, in the encodings a leak would use.
 */
export function canaryFor(tenant: string): string {
  return `CANARY-${tenant}-${randomBytes(6).toString('hex')}`;
}

export function encodings(canary: string): string[] {
  const bytes = Buffer.from(canary, 'utf8');
  return [canary, bytes.toString('hex'), bytes.toString('base64').replace(/=+$/, ''), bytes.toString('base64url').replace(/=+$/, '')];
}

/** The first encoding of any canary found in `text`, or undefined. */
export function findCanary(text: string, canaries: Iterable<string>): string | undefined {
  for (const canary of canaries) for (const form of encodings(canary)) if (text.includes(form)) return canary;
  return undefined;
}
