// GPU data path: kernel parity against the host pipeline (native/tests/lotus_kernel_tests, built by
// scripts/run-native-tests.sh) and the GpuSession surface. Skips, with deviceInfo().reason, without a GPU.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type * as Binding from '../../binding';

const root = path.resolve(__dirname, '..', '..');
const binding = (createRequire(path.join(root, 'package.json'))('node-gyp-build') as (dir: string) => typeof Binding)(root);
const info = binding.deviceInfo();
if (!info.usable) console.warn(`GPU data-path tests skipped: ${info.reason}`);

describe.skipIf(!info.usable)(`GPU data path${info.usable ? '' : ` (skipped: ${info.reason})`}`, () => {
  it('every kernel matches the host pipeline bit for bit (lotus_kernel_tests)', () => {
    const run = spawnSync('bash', [path.join(root, 'scripts', 'run-native-tests.sh'), 'parity'], {
      cwd: root, encoding: 'utf8', timeout: 600_000,
    });
    const output = `${run.stdout}\n${run.stderr}`;
    expect(output).not.toMatch(/^FAIL/m);
    expect(output).toMatch(/^OK: 0 failure\(s\)/m);
    expect(run.status).toBe(0);
  }, 600_000);

  it('pools do not grow over 10,000 pre/post rounds (lotus_kernel_tests --stress)', () => {
    const run = spawnSync('bash', [path.join(root, 'scripts', 'run-native-tests.sh'), 'stress', '10000'], {
      cwd: root, encoding: 'utf8', timeout: 600_000,
    });
    expect(`${run.stdout}`).toMatch(/^PASS stress memory growth/m);
    expect(run.status).toBe(0);
  }, 600_000);

  it('openGpuSession rejects a corrupt plan with a typed error, and bad options naming the parameter', async () => {
    const options = { device: 0, lanes: 1, cudaGraphs: false, task: 'depth' as const, mode: 'generation' as const, sizeMultiple: 8 };
    await expect(binding.openGpuSession(new Uint8Array(64), options))
      .rejects.toMatchObject({ code: expect.stringMatching(/^ERR_LOTUS_(TENSORRT|BACKEND_UNAVAILABLE)$/) });
    await expect(binding.openGpuSession(new Uint8Array(64), { ...options, lanes: 0 })).rejects.toMatchObject({ parameter: 'lanes' });
  });
});
