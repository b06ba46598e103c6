import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Vitest global setup: every temporary directory a test run makes (set-ups, audit logs, sockets,
 * sidecar child processes' files) goes under one run directory, removed when the run ends, so
 * repeated runs do not fill /tmp. Workers and child processes inherit TMPDIR.
 * `TG_KEEP_TEMP=1` keeps it for a post-mortem.
 */
export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'tg-test-run-'));
  process.env['TMPDIR'] = root;
  return () => {
    if (process.env['TG_KEEP_TEMP'] === '1') console.log(`test temp files kept in ${root}`);
    else rmSync(root, { recursive: true, force: true });
  };
}
