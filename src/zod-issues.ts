import type { z } from 'zod';

/**
 * How a schema problem reads, everywhere it is shown to a person (config files, request bodies,
 * conformance inputs): `path: message`, the path as it reads in the input (`waivers[2].expires`,
 * `listen.port`). One formatter (issue 13). The audit log turns issues into reason codes instead
 * (audit/schema.ts `issueReasons`), because its records may not name caller-chosen keys.
 */
export function issuePath(path: readonly PropertyKey[], whole = '(top level)'): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') || whole;
}

/**
 * `unknownKeys: 'count'` says how many unknown keys there are, never which: in a request body they
 * are the caller's content and must not come back in an error (L1).
 */
export function describeIssue(issue: z.core.$ZodIssue, options: { whole?: string; unknownKeys?: 'name' | 'count' } = {}): string {
  const message = issue.code === 'unrecognized_keys' && options.unknownKeys === 'count' ? `${issue.keys.length} unknown field(s); see docs/api.md for the accepted ones` : issue.message;
  return `${issuePath(issue.path, options.whole)}: ${message}`;
}
