// `ix stats` and the NIC: the per-queue table renderReport prints (from a fixture report as
// `ix stats --json` carries it), the per-queue rates from two samples, and the vhost backend's
// counters, which the guest's own per-core counters fill (vhost counts nothing for us).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeNic, rates, renderReport, takeSample, type StatsReport } from '../src/control/stats.js';
import { COUNTERS, queueStatsFromGuest, type QueueStats } from '../src/nic/stats.js';
import { CoreStats } from '../src/abi/index.js';
import type { CoreStatsSample } from '../src/vmm/guest-stats.js';

const fixture = (): StatsReport => JSON.parse(readFileSync(new URL('./fixtures/stats/report-xdp.json', import.meta.url), 'utf8')) as StatsReport;
const zeroQueue = (o: Partial<QueueStats> = {}): QueueStats => ({ ...(Object.fromEntries(COUNTERS.map((c) => [c, 0])) as QueueStats), ...o });

/** a guest core's counters as the VMM reads them (bigints), zero but for `o` */
function guestCore(cpu: number, o: { rxFrames?: bigint; txFrames?: bigint; rxBytes?: bigint; txBytes?: bigint } = {}): CoreStatsSample {
  const s = Object.fromEntries(Object.keys(CoreStats.at).map((k) => [k, 0n])) as unknown as CoreStatsSample;
  return { ...s, rxBatches: Array(8).fill(0n), ...o, cpu, exits: { total: 0, hypercall: 0, kick: 0, halt: 0 } } as CoreStatsSample;
}

