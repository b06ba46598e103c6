import type { z } from 'zod';
import { Errors, TgError } from '../errors.js';

/**
 * Parses a request body against a strict schema. The 400 lists each problem as `path: message`;
 * zod messages name the expected shape, never the received value, so nothing from the body is
 * echoed back (L1).
 */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  const reasons = parsed.error.issues.slice(0, 16).map((issue) => `${issue.path.map(String).join('.') || '(body)'}: ${describe(issue)}`);
  throw new TgError(Errors.BAD_REQUEST, { reasons });
}

/** Unknown keys are named by the caller: say that there are some, never which (L1). */
function describe(issue: z.core.$ZodIssue): string {
  return issue.code === 'unrecognized_keys' ? `${issue.keys.length} unknown field(s); see docs/api.md for the accepted ones` : issue.message;
}
