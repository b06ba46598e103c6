import type { ControlResult, Finding, HistoryEntry, Waiver } from '../model.js';

/**
 * Plain-text renderings shared by the console and JUnit writers, so a failure reads the same in a
 * terminal and in a CI test tab.
 */

/** `#3 tenant-b POST /v1/blocks/access -> 200 (read A's block without scrub)` */
export function formatStep(entry: HistoryEntry): string {
  return `#${entry.step} ${entry.actor} ${entry.method} ${entry.path} -> ${entry.status}${entry.note ? ` (${entry.note})` : ''}`;
}

/**
 * The finding as lines: message, seed, path, replay command, then the witness steps (at most
 * `maxWitnessSteps`, then a "... N more steps" line).
 */
export function findingLines(finding: Finding, maxWitnessSteps = Number.POSITIVE_INFINITY): string[] {
  const lines = [finding.message];
  if (finding.seed !== undefined) lines.push(`seed: ${finding.seed}`);
  if (finding.path !== undefined) lines.push(`path: ${finding.path}`);
  if (finding.replay !== undefined) lines.push(`replay: ${finding.replay}`);
  if (finding.witness && finding.witness.length > 0) {
    lines.push(`witness (${finding.witness.length} step${finding.witness.length === 1 ? '' : 's'}):`);
    for (const entry of finding.witness.slice(0, maxWitnessSteps)) lines.push(`  ${formatStep(entry)}`);
    const hidden = finding.witness.length - Math.min(finding.witness.length, maxWitnessSteps);
    if (hidden > 0) lines.push(`  ... ${hidden} more step${hidden === 1 ? '' : 's'} (see the HTML or JSON report)`);
  }
  return lines;
}

export function waiverLine(waiver: Waiver): string {
  return `waived until ${waiver.expires} by ${waiver.approver}: ${waiver.justification}`;
}

/** References of a control as one line: `SOC 2 CC6.1, CC6.7; HIPAA 164.312(a)(1)`. */
export function referencesLine(result: ControlResult): string {
  const parts: string[] = [];
  const { soc2 = [], hipaa = [] } = result.control.references ?? {};
  if (soc2.length > 0) parts.push(`SOC 2 ${soc2.join(', ')}`);
  if (hipaa.length > 0) parts.push(`HIPAA ${hipaa.join(', ')}`);
  return parts.length > 0 ? parts.join('; ') : 'no framework references';
}
