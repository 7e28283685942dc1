/**
 * Moving flow groups between running cores with their TCP connections (IX's flow-group
 * migration; docs/scale.md, "How a flow group moves"). The host drives each core through its
 * control cell in the boot info page (src/abi/migrate.ts, guest/kernel/migrate.c) and the NIC
 * worker through the shared redirection table (src/nic/reta.ts):
 *
 *   1. HOLD on the old core: it keeps received data of the groups from its app, which
 *      finishes what it has in hand (its replies get acknowledged: frames still arrive);
 *   2. COUNT until no connection of the groups is busy (bounded: else CANCEL, nothing moved);
 *   3. the NIC holds the groups' frames (entry | RETA_HOLD) and we wait until the worker
 *      steers by the new entries;
 *   4. EXPORT on the old core: it takes in what was already in its ring, then hands every
 *      connection over (DEAD(IX_EMOVED) to its app, nothing to the peer);
 *   5. IMPORT on the new core: it adopts them (KNOCK to its app, the held bytes copied);
 *   6. RELEASE on the old core: it frees what it kept aside;
 *   7. the entries name the new core: the NIC hands it the held frames first, in order.
 * No frame of a moving group is delivered to either core between 3 and 7, and none reaches
 * the new core before its connection exists there.
 */
import { performance } from 'node:perf_hooks';
import { BootInfo, MIG_CMD, MigrateCell, readField1, readStruct, writeStruct } from '../abi/index.js';
import { BOOTINFO_GPA } from '../vmm/boot.js';
import type { SharedReta } from '../nic/reta.js';
import { RETA_HOLD } from '../nic/toeplitz.js';

export class MigrateError extends Error {
  override name = 'MigrateError';
}

const IX_EAGAIN = 6;

export interface MoverEnv {
  /** guest memory from guest-physical 0, or null once the machine is gone */
  view: () => DataView | null;
  reta: SharedReta;
  /** get a halted core to run its loop (it reads its control cell there) */
  wake: (core: number) => void;
  /** how long the connections of the groups may take to become ready to move (default 10 s) */
  drainTimeoutMs?: number;
  /** after how long a command that has not been answered is reported (default 10 s); the
   * wait goes on: a command once written is run by the core sooner or later, and giving up
   * on an export or import would strand the connections it moves */
  commandTimeoutMs?: number;
  /** how long the NIC worker may take to steer by a rewritten entry (default 2 s) */
  tableTimeoutMs?: number;
  /** told once per command that takes longer than commandTimeoutMs */
  onSlow?: (msg: string) => void;
}

export interface MoveResult {
  groups: number;
  /** connections handed over */
  conns: number;
  /** connections the new core could not adopt (no control block or buffer): their peers see resets */
  failed: number;
  ms: number;
}

type Answer = { result: number; total: number; busy: number; failed: number };

const WHY = ['opening or closing', 'not accepted yet or closed by the app', 'sending', 'the app holds received bytes', 'out-of-order data', 'events not posted yet'];
/** The reasons the guest gave (bits of ix_migrate_cell.failed after HOLD/COUNT), in words. */
export function busyWhy(bits: number): string {
  const w = WHY.filter((_, i) => (bits >>> i) & 1);
  return w.length ? w.join(', ') : 'no reason given';
}

