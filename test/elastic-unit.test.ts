// Elastic cores without a guest: the live redirection table (rewritten while the NIC steers
// by it), the table a core count asks for (fewest flow groups moved, balanced), the scaler's
// refusals and report, and the scale op over the control socket.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CoreScaler, ScaleError, elasticPrometheus } from '../src/control/scale.js';
import { request, startControlServer } from '../src/control/socket.js';
import { renderElastic } from '../src/control/stats.js';
import { RetaError, SharedReta, groupsPerQueue, rebalanceReta } from '../src/nic/reta.js';
import { MS_RSS_KEY, RssSteering, defaultReta } from '../src/nic/toeplitz.js';

/** an Ethernet + IPv4 + UDP header from src:sport to dst:dport */
function udpFrame(src: number, dst: number, sport: number, dport: number): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8);
  const dv = new DataView(f.buffer);
  dv.setUint16(12, 0x0800);
  f[14] = 0x45;
  f[14 + 9] = 17;
  dv.setUint32(14 + 12, src >>> 0);
  dv.setUint32(14 + 16, dst >>> 0);
  dv.setUint16(34, sport);
  dv.setUint16(36, dport);
  return f;
}

const moved = (a: number[], b: number[]) => a.filter((q, i) => q !== b[i]).length;

describe('rebalanceReta: the table for n cores, fewest flow groups moved', () => {
  it('1 -> 2 -> 1 moves half the groups each way and comes back to the start', () => {
    const one = defaultReta(1, 128);
    const two = rebalanceReta(one, 2);
    expect(groupsPerQueue(two, 2)).toEqual([64, 64]);
    expect(moved(one, two)).toBe(64);
    const back = rebalanceReta(two, 1);
    expect(back).toEqual(one);
    expect(moved(two, back)).toBe(64);
  });
  it('growing takes only the new core\'s share; shrinking moves only the leaving cores\' groups', () => {
    for (const size of [8, 64, 128, 512]) {
      for (let from = 1; from <= 8; from++) {
        const cur = from === 1 ? defaultReta(1, size) : rebalanceReta(defaultReta(1, size), from);
        for (let to = 1; to <= 8; to++) {
          const next = rebalanceReta(cur, to);
          const per = groupsPerQueue(next, 8);
          expect(per.slice(to).every((g) => g === 0)).toBe(true);
          const active = per.slice(0, to);
          expect(Math.max(...active) - Math.min(...active)).toBeLessThanOrEqual(1);
          if (to < from) {
            // only entries of cores >= to changed
            for (let i = 0; i < size; i++) if (cur[i] !== next[i]) expect(cur[i]!).toBeGreaterThanOrEqual(to);
          } else if (to > from) {
            // only entries that now name a new core changed
            for (let i = 0; i < size; i++) if (cur[i] !== next[i]) expect(next[i]!).toBeGreaterThanOrEqual(from);
          } else expect(next).toEqual(cur);
        }
      }
    }
  });
  it('refuses a count below 1', () => {
    expect(() => rebalanceReta([0, 0], 0)).toThrow(RetaError);
  });
});

describe('SharedReta: the table the NIC worker steers by', () => {
  it('a rewrite is seen by steering over the same memory, and bumps the generation', () => {
    const reta = SharedReta.create(defaultReta(1, 128), 2);
    const other = new SharedReta(reta.buffer, 2); // as the worker thread sees it
    const rss = new RssSteering({ key: MS_RSS_KEY, reta: defaultReta(1, 128) }, 2, other.entries);
    const frames = Array.from({ length: 200 }, (_, i) => udpFrame(0x0a000064 + (i % 7), 0x0a000002, 10000 + i, 7));
    expect(frames.every((f) => rss.steer(f, 0, f.length) === 0)).toBe(true);
    expect(reta.generation).toBe(0);
    reta.set(rebalanceReta(reta.snapshot(), 2));
    expect(other.generation).toBe(1);
    const qs = frames.map((f) => rss.steer(f, 0, f.length));
    expect(new Set(qs)).toEqual(new Set([0, 1]));
    reta.set(defaultReta(1, 128));
    expect(frames.every((f) => rss.steer(f, 0, f.length) === 0)).toBe(true);
  });
  it('checks what is written', () => {
    const reta = SharedReta.create(defaultReta(2, 8), 2);
    expect(() => reta.set([0, 1])).toThrow(/2 entries for one of 8/);
    expect(() => reta.set([0, 1, 2, 0, 0, 0, 0, 0])).toThrow(/entry 2 names queue 2; the dataplane has queues 0..1/);
    expect(() => SharedReta.create([0, 0, 0], 1)).toThrow(RetaError);
    expect(() => new RssSteering({ key: MS_RSS_KEY, reta: defaultReta(2, 8) }, 2, new Int32Array(4))).toThrow(/live redirection table has 4 entries/);
  });
});