describe('ix stats: the NIC per-queue table', () => {
  it('renders one row per queue under a heading naming the backend, its mode and who counted', () => {
    const lines = renderReport(fixture()).trimEnd().split('\n');
    const at = lines.indexOf('NIC queues: backend xdp on vethdp0, zero-copy mode; counted by the backend');
    expect(at).toBeGreaterThan(3); // after the core table (header, 2 cores, total)
    expect(lines[at - 1]).toBe(''); // a blank line between the two tables
    expect(lines[at + 1]).toMatch(/^queue\s+rx pkt\/s\s+tx pkt\/s\s+rx B\/s\s+tx B\/s\s+steered\/s\s+drops\/s\s+ring full\/s\s+refused\/s\s+wakeups\/s$/);
    expect(lines[at + 2]).toMatch(/^\s+0\s+120\.0k\s+118\.0k\s+9\.00M\s+8\.80M\s+0\s+12\s+7\.0\s+0\s+250$/);
    expect(lines[at + 3]).toMatch(/^\s+1\s+80\.0k\s+79\.0k\s+6\.00M\s+5\.90M\s+0\s+0\s+0\s+3\.0\s+0$/);
    expect(lines).toHaveLength(at + 4);
    // the columns line up: every row of the NIC table is as wide as its header
    const w = lines[at + 1]!.length;
    expect(lines[at + 2]!.length).toBe(w);
  });

  it('says when the frames were counted by the guest, and prints no NIC table without a NIC', () => {
    const vhost = { ...fixture(), nic: { backend: 'vhost', device: 'ixtap3', mode: 'copy', counters: 'guest' } } as StatsReport;
    expect(renderReport(vhost)).toMatch(/\nNIC queues: backend vhost on ixtap3, copy mode; frames and bytes as the guest counted them \(the backend counts nothing per queue: drops, refusals and wake-ups read 0/);
    const none = { ...fixture(), nicQueues: null, nic: null };
    expect(renderReport(none)).not.toContain('NIC queues');
    expect(renderReport(none).trimEnd().split('\n')).toHaveLength(5);
  });

  it('describes each backend from its handle', () => {
    expect(describeNic({ tapName: 'ixtap1', xdp: undefined })).toEqual({ backend: 'tap', device: 'ixtap1', mode: 'copy', counters: 'backend' });
    expect(describeNic({ tapName: undefined, xdp: { ifname: 'veth1', sockets: 2, copyMode: 'copy', xdpMode: 'native' } })).toEqual({ backend: 'xdp', device: 'veth1', mode: 'copy', counters: 'backend' });
    expect(describeNic({ tapName: 'ixtap2', xdp: undefined, vhost: { devices: 1, wakePath: 'irqfd' }, counterSource: 'guest' })).toEqual({ backend: 'vhost', device: 'ixtap2', mode: 'copy', counters: 'guest' });
  });

  it('per-queue rates from two samples: bytes, drops, ring full and refusals summed by kind', () => {
    const a = { t: 0, cores: [], nic: [zeroQueue(), zeroQueue()] };
    const b = {
      t: 2000,
      cores: [],
      nic: [
        zeroQueue({ rx_frames: 200, rx_bytes: 20000, tx_frames: 100, tx_bytes: 6400, rx_drop_no_buffer: 4, tx_drop_runt: 2, xdp_rx_ring_full: 6, rx_bad_bad_head: 1, tx_queue_broken: 1, xdp_invalid_descs: 2, wakeups: 10 }),
        zeroQueue({ rx_steered_copies: 8 }),
      ],
    };
    const q = rates(a, b).nicQueues!;
    expect(q[0]).toEqual({ queue: 0, rxFramesPerS: 100, txFramesPerS: 50, rxBytesPerS: 10000, txBytesPerS: 3200, rxSteeredCopiesPerS: 0, dropsPerS: 3, ringFullPerS: 5, refusedPerS: 2, wakeupsPerS: 5 });
    expect(q[1]).toMatchObject({ queue: 1, rxSteeredCopiesPerS: 4, dropsPerS: 0, ringFullPerS: 0, refusedPerS: 0 });
  });
});

describe('vhost: per-queue counters from the guest', () => {
  it('queue q gets core q\'s frame and byte counters; everything else stays the backend\'s', () => {
    const own = [zeroQueue({ wakeups: 0 }), zeroQueue()];
    const out = queueStatsFromGuest(own, [
      { cpu: 1, rxFrames: 30, txFrames: 20, rxBytes: 3000, txBytes: 2000 },
      { cpu: 0, rxFrames: 10, txFrames: 5, rxBytes: 640, txBytes: 320 },
    ]);
    expect(out[0]).toEqual(zeroQueue({ rx_frames: 10, tx_frames: 5, rx_bytes: 640, tx_bytes: 320 }));
    expect(out[1]).toEqual(zeroQueue({ rx_frames: 30, tx_frames: 20, rx_bytes: 3000, tx_bytes: 2000 }));
    expect(own[0]!.rx_frames).toBe(0); // the backend's own array is not written
  });

  it('ignores cores without a queue and values that are not counts', () => {
    const out = queueStatsFromGuest([zeroQueue()], [
      { cpu: 3, rxFrames: 99, txFrames: 99, rxBytes: 99, txBytes: 99 },
      { cpu: -1, rxFrames: 99, txFrames: 99, rxBytes: 99, txBytes: 99 },
      { cpu: 0.5, rxFrames: 99, txFrames: 99, rxBytes: 99, txBytes: 99 },
    ]);
    expect(out).toEqual([zeroQueue()]);
    expect(queueStatsFromGuest([zeroQueue()], [{ cpu: 0, rxFrames: NaN, txFrames: -5, rxBytes: Infinity, txBytes: 7 }])).toEqual([zeroQueue({ tx_bytes: 7 })]);
  });

  it('takeSample fills a guest-counted NIC from the cores and leaves a backend-counted one alone', () => {
    const cores = [guestCore(0, { rxFrames: 12n, txFrames: 11n, rxBytes: 1200n, txBytes: 1100n }), guestCore(1, { rxFrames: 5n })];
    const nic = [zeroQueue(), zeroQueue({ rx_frames: 1 })];
    const g = takeSample(1, cores, nic, 'guest');
    expect(g.nic![0]).toMatchObject({ rx_frames: 12, tx_frames: 11, rx_bytes: 1200, tx_bytes: 1100 });
    expect(g.nic![1]).toMatchObject({ rx_frames: 5, tx_frames: 0 });
    expect(takeSample(1, cores, nic).nic![1]!.rx_frames).toBe(1);
    expect(takeSample(1, cores, null, 'guest').nic).toBeNull();
    // and the rates of two such samples are the guest's frame rates per queue
    const later = takeSample(1001, [guestCore(0, { rxFrames: 112n }), guestCore(1, { rxFrames: 25n })], nic, 'guest');
    expect(rates(g, later).nicQueues!.map((q) => q.rxFramesPerS)).toEqual([100, 20]);
  });
});
