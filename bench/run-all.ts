/**
 * `npm run bench`: every benchmark in one run; writes bench/results/latest.json and prints a
 * Markdown table for docs/performance.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../src/project-root.js';
import { runAuditBench } from './audit.js';
import { runLedgerBench } from './ledger.js';
import { runOffloadBench } from './offload.js';
import { runPolicyBench } from './policy-eval.js';
import { machineNote, reportLine, type BenchResult } from './report.js';

const results: BenchResult[] = [];
const record = (batch: BenchResult[]): void => {
  for (const result of batch) {
    console.log(reportLine(result));
    results.push(result);
  }
};

record(await runPolicyBench());
record(runLedgerBench());
record(await runAuditBench());
record(await runOffloadBench());

const dir = join(PROJECT_ROOT, 'bench/results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'latest.json'), JSON.stringify({ machine: machineNote(), results }, null, 2) + '\n');
console.log('\n| benchmark | value | unit |\n|---|---|---|');
for (const r of results) console.log(`| ${r.name} | ${r.value.toFixed(2)} | ${r.unit} |`);
console.log(`\nwritten to bench/results/latest.json`);
