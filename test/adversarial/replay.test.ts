// The adversarial replay in npm test (short: header-only bombs, 600 mixed calls, RSS after 200 vs
// after 600) and, with LOTUS_REPLAY=full (scripts/adversarial-replay), in full: real bombs, 5,000
// mixed calls, RSS after 500 vs after 5,000.
import { describe, expect, it } from 'vitest';
import { runReplay } from './replay';

const full = process.env.LOTUS_REPLAY === 'full';

describe('adversarial replay', () => {
  it(`${full ? 'full' : 'short'}: every input ends in a result or a typed error within 10 s, RSS flat`, async () => {
    const report = await runReplay({
      full,
      mixedCalls: full ? 5000 : 600,
      baselineAfter: full ? 500 : 200,
      log: (line) => console.log(line),
    });
    console.log(report.summary);
    expect(report.tally.failures, report.tally.failures.map((f) => `${f.kind}: [${f.group}] ${f.name}: ${f.detail}`).join('\n')).toEqual([]);
    expect(report.tally.crashes).toBe(0);
    expect(report.tally.hangs).toBe(0);
    expect(report.tally.slowestMs).toBeLessThan(10_000);
    expect(Math.abs(report.memory.growth)).toBeLessThan(0.1);
  }, 600_000);
});
