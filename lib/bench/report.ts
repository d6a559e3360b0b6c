// The `lotus bench --json` document (fields documented in docs/benchmarks.md), the ratios against
// the PyTorch peer, and the human-readable table.
import type { CaseResult, ColdRequest, Stage } from './runner';
import { round, speedup } from './stats';

export const SCHEMA = 'lotus-bench/1';

export interface DeviceFacts {
  kind: 'gpu' | 'cpu';
  name: string;
  [key: string]: unknown;
}

export interface BenchDocument {
  schema: typeof SCHEMA;
  tool: 'lotus-trt' | 'pytorch-reference';
  timestamp: string;
  device: DeviceFacts;
  /** The machine: OS, CPU, and the 1-minute load average when the run started (noise indicator). */
  host: { os: string; cpu: string; cpus: number; loadAverage1m: number };
  backend: string;
  precision: string;
  versions: Record<string, string | null>;
  model: Record<string, unknown>;
  input: { source: 'synthetic' | 'file'; path: string | null; width: number; height: number };
  settings: { resolutions: number[]; concurrency: number[]; batch: number; iterations: number; warmup: number; seed: number };
  load: { ms: number; engine: 'built' | 'cached' | null };
  cold: ColdRequest;
  results: (CaseResult & { networkWidth: number; networkHeight: number })[];
  /** TensorRT only: the session's pools after the run (peak = most bytes held at once). */
  gpuMemory?: { devicePeakBytes: number; deviceCachedBytes: number; pinnedPeakBytes: number; pinnedCachedBytes: number };
  peer?: PeerSection;
  ratios?: Ratio[];
}

export type PeerSection =
  | { available: true; wallMs: number; document: Record<string, unknown> }
  | { available: false; reason: string };

export interface Ratio {
  resolution: number;
  concurrency: 1;
  /** peer p50 latency / our p50 latency (> 1: we are faster). */
  latencyP50: number | null;
  /** peer mean latency / our mean latency. */
  latencyMean: number | null;
  /** our throughput / peer throughput. */
  throughput: number | null;
}

interface PeerCase {
  resolution?: number;
  concurrency?: number;
  batch?: number;
  throughput?: number;
  latency?: { p50?: number; mean?: number };
}

/** Ratios per resolution at concurrency 1, only where both sides measured that resolution and batch size. */
export function computeRatios(ours: readonly CaseResult[], peerDocument: Record<string, unknown>): Ratio[] {
  const peerResults = (Array.isArray(peerDocument.results) ? peerDocument.results : []) as PeerCase[];
  const out: Ratio[] = [];
  for (const mine of ours) {
    if (mine.concurrency !== 1) continue;
    const peer = peerResults.find((p) => p.resolution === mine.resolution && (p.concurrency ?? 1) === 1 && (p.batch ?? 1) === mine.batch);
    if (!peer) continue;
    out.push({
      resolution: mine.resolution,
      concurrency: 1,
      latencyP50: speedup(peer.latency?.p50, mine.latency.p50),
      latencyMean: speedup(peer.latency?.mean, mine.latency.mean),
      throughput: speedup(mine.throughput, peer.throughput),
    });
  }
  return out;
}

/** Rounds every number in a JSON-able value (timings to the microsecond). */
export function roundNumbers<T>(value: T, digits = 3): T {
  if (typeof value === 'number') return round(value, digits) as T;
  if (Array.isArray(value)) return value.map((v) => roundNumbers(v, digits)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = roundNumbers(v, digits);
    return out as T;
  }
  return value;
}

const fmt = (v: number | null | undefined, digits = 1): string =>
  typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '-';

const STAGE_COLUMNS: Stage[] = ['decode', 'preprocess', 'inference', 'postprocess', 'copy'];

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

function describeDevice(d: DeviceFacts | undefined): string {
  if (!d) return 'unknown device';
  return d.kind === 'cpu' ? `CPU ${d.name}${d.cpus ? ` (${d.cpus} cores)` : ''}` : `GPU ${d.name}`;
}

