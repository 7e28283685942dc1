// Elastic cores without a guest: the live redirection table (rewritten while the NIC steers
// by it), the table a core count asks for (fewest flow groups moved, balanced), the scaler's
// refusals and report, the scale op over the control socket, and the mover's bounded waits
// against cores that answer (or do not) by a script.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CoreScaler, ScaleError, elasticPrometheus } from '../src/control/scale.js';
import { request, startControlServer } from '../src/control/socket.js';
import { renderElastic } from '../src/control/stats.js';
import { RetaError, SharedReta, groupsPerQueue, rebalanceReta } from '../src/nic/reta.js';
import { MS_RSS_KEY, RETA_HOLD, RssSteering, defaultReta } from '../src/nic/toeplitz.js';
import { FlowGroupMover } from '../src/control/migrate.js';
import { PolicyState, batchBucket, reading } from '../src/control/policy.js';
import { BootInfo, MIG_CMD, MigrateCell, readStruct, writeStruct } from '../src/abi/index.js';
import { BOOTINFO_GPA } from '../src/vmm/boot.js';

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

/** Guest memory up to the end of the boot info page, and cores that answer their control
 * cells as guest/kernel/migrate.c does, by a script; a core whose script returns null never
 * runs its command. */
function fakeGuest(script: (core: number, cmd: number) => Partial<Record<'result' | 'total' | 'busy' | 'failed', number>> | null) {
  const view = new DataView(new ArrayBuffer(BOOTINFO_GPA + BootInfo.size));
  const seen: string[] = [];
  const at = (core: number) => BOOTINFO_GPA + BootInfo.at.migrate + core * MigrateCell.size;
  const cell = (core: number) => readStruct(MigrateCell, view, at(core));
  const wake = (core: number) =>
    setImmediate(() => {
      const c = cell(core);
      if (c.cmdSeq === c.doneSeq) return;
      const a = script(core, c.cmd);
      if (a === null) return;
      seen.push(`${core}:${Object.entries(MIG_CMD).find(([, v]) => v === c.cmd)![0]}`);
      writeStruct(MigrateCell, view, at(core), { ...c, result: 0, total: 0, busy: 0, failed: 0, ...a, doneSeq: c.cmdSeq });
    });
  return { view, seen, cell, wake };
}

describe('FlowGroupMover: the host side of a flow-group move', () => {
  const entries = [0, 1, 2];
  it('drains, holds the groups in the NIC while the old core exports, imports on the new core, then points the entries at it', async () => {
    const reta = SharedReta.create(defaultReta(1, 8), 2);
    const heldDuringExport: number[] = [];
    reta.workerSleeping(true); // an idle NIC worker: its next pass reads the table afresh
    const g = fakeGuest((_core, cmd) => {
      if (cmd === MIG_CMD.export) {
        heldDuringExport.push(...entries.map((e) => reta.entries[e]!));
        return { result: 3 };
      }
      return cmd === MIG_CMD.import ? { result: 3 } : {};
    });
    const m = new FlowGroupMover({ view: () => g.view, reta, wake: g.wake });
    const r = await m.move(entries, 0, 1);
    expect(r).toMatchObject({ groups: 3, conns: 3, failed: 0 });
    expect(g.seen).toEqual(['0:hold', '0:export', '1:import', '0:release']);
    expect(heldDuringExport).toEqual(entries.map(() => 0 | RETA_HOLD));
    expect(Array.from(reta.entries)).toEqual([1, 1, 1, 0, 0, 0, 0, 0]);
  });

  it('gives up a HOLD the core does not run within the bound: cancelled, the table untouched, the error names the core and command', async () => {
    const reta = SharedReta.create(defaultReta(1, 8), 2);
    const g = fakeGuest(() => null);
    const m = new FlowGroupMover({ view: () => g.view, reta, wake: g.wake, commandTimeoutMs: 30 });
    await expect(m.move(entries, 0, 1)).rejects.toThrow(/core 0 did not run flow-group command HOLD within 30 ms.*nothing of the groups was moved/);
    expect(g.cell(0).cmd).toBe(MIG_CMD.cancel); // what the core runs when it comes back
    expect(Array.from(reta.entries)).toEqual(new Array(8).fill(0));
  });

  it('a NIC worker that never takes up the held entries: the groups go back to the old core, its hold is cancelled, nothing moved', async () => {
    const reta = SharedReta.create(defaultReta(1, 8), 2);
    const g = fakeGuest(() => ({})); // no worker pass: the table generation is never seen
    const m = new FlowGroupMover({ view: () => g.view, reta, wake: g.wake, tableTimeoutMs: 30 });
    await expect(m.move(entries, 0, 1)).rejects.toThrow(/did not take up the rewritten redirection table within 30 ms.*; the groups stay on core 0, nothing was moved/);
    expect(Array.from(reta.entries)).toEqual(new Array(8).fill(0));
    expect(g.cell(0).cmd).toBe(MIG_CMD.cancel);
    expect(g.seen).toEqual(['0:hold']);
  });

  it('a core that answers the moment it sees the command (another CPU) keeps its answer: the host writes only its own fields', async () => {
    const reta = SharedReta.create(defaultReta(1, 8), 2);
    reta.workerSleeping(true);
    const seqAt = (core: number) => BOOTINFO_GPA + BootInfo.at.migrate + core * MigrateCell.size + MigrateCell.fields.cmdSeq!.at;
    let view: DataView;
    const seen: string[] = [];
    // guest memory where a write of a cell's cmdSeq is answered at once, before the host's
    // next store, as a core polling its cell on the other CPU can
    class RacingView extends DataView {
      override setUint32(off: number, v: number, le?: boolean): void {
        super.setUint32(off, v, le);
        for (const core of [0, 1])
          if (off === seqAt(core)) {
            const cmd = readStruct(MigrateCell, view, seqAt(core) - MigrateCell.fields.cmdSeq!.at).cmd;
            seen.push(`${core}:${Object.entries(MIG_CMD).find(([, c]) => c === cmd)![0]}`);
            const result = cmd === MIG_CMD.export || cmd === MIG_CMD.import ? 3 : 0;
            writeStruct(MigrateCell, view, seqAt(core) - MigrateCell.fields.cmdSeq!.at, { result, total: 0, busy: 0, failed: 0, doneSeq: v });
          }
      }
    }
    view = new RacingView(new ArrayBuffer(BOOTINFO_GPA + BootInfo.size));
    const m = new FlowGroupMover({ view: () => view, reta, wake: () => {}, commandTimeoutMs: 200 });
    expect(await m.move(entries, 0, 1)).toMatchObject({ groups: 3, conns: 3, failed: 0 });
    expect(seen).toEqual(['0:hold', '0:export', '1:import', '0:release']);
  });

  it('connections that stay busy past the drain bound: cancelled, and the error says why they were busy', async () => {
    const reta = SharedReta.create(defaultReta(1, 8), 2);
    const g = fakeGuest((_c, cmd) => (cmd === MIG_CMD.hold || cmd === MIG_CMD.count ? { total: 5, busy: 2, failed: 4 } : {}));
    const m = new FlowGroupMover({ view: () => g.view, reta, wake: g.wake, drainTimeoutMs: 30 });
    await expect(m.move(entries, 0, 1)).rejects.toThrow(/2 of the 5 TCP connections .* within 30 ms \(sending\)/);
    expect(g.seen.at(-1)).toBe('0:cancel');
    expect(Array.from(reta.entries)).toEqual(new Array(8).fill(0));
  });
});

