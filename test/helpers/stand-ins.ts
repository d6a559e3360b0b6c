// Stand-in shared libraries (test/stand-ins/*.c) compiled on the fly: they take the place of NVIDIA
// libraries the machine may not have (libcuda, NVML, TensorRT) so native code that dlopens them can
// be driven, and watched, without a GPU.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const standInsDir = path.join(__dirname, '..', 'stand-ins');
export const ccAvailable = spawnSync('cc', ['--version']).status === 0;

/** Compiles `source` (a file in test/stand-ins or C text) into `<dir>/<soname>`; throws with cc's output. */
export function compileStandIn(dir: string, soname: string, source: string, defines: Record<string, string | number> = {}): string {
  fs.mkdirSync(dir, { recursive: true });
  let file = path.join(standInsDir, source);
  if (!source.endsWith('.c') || !fs.existsSync(file)) {
    file = path.join(dir, `${soname}.c`);
    fs.writeFileSync(file, source);
  }
  const output = path.join(dir, soname);
  const args = ['-shared', '-fPIC', '-O1', ...Object.entries(defines).map(([k, v]) => `-D${k}=${v}`), '-o', output, file];
  const cc = spawnSync('cc', args, { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc ${args.join(' ')} failed:\n${cc.stderr}`);
  return output;
}