/** A results[] entry of either document (ours, or the peer's parsed JSON). */
interface TableRow {
  resolution?: number;
  concurrency?: number;
  throughput?: number;
  latency?: { p50?: number; p90?: number; p99?: number };
  stages?: Partial<Record<Stage, { mean: number }>>;
}

function resultTable(results: readonly TableRow[]): string {
  const rows: string[][] = [[
    'res', 'conc', 'p50 ms', 'p90 ms', 'p99 ms', 'img/s', ...STAGE_COLUMNS.map((s) => `${s} ms`),
  ]];
  for (const r of results) {
    const stages = r.stages ?? {};
    rows.push([
      String(r.resolution), String(r.concurrency ?? 1), fmt(r.latency?.p50), fmt(r.latency?.p90),
      fmt(r.latency?.p99), fmt(r.throughput, 2), ...STAGE_COLUMNS.map((s) => fmt(stages[s]?.mean)),
    ]);
  }
  return table(rows);
}

/** The report printed without --json. */
export function formatReport(doc: BenchDocument): string {
  const lines: string[] = [];
  const m = doc.model;
  lines.push(`lotus bench: ${doc.backend} backend on ${describeDevice(doc.device)}`);
  lines.push(`model: ${m.path} (${m.task}, ${m.mode}, ${m.precision}; weights: ${m.weights})`);
  lines.push(`input: ${doc.input.source === 'synthetic' ? 'synthetic' : doc.input.path} ${doc.input.width}x${doc.input.height}; ` +
    `${doc.settings.warmup} warm-up + ${doc.settings.iterations} timed requests per case` +
    (doc.settings.batch > 1 ? `, ${doc.settings.batch} images each (latency per request, img/s per image)` : ''));
  lines.push(`load: ${fmt(doc.load.ms)} ms${doc.load.engine ? ` (engine ${doc.load.engine})` : ''}; ` +
    `cold first request at ${doc.cold.resolution}: ${fmt(doc.cold.ms)} ms`);
  lines.push('');
  lines.push(resultTable(doc.results));
  lines.push('(latency: wall clock per request; stage columns: mean of result.timings)');
  if (doc.gpuMemory) {
    const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
    lines.push(`GPU pools: device peak ${mib(doc.gpuMemory.devicePeakBytes)} (cached ${mib(doc.gpuMemory.deviceCachedBytes)}), ` +
      `pinned host peak ${mib(doc.gpuMemory.pinnedPeakBytes)} (cached ${mib(doc.gpuMemory.pinnedCachedBytes)}); engine memory not included`);
  }

  if (doc.peer) {
    lines.push('');
    if (!doc.peer.available) {
      lines.push(`PyTorch peer: not run - ${doc.peer.reason}`);
      lines.push('No ratio is printed.');
    } else {
      const p = doc.peer.document as unknown as BenchDocument;
      lines.push(`PyTorch peer (same run): ${p.backend} ${p.precision} on ${describeDevice(p.device)}; ` +
        `weights: ${String(p.model?.weights)}; load ${fmt(p.load?.ms)} ms, cold ${fmt(p.cold?.ms)} ms`);
      lines.push(resultTable((p.results ?? []) as TableRow[]));
      if (doc.ratios && doc.ratios.length > 0) {
        lines.push('');
        lines.push('Ratio, concurrency 1 (peer latency / ours; > 1 means lotus-trt is faster):');
        for (const r of doc.ratios) {
          lines.push(`  res ${r.resolution}: p50 ${fmt(r.latencyP50, 2)}x, mean ${fmt(r.latencyMean, 2)}x, ` +
            `throughput ${fmt(r.throughput, 2)}x`);
        }
      } else {
        lines.push('No resolution was measured by both; no ratio.');
      }
    }
  }
  return lines.join('\n');
}