const cmdName = (cmd: number): string => Object.entries(MIG_CMD).find(([, v]) => v === cmd)?.[0].toUpperCase() ?? String(cmd);
const cellGpa = (core: number) => BOOTINFO_GPA + BootInfo.at.migrate + core * MigrateCell.size;
const tick = () => new Promise<void>((r) => setImmediate(r));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class FlowGroupMover {
  constructor(private readonly env: MoverEnv) {}

  private mem(): DataView {
    const v = this.env.view();
    if (!v) throw new MigrateError('the dataplane stopped during the move');
    return v;
  }

  /** Write a command into a core's cell and wake the core; returns its sequence number. */
  private post(core: number, cmd: number, groups: bigint[], peer = 0): number {
    const at = cellGpa(core);
    const seq = (readField1(MigrateCell, this.mem(), at, 'cmdSeq') + 1) >>> 0;
    // Only the host's fields, never the core's answer (doneSeq, result, ...): the core runs on
    // another CPU and may answer the moment it sees cmdSeq move; writing back a copy of its
    // fields read before that would erase the answer, and the host would wait for it forever.
    writeStruct(MigrateCell, this.mem(), at, { cmd, peer, groups });
    // the sequence number last: the core reads the command once it sees it move
    writeStruct(MigrateCell, this.mem(), at, { cmdSeq: seq });
    this.env.wake(core);
    return seq;
  }

  /**
   * One command to one core; resolves with its answer. A command that changes nothing yet
   * (HOLD, COUNT) is given up after commandTimeoutMs: a CANCEL takes its place (the core runs
   * only the latest command it sees) and the move fails with what it waited for. The others
   * (EXPORT, IMPORT, RELEASE, CANCEL) are waited for as long as the dataplane runs, with a
   * warning: an export or import given up halfway would strand the connections it moves.
   */
  private async command(core: number, cmd: number, groups: bigint[], peer = 0): Promise<Answer> {
    const at = cellGpa(core);
    const seq = this.post(core, cmd, groups, peer);
    const t0 = performance.now();
    const limit = this.env.commandTimeoutMs ?? 10_000;
    const abandon = cmd === MIG_CMD.hold || cmd === MIG_CMD.count;
    let told = false;
    for (let i = 0; ; i++) {
      const c = readStruct(MigrateCell, this.mem(), at);
      if (c.doneSeq === seq) return { result: c.result, total: c.total, busy: c.busy, failed: c.failed };
      const dt = performance.now() - t0;
      if (dt > limit && abandon) {
        this.post(core, MIG_CMD.cancel, groups);
        throw new MigrateError(
          `core ${core} did not run flow-group command ${cmdName(cmd)} within ${limit} ms (its vCPU was not scheduled, or its app stayed outside ix_bpoll); ` +
            'it was cancelled and nothing of the groups was moved: try again, and see `ix stats` (the core\'s loops and halts) if it repeats',
        );
      }
      if (dt > limit && !told) {
        told = true;
        this.env.onSlow?.(`core ${core} has not run flow-group command ${cmdName(cmd)} for ${limit} ms (its vCPU not scheduled, or its app outside ix_bpoll); still waiting: it moves connections and cannot be given up`);
      }
      if (i % 64 === 63) this.env.wake(core);
      await (dt < 2 ? tick() : sleep(1));
    }
  }

  /** Point entries at `value` and wait until the NIC worker steers by them. */
  private async setEntries(entries: number[], value: number): Promise<void> {
    let gen = 0;
    for (const e of entries) gen = this.env.reta.setEntry(e, value);
    const t0 = performance.now();
    const limit = this.env.tableTimeoutMs ?? 2000;
    while (!this.env.reta.seen(gen)) {
      if (performance.now() - t0 > limit) throw new MigrateError(`the NIC worker did not take up the rewritten redirection table within ${limit} ms (its thread not scheduled?)`);
      await tick();
    }
  }

  /** Give the groups back to core `from` (the worker delivers what it held, in order) and end
   * its hold; nothing of them moved. Waits for nothing: both take effect on their own. */
  private undo(entries: number[], from: number, bits: bigint[]): void {
    for (const e of entries) this.env.reta.setEntry(e, from);
    this.post(from, MIG_CMD.cancel, bits);
  }

  /** Move the flow groups `entries` (all on core `from`) to core `to`, with their connections. */
  async move(entries: number[], from: number, to: number): Promise<MoveResult> {
    const t0 = performance.now();
    const bits = new Array<bigint>(8).fill(0n);
    for (const e of entries) bits[e >> 6]! |= 1n << BigInt(e & 63);
    const drainLimit = this.env.drainTimeoutMs ?? 10_000;
    for (let attempt = 0; ; attempt++) {
      // 1-2: drain
      let a = await this.command(from, MIG_CMD.hold, bits);
      while (a.busy > 0) {
        if (performance.now() - t0 > drainLimit) {
          await this.command(from, MIG_CMD.cancel, bits);
          throw new MigrateError(
            `${a.busy} of the ${a.total} TCP connections of the flow groups on core ${from} did not become ready to move within ${drainLimit} ms ` +
              `(${busyWhy(a.failed)}); nothing of them was moved: try again`,
          );
        }
        await sleep(1);
        a = await this.command(from, MIG_CMD.count, bits);
      }
      // 3: the NIC holds the groups' frames
      try {
        await this.setEntries(entries, from | RETA_HOLD);
      } catch (e) {
        this.undo(entries, from, bits);
        throw new MigrateError(`${(e as Error).message}; the groups stay on core ${from}, nothing was moved`);
      }
      // 4: export
      const ex = await this.command(from, MIG_CMD.export, bits);
      if (ex.result === -IX_EAGAIN && attempt < 5 && performance.now() - t0 < drainLimit) {
        // a connection became busy meanwhile (a handshake in flight): deliver again, drain again
        await this.setEntries(entries, from);
        continue;
      }
      if (ex.result < 0) {
        this.undo(entries, from, bits);
        throw new MigrateError(`core ${from} could not hand over the connections of the flow groups (error ${-ex.result}); nothing was moved`);
      }
      // 5-7
      const im = await this.command(to, MIG_CMD.import, bits, from);
      await this.command(from, MIG_CMD.release, bits);
      // the connections live on `to` now: the entries name it whether or not the worker has
      // taken them up yet (it hands over the held frames first when it does)
      await this.setEntries(entries, to).catch((e: Error) => this.env.onSlow?.(e.message));
      return { groups: entries.length, conns: ex.result, failed: Math.max(0, ex.result - Math.max(0, im.result)), ms: performance.now() - t0 };
    }
  }
}
