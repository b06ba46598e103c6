import { describe, expect, test } from 'vitest';
import { ConsoleReporter, type ReporterStream } from '../../../conformance/report/index.js';
import { report, result, shrunkFinding } from './fixtures.js';

class Capture implements ReporterStream {
  output = '';
  constructor(
    readonly isTTY: boolean,
    readonly columns?: number,
  ) {}
  write(chunk: string): boolean {
    this.output += chunk;
    return true;
  }
}

const results = [
  result('TG-I2-SCRUB-BEFORE-READ', 'fail', {
    severity: 'critical',
    references: { soc2: ['CC6.1'], hipaa: ['164.312(a)(1)'] },
    finding: shrunkFinding,
    expiredWaiver: { control: 'TG-I2-SCRUB-BEFORE-READ', justification: 'j', approver: 'ciso', expires: '2025-01-01' },
  }),
  result('TG-OK-1', 'pass', { references: { soc2: ['CC6.3', 'CC6.6', 'CC6.7', 'CC7.2', 'CC8.1', 'CC6.1'], hipaa: [] } }),
  result('TG-M1', 'waived', { waiver: { control: 'TG-M1', justification: 'tracked in SEC-1', approver: 'ciso', expires: '2099-01-01' } }),
  result('TG-N1', 'error', { error: 'socket hang up' }),
];
const run = report(results);

function drive(reporter: ConsoleReporter): void {
  reporter.start(results.length);
  for (const r of results) {
    reporter.controlStarted(r.control);
    reporter.controlFinished(r);
  }
  reporter.finish(run);
}

describe('ConsoleReporter', () => {
  test('on a TTY it redraws a progress bar in place with \\r', () => {
    const stream = new Capture(true, 120);
    drive(new ConsoleReporter({ stream, env: {} }));
    expect(stream.output).toContain('\r[..........');
    expect(stream.output).toContain('] 0/4 TG-I2-SCRUB-BEFORE-READ');
    expect(stream.output).toContain('\r[##########..........] 2/4');
    expect(stream.output).toContain('[####################] 4/4');
  });

  test('the bar is cut to the terminal width', () => {
    const stream = new Capture(true, 30);
    drive(new ConsoleReporter({ stream, env: {} }));
    const bars = stream.output.split('\r').filter((s) => s.startsWith('['));
    expect(bars.length).toBeGreaterThan(0);
    for (const bar of bars) expect(bar.trimEnd().length).toBeLessThanOrEqual(29);
  });

  test('without a TTY it prints one plain line per control and no \\r or colour codes', () => {
    const stream = new Capture(false);
    drive(new ConsoleReporter({ stream, env: {} }));
    expect(stream.output).not.toContain('\r');
    expect(stream.output).not.toContain('\u001b[');
    expect(stream.output).toContain('[1/4] FAIL    TG-I2-SCRUB-BEFORE-READ (12 ms)');
    expect(stream.output).toContain('[2/4] PASS    TG-OK-1 (12 ms)');
  });

  test('colours on a TTY, none when NO_COLOR is set', () => {
    const coloured = new Capture(true, 120);
    drive(new ConsoleReporter({ stream: coloured, env: {} }));
    expect(coloured.output).toContain('\u001b[31m');
    const plain = new Capture(true, 120);
    drive(new ConsoleReporter({ stream: plain, env: { NO_COLOR: '1' } }));
    expect(plain.output).not.toContain('\u001b[');
  });

  test('the summary gives per-framework coverage with failing references named', () => {
    const stream = new Capture(false);
    drive(new ConsoleReporter({ stream, env: {} }));
    expect(stream.output).toContain('4 controls: 1 pass, 1 fail, 1 error, 1 waived in 12.5 s (seed 42, 100 runs)');
    expect(stream.output).toContain('SOC 2: 6/6 references covered, 5 passing, 1 failing (CC6.1)');
    expect(stream.output).toMatch(/HIPAA: 1\/7 references covered, 0 passing, 1 failing \(164\.312\(a\)\(1\)\), not covered: /);
  });

  test('each failure is detailed with message, seed, replay command and witness steps', () => {
    const stream = new Capture(false);
    drive(new ConsoleReporter({ stream, env: {} }));
    const out = stream.output;
    expect(out).toContain('FAIL TG-I2-SCRUB-BEFORE-READ (critical) title of TG-I2-SCRUB-BEFORE-READ');
    expect(out).toContain(`  ${shrunkFinding.message}`);
    expect(out).toContain('  seed: 1234');
    expect(out).toContain(`  replay: ${shrunkFinding.replay}`);
    expect(out).toContain('    #2 worker(tenant-a) POST /v1/blocks/free -> 200');
    expect(out).toContain('waiver expired on 2025-01-01');
    expect(out).toContain('ERROR TG-N1 title of TG-N1\n  socket hang up');
    expect(out).toContain('WAIVED TG-M1: waived until 2099-01-01 by ciso: tracked in SEC-1');
  });

  test('long witnesses are cut after maxWitnessSteps', () => {
    const witness = Array.from({ length: 10 }, (_, i) => ({ step: i + 1, actor: 'a', method: 'GET', path: '/x', status: 200 }));
    const stream = new Capture(false);
    new ConsoleReporter({ stream, maxWitnessSteps: 3 }).finish(report([result('TG-W', 'fail', { finding: { message: 'm', witness } })]));
    expect(stream.output).toContain('#3 a GET /x -> 200');
    expect(stream.output).not.toContain('#4 a GET');
    expect(stream.output).toContain('... 7 more steps');
  });

  test('with new failures from a baseline, failures are marked new or known', () => {
    const stream = new Capture(false);
    const reporter = new ConsoleReporter({ stream });
    reporter.finish(report([result('TG-A', 'fail'), result('TG-B', 'fail')]), { newFailures: [result('TG-B', 'fail')] });
    expect(stream.output).toMatch(/FAIL TG-A \(high\) \[known\]/);
    expect(stream.output).toMatch(/FAIL TG-B \(high\) \[new\]/);
    expect(stream.output).toContain('against the baseline: 1 new failure, 1 already known');
  });

  test('run-level harness errors are printed', () => {
    const stream = new Capture(false);
    new ConsoleReporter({ stream }).finish(report([], { harnessErrors: ['target unreachable: ECONNREFUSED'] }));
    expect(stream.output).toContain('HARNESS ERROR target unreachable: ECONNREFUSED');
  });
});
