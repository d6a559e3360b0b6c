// Lists the engines in a TensorRT engine cache folder from their sidecars (lib/cache/engine-cache.ts
// writes <key>.json next to <key>.plan). Read-only: validating plans is the cache's job.
import fs from 'node:fs';
import path from 'node:path';
import type { EngineSidecar } from '../cache/engine-cache';

export interface CachedEngine {
  key: string;
  plan: string;
  planSize: number | null;
  /** False when the sidecar exists but its plan file is missing. */
  planPresent: boolean;
  onnx: string[];
  gpu: string | null;
  tensorrt: string | null;
  precision: 'fp16' | 'fp32' | null;
  profiles: EngineSidecar['settings']['profiles'] | null;
  lanes: number | null;
  createdAt: string | null;
}

export async function listCachedEngines(dir: string): Promise<CachedEngine[]> {
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch {
    return []; // no cache folder yet: nothing built
  }
  const out: CachedEngine[] = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    let sidecar: Partial<EngineSidecar>;
    try {
      sidecar = JSON.parse(await fs.promises.readFile(path.join(dir, name), 'utf8')) as Partial<EngineSidecar>;
    } catch {
      continue; // not a sidecar (or being written)
    }
    if (typeof sidecar.key !== 'string' || typeof sidecar.planSha256 !== 'string') continue;
    const plan = path.join(dir, `${sidecar.key}.plan`);
    let planSize: number | null = null;
    try {
      planSize = (await fs.promises.stat(plan)).size;
    } catch {
      planSize = null;
    }
    out.push({
      key: sidecar.key,
      plan,
      planSize,
      planPresent: planSize !== null,
      onnx: sidecar.onnx?.files?.map((f) => f.path) ?? [],
      gpu: sidecar.environment?.gpuName ?? null,
      tensorrt: sidecar.environment?.libraryVersion ?? null,
      precision: sidecar.settings ? (sidecar.settings.fp16 ? 'fp16' : 'fp32') : null,
      profiles: sidecar.settings?.profiles ?? null,
      lanes: sidecar.settings?.lanes ?? null,
      createdAt: sidecar.createdAt ?? null,
    });
  }
  return out;
}
