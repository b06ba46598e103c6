import type { z } from 'zod';
import { Errors, TgError } from '../errors.js';
import { describeIssue } from '../zod-issues.js';

/**
 * Parses a request body against a strict schema. The 400 lists each problem as `path: message`;
 * zod messages name the expected shape, never the received value, so nothing from the body is
 * echoed back (L1).
 */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  // Unknown keys are named by the caller: say that there are some, never which (L1).
  const reasons = parsed.error.issues.slice(0, 16).map((issue) => describeIssue(issue, { whole: '(body)', unknownKeys: 'count' }));
  throw new TgError(Errors.BAD_REQUEST, { reasons });
}
