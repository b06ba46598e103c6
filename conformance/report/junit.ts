import type { ControlResult, RunReport } from '../model.js';
import { escapeAttribute, escapeText } from './escape.js';
import { summarize } from './summary.js';
import { findingLines, referencesLine, waiverLine } from './text.js';

/**
 * JUnit XML for CI test tabs. One testsuite for the whole run, one testcase per control: a
 * control that maps to several frameworks is still one test, so CI failure counts match the
 * number of failing controls. Frameworks, severity and invariants are in each testcase's
 * system-out. 'fail' is a <failure> (message, seed, replay, witness), 'error' an <error>,
 * 'skipped' and 'waived' a <skipped> (the waiver's justification as the message).
 */
export function toJUnitXml(report: RunReport): string {
  const summary = summarize(report);
  const seconds = (ms: number): string => (ms / 1000).toFixed(3);
  const harnessErrors = report.harnessErrors ?? [];
  const lines: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const counts = {
    tests: summary.byStatus.total + harnessErrors.length,
    failures: summary.byStatus.fail,
    errors: summary.byStatus.error + harnessErrors.length,
    skipped: summary.byStatus.skipped + summary.byStatus.waived,
  };
  const countAttrs = `tests="${counts.tests}" failures="${counts.failures}" errors="${counts.errors}" skipped="${counts.skipped}" time="${seconds(summary.durationMs)}"`;
  lines.push(`<testsuites name="tenantguard-conformance" ${countAttrs}>`);
  lines.push(`  <testsuite name="tenantguard conformance" ${countAttrs} timestamp="${escapeAttribute(report.startedAt)}">`);
  lines.push('    <properties>');
  const properties: [string, string][] = [
    ['tool', `${report.tool.name} ${report.tool.version}`],
    ['target', report.target],
    ['seed', String(report.seed)],
    ['runs', String(report.runs)],
    ['startedAt', report.startedAt],
    ['finishedAt', report.finishedAt],
  ];
  for (const fw of Object.values(summary.frameworks)) {
    properties.push([`coverage.${fw.framework}`, `${fw.covered}/${fw.total} covered; failing: ${fw.failing.join(', ') || 'none'}; not covered: ${fw.notCovered.join(', ') || 'none'}`]);
  }
  for (const [name, value] of properties) lines.push(`      <property name="${escapeAttribute(name)}" value="${escapeAttribute(value)}"/>`);
  lines.push('    </properties>');
  for (const result of report.results) lines.push(...testcase(result, seconds(result.durationMs)));
  harnessErrors.forEach((message, i) => {
    lines.push(`    <testcase classname="tenantguard.conformance.harness" name="harness error ${i + 1}" time="0.000">`);
    lines.push(`      <error message="${escapeAttribute(message)}" type="harness-error">${escapeText(message)}</error>`);
    lines.push('    </testcase>');
  });
  lines.push('  </testsuite>');
  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}

function testcase(result: ControlResult, time: string): string[] {
  const { control } = result;
  const out = [`    <testcase classname="tenantguard.conformance.${escapeAttribute(control.kind)}" name="${escapeAttribute(`${control.id}: ${control.title}`)}" time="${time}">`];
  switch (result.status) {
    case 'fail': {
      const finding = result.finding ?? { message: 'control failed (no finding recorded)' };
      const body = [...findingLines(finding)];
      if (result.expiredWaiver) body.push(`waiver expired on ${result.expiredWaiver.expires} (approved by ${result.expiredWaiver.approver})`);
      out.push(`      <failure message="${escapeAttribute(finding.message)}" type="${escapeAttribute(control.severity)}">${escapeText(body.join('\n'))}</failure>`);
      break;
    }
    case 'error': {
      const message = result.error ?? 'harness error (no message recorded)';
      out.push(`      <error message="${escapeAttribute(message)}" type="harness-error">${escapeText(message)}</error>`);
      break;
    }
    case 'waived':
      out.push(`      <skipped message="${escapeAttribute(result.waiver ? waiverLine(result.waiver) : 'waived')}"/>`);
      break;
    case 'skipped':
      out.push(`      <skipped message="${escapeAttribute(result.evidence[0] ?? 'skipped')}"/>`);
      break;
    case 'pass':
      break;
  }
  const systemOut = [
    `severity: ${control.severity}; kind: ${control.kind}; invariants: ${control.invariants.join(', ') || 'none'}`,
    `references: ${referencesLine(result)}`,
    ...(result.status === 'waived' && result.finding ? ['waived finding:', ...findingLines(result.finding)] : []),
    ...(result.evidence.length > 0 ? ['evidence:', ...result.evidence.map((e) => `  - ${e}`)] : []),
  ];
  out.push(`      <system-out>${escapeText(systemOut.join('\n'))}</system-out>`);
  out.push('    </testcase>');
  return out;
}
