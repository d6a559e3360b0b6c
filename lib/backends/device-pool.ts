// Several backends of one kind (one TensorRT session per GPU) behind the Backend interface: each run
// goes to the least-loaded member (fewest runs in flight per lane, then fewest images served, then
// the lower device). An estimator always holds a pool, of one member where there is one device, so
// per-device statistics look the same everywhere.
import type { Backend, BackendBatchOutput, BackendRequest, DeviceId, GpuMemoryStats, RgbImage } from './backend';

export interface DeviceStats {
  device: DeviceId;
  backend: 'cpu' | 'tensorrt';
  /** Backend calls running or waiting for a lane on this device now. */
  inFlight: number;
  /** Backend calls and images this device has served (finished or not). */
  runs: number;
  images: number;
  /** The device's buffer pools (TensorRT), else null. */
  memory: GpuMemoryStats | null;
}

export interface PoolMember {
  device: DeviceId;
  backend: Backend;
}

interface Member extends PoolMember {
  inFlight: number;
  runs: number;
  images: number;
}

/** Index of the member a new run should go to (exported for tests of the choice alone). */
export function leastLoaded(members: readonly { inFlight: number; images: number; parallelism: number }[]): number {
  let best = 0;
  for (let i = 1; i < members.length; i++) {
    const a = members[i]!;
    const b = members[best]!;
    // Compare inFlight / parallelism without division: a.inFlight * b.parallelism vs b.inFlight * a.parallelism.
    const load = a.inFlight * b.parallelism - b.inFlight * a.parallelism;
    if (load < 0 || (load === 0 && a.images < b.images)) best = i;
  }
  return best;
}

export class DevicePool implements Backend {
  readonly name: 'cpu' | 'tensorrt';
  readonly maxBatch: number;
  readonly parallelism: number;
  private readonly members: Member[];

  constructor(members: readonly PoolMember[]) {
    if (members.length === 0) throw new RangeError('a device pool needs at least one backend');
    this.members = members.map((m) => ({ ...m, inFlight: 0, runs: 0, images: 0 }));
    this.name = members[0]!.backend.name;
    // A batch must fit whichever device it lands on.
    this.maxBatch = Math.min(...members.map((m) => m.backend.maxBatch));
    this.parallelism = members.reduce((sum, m) => sum + m.backend.parallelism, 0);
  }

  /** The devices, in the order given. */
  get devices(): DeviceId[] {
    return this.members.map((m) => m.device);
  }

  /** The first member's backend (one-device pools: the backend itself). */
  get primary(): Backend {
    return this.members[0]!.backend;
  }

  async run(images: RgbImage[], request: BackendRequest): Promise<BackendBatchOutput> {
    const member = this.members[leastLoaded(this.members.map((m) => ({ ...m, parallelism: m.backend.parallelism })))]!;
    member.inFlight += 1;
    member.runs += 1;
    member.images += images.length;
    try {
      return { ...(await member.backend.run(images, request)), device: member.device };
    } finally {
      member.inFlight -= 1;
    }
  }

  deviceStats(): DeviceStats[] {
    return this.members.map((m) => ({
      device: m.device,
      backend: m.backend.name,
      inFlight: m.inFlight,
      runs: m.runs,
      images: m.images,
      memory: m.backend.memoryStats?.() ?? null,
    }));
  }

  /** One device's pools; several devices: their sums (peaks summed too). Null without GPU pools. */
  gpuMemoryStats(): GpuMemoryStats | null {
    const all = this.members.map((m) => m.backend.memoryStats?.()).filter((s): s is GpuMemoryStats => s !== undefined);
    if (all.length <= 1) return all[0] ?? null;
    const sum = (pick: (s: GpuMemoryStats) => GpuMemoryStats['device']) => {
      const total = { bytesInUse: 0, bytesCached: 0, peakBytes: 0, allocations: 0, reuses: 0, frees: 0 };
      for (const stats of all) for (const key of Object.keys(total) as (keyof typeof total)[]) total[key] += pick(stats)[key];
      return total;
    };
    return { device: sum((s) => s.device), pinned: sum((s) => s.pinned), inFlight: all.reduce((n, s) => n + s.inFlight, 0) };
  }

  async close(): Promise<void> {
    const closed = await Promise.allSettled(this.members.map((m) => m.backend.close()));
    const failed = closed.find((c): c is PromiseRejectedResult => c.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
