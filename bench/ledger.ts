/**
 * Ledger cost per block as the ledger grows: allocate+free cycles of 16 blocks on a ledger of
 * 10k, 100k and 1M blocks, half of them held by other tenants so lists are long.
 * Run: npm run build && node dist/bench/ledger.js
 */
import { BlockLedger } from '../src/ledger/index.js';
import { reportLine, type BenchResult } from './report.js';

function ledgerOf(size: number): BlockLedger {
  const ledger = new BlockLedger({ pools: [{ name: 'shared', first: 0, last: size - 1 }] });
  for (let t = 0; t < 8; t++) ledger.commit(ledger.registerTenant({ id: `t${t}`, priority: 1 + (t % 5), quotaBlocks: size, pool: 'shared' }).opId);
  // Fill half the ledger with held, cached and dirty blocks of several tenants.
  const fill = Math.floor(size / 2 / 1024);
  for (let i = 0; i < fill; i++) {
    const tenant = `t${1 + (i % 7)}`;
    const got = ledger.allocate(tenant, 1024);
    if (!got.ok) throw new Error('fill failed');
    ledger.commit(got.opId);
    if (i % 3 === 1) ledger.commit((ledger.free(tenant, got.blocks.map((b) => b.id), { cache: true }) as { opId: number }).opId);
    if (i % 3 === 2) ledger.commit((ledger.free(tenant, got.blocks.map((b) => b.id)) as { opId: number }).opId);
  }
  return ledger;
}

export function runLedgerBench(sizes: readonly number[] = [10_000, 100_000, 1_000_000]): BenchResult[] {
  const results: BenchResult[] = [];
  for (const size of sizes) {
    const ledger = ledgerOf(size);
    const cycles = 100_000;
    const cycle = (): void => {
      const got = ledger.allocate('t0', 16);
      if (!got.ok) throw new Error(`allocate failed: ${got.reason}`);
      ledger.commit(got.opId);
      const freed = ledger.free('t0', got.blocks.map((b) => b.id));
      if (!freed.ok) throw new Error('free failed');
      ledger.commit(freed.opId);
    };
    for (let i = 0; i < 5_000; i++) cycle();
    const start = process.hrtime.bigint();
    for (let i = 0; i < cycles; i++) cycle();
    const ns = Number(process.hrtime.bigint() - start) / cycles / 16;
    results.push({ name: `ledger ${size.toLocaleString('en')} blocks`, unit: 'ns/block (alloc+free)', value: ns, extra: { cycles, blocksPerCycle: 16 } });
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const result of runLedgerBench()) console.log(reportLine(result));
}