describe('CoreScaler', () => {
  const make = (conns: number[], min = 1, max = 2) => {
    const reta = SharedReta.create(defaultReta(min, 128), max);
    return { reta, s: new CoreScaler({ name: 'e', min, max, reta, conns: () => conns }) };
  };
  it('scales 1 -> 2 -> 1 and reports each change', async () => {
    const { reta, s } = make([0, 0]);
    expect(s.activeCores).toBe(1);
    const up = await s.scaleTo(2);
    expect(up).toMatchObject({ from: 1, to: 2, groupsMoved: 64 });
    expect(groupsPerQueue(reta.entries, 2)).toEqual([64, 64]);
    const down = await s.scaleTo(1);
    expect(down).toMatchObject({ from: 2, to: 1, groupsMoved: 64 });
    expect(await s.scaleTo(1)).toMatchObject({ from: 1, to: 1, groupsMoved: 0 });
    const r = s.report();
    expect(r).toMatchObject({ minCores: 1, maxCores: 2, activeCores: 1, groupsPerCore: [128, 0], scaleOps: 3, groupsMoved: 128, scaleRefused: 0 });
    expect(r.events.map((e) => [e.from, e.to])).toEqual([[1, 2], [2, 1], [1, 1]]);
    expect(renderElastic(r)).toContain('cores in use: 1 of 2 (min 1); flow groups per core: 128 0');
    const prom = elasticPrometheus('e', r);
    expect(prom).toContain('ix_active_cores{dataplane="e"} 1');
    expect(prom).toContain('ix_flow_groups{dataplane="e",core="1"} 0');
    expect(prom).toContain('ix_flow_groups_moved_total{dataplane="e"} 128');
    expect(prom).toContain('ix_scale_operations_total{dataplane="e"} 3');
  });
  it('refuses counts outside min..max, non-integers and a fixed core count, saying what to do', async () => {
    const { s } = make([0, 0, 0], 1, 3);
    await expect(s.scaleTo(4)).rejects.toThrow("4 cores is outside dataplane 'e''s [cores] min 1 .. max 3; pick a count in that range");
    await expect(s.scaleTo(0)).rejects.toThrow(ScaleError);
    await expect(s.scaleTo(1.5)).rejects.toThrow(/must be an integer from 1 to 3/);
    await expect(s.scaleTo('2')).rejects.toThrow(/must be an integer/);
    expect(s.report().scaleRefused).toBe(4);
    const fixed = make([0, 0], 2, 2).s;
    await expect(fixed.scaleTo(2)).rejects.toThrow(/fixed core count \(2\); give it \[cores\] min and max/);
  });
  it('without a mover: refuses to move groups off a core that holds TCP connections, and leaves the table alone', async () => {
    const conns = [5, 0];
    const { reta, s } = make(conns);
    const before = reta.snapshot();
    await expect(s.scaleTo(2)).rejects.toThrow(/core 0 holds 5 TCP connections in the flow groups that going from 1 to 2 cores would move; this NIC backend \(XDP\) cannot hold/);
    expect(reta.snapshot()).toEqual(before);
    expect(reta.generation).toBe(0);
    conns[0] = 0;
    await s.scaleTo(2);
    // shrinking moves only core 1's groups: connections on core 0 do not stand in the way
    conns[0] = 7;
    conns[1] = 1;
    await expect(s.scaleTo(1)).rejects.toThrow(/core 1 holds 1 TCP connection in/);
    conns[1] = 0;
    expect(await s.scaleTo(1)).toMatchObject({ from: 2, to: 1, groupsMoved: 64 });
  });
});

describe('the scale op over the control socket', () => {
  it('carries its argument to the handler and the refusal back', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ix-scale-')), 'c.sock');
    const { s } = make2();
    const srv = await startControlServer(path, (op, req) => (op === 'scale' ? s.scaleTo(req['cores']) : null));
    try {
      expect(await request(path, 'scale', 3000, { cores: 2 })).toMatchObject({ from: 1, to: 2, groupsMoved: 64 });
      await expect(request(path, 'scale', 3000, { cores: 9 })).rejects.toThrow("the dataplane refused 'scale': 9 cores is outside");
      // the op in args cannot override the op asked for
      expect(await request(path, 'info', 3000, { op: 'scale', cores: 1 })).toBeNull();
      expect(s.activeCores).toBe(2);
    } finally {
      await srv.close();
    }
  });
});

function make2() {
  const reta = SharedReta.create(defaultReta(1, 128), 2);
  return { s: new CoreScaler({ name: 'e', min: 1, max: 2, reta, conns: () => [0, 0] }) };
}
