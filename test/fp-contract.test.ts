// Issue 12, item 19: the host pixel math computes the same bits on aarch64 as on x86-64 (and so as
// the CUDA kernels) because the build passes -ffp-contract=off; without it g++ fuses multiply-adds
// on aarch64. scripts/check-fp-contract.sh builds the host core for both with the cross compiler
// and runs the aarch64 build under qemu; it exits 77 when those tools are not installed.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, test } from 'vitest';

const script = path.join(__dirname, '..', 'scripts', 'check-fp-contract.sh');
const tools = ['aarch64-linux-gnu-g++', 'aarch64-linux-gnu-objdump', 'qemu-aarch64']
  .filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);

describe.skipIf(tools.length > 0)(
  `host math across architectures${tools.length ? ` (skipped: ${tools.join(', ')} not installed; apt-get install g++-aarch64-linux-gnu qemu-user)` : ''}`,
  () => {
    test('aarch64 with -ffp-contract=off gives the x86-64 bits; g++\'s default does not', () => {
      const run = spawnSync('bash', [script], { encoding: 'utf8', timeout: 110_000 });
      expect(run.status, run.stdout + run.stderr).toBe(0);
      const digest = (label: string) => new RegExp(`${label}\\s+digest (\\S+ \\d+)`).exec(run.stdout)?.[1];
      expect(digest('x86-64')).toMatch(/^[0-9a-f]{16} \d+$/);
      expect(digest('aarch64 -ffp-contract=off')).toBe(digest('x86-64'));
      expect(run.stdout).toMatch(/proven: without -ffp-contract=off aarch64 computes different bits/);
    }, 120_000);
  },
);