describe('the policy ([cores] policy = "auto")', () => {
  const knobs = { growLoad: 0.7, growQueue: 0.25, shrinkLoad: 0.3, sampleMs: 500, growAfter: 2, shrinkAfter: 3 };
  const ctr = (busy: number, idle: number, batches: number[]) => ({ busyCycles: busy, idleCycles: idle, rxBatches: batches });
  it('reads load (busy share) and queueing (full batches) of the cores in use only', () => {
    const prev = [ctr(0, 0, [0, 0, 0, 0, 0, 0, 0, 0]), ctr(0, 0, [0, 0, 0, 0, 0, 0, 0, 0]), ctr(0, 0, [0, 0, 0, 0, 0, 0, 0, 0])];
    // batch 64 counts in the last bucket (64 and more frames); core 2 is not in use
    const cur = [ctr(80, 20, [5, 10, 0, 0, 0, 0, 0, 10]), ctr(40, 60, [9, 20, 0, 0, 0, 0, 0, 0]), ctr(100, 0, [0, 0, 0, 0, 0, 0, 0, 99])];
    const r = reading(prev, cur, 2, 64);
    expect(r.load).toBeCloseTo(0.6);
    expect(r.queueing).toBeCloseTo(10 / 40);
    expect(batchBucket(64, 8)).toBe(7);
    expect(batchBucket(16, 8)).toBe(5);
    // a counter that went backwards (a reset) counts from zero, as ix stats does
    expect(reading([ctr(500, 500, [0])], [ctr(50, 50, [0])], 1, 64).load).toBeCloseTo(0.5);
  });

  it('grows after grow_after hot samples, shrinks after shrink_after cold ones, and holds in between (hysteresis)', () => {
    const s = new PolicyState(knobs, 1, 3);
    const hot = { load: 0.8, queueing: 0 };
    const queued = { load: 0.2, queueing: 0.5 };
    const mid = { load: 0.5, queueing: 0 };
    const cold = { load: 0.1, queueing: 0 };
    expect(s.step(hot, 1)).toBeNull();
    expect(s.step(mid, 1)).toBeNull(); // the streak breaks
    expect(s.step(hot, 1)).toBeNull();
    expect(s.step(queued, 1)).toBe(2); // queues building count as hot
    // at 2 cores a load of 0.5 is 1.0 on one core: no shrink; nor grow
    for (let i = 0; i < 10; i++) expect(s.step(mid, 2)).toBeNull();
    expect(s.step(cold, 2)).toBeNull();
    expect(s.step(cold, 2)).toBeNull();
    expect(s.step(cold, 2)).toBe(1);
    // never below min, never above max
    for (let i = 0; i < 10; i++) expect(s.step(cold, 1)).toBeNull();
    for (let i = 0; i < 10; i++) expect(s.step(hot, 3)).toBeNull();
    // 0.19 on each of 3 cores is 0.285 on 2: shrinks
    expect([s.step({ load: 0.19, queueing: 0 }, 3), s.step({ load: 0.19, queueing: 0 }, 3), s.step({ load: 0.19, queueing: 0 }, 3)]).toEqual([null, null, 2]);
  });
});
