// The RSS redirection table as it is while the dataplane runs: entries in a SharedArrayBuffer
// that the control plane rewrites (`ix scale`, src/control/scale.ts) and the NIC worker reads
// for every received frame (steering.ts). An entry is a flow group: all flows whose Toeplitz
// hash falls on it go to the queue (= core) it names. A core whose queue no entry names gets
// no frames but ARP: it halts, and its vCPU waits in the host.
//
// Layout (Int32Array): [0] generation, bumped after every rewrite; [1] entries used; [2] the
// generation the worker last started a pass with; [3] 1 while the worker sleeps in poll(2);
// then the entries. One writer of entries (the main thread); the worker reads them with plain
// loads (aligned 32-bit values never tear). An entry is a queue, with RETA_HOLD added while
// its flow group moves between cores (the worker then holds its frames, rx.ts).
import { IX_RETA_MAX } from '../abi/nic.js';
import { RETA_HOLD, RETA_QUEUE_MASK } from './toeplitz.js';

export class RetaError extends Error {
  override name = 'RetaError';
}

const HDR = 4;
const GEN = 0;
const SIZE = 1;
const SEEN = 2;
const SLEEPING = 3;

function check(entries: ArrayLike<number>, nqueues: number): void {
  const n = entries.length;
  if (n < 1 || n > IX_RETA_MAX || (n & (n - 1)) !== 0) throw new RetaError(`a redirection table of ${n} entries: want a power of two in 1..${IX_RETA_MAX}`);
  for (let i = 0; i < n; i++) {
    const q = entries[i]!;
    if (!Number.isInteger(q) || q < 0 || q >= nqueues) throw new RetaError(`redirection table entry ${i} names queue ${q}; the dataplane has queues 0..${nqueues - 1}`);
  }
}

export class SharedReta {
  readonly buffer: SharedArrayBuffer;
  private readonly cells: Int32Array;
  /** a view of the entries alone (what steering indexes) */
  readonly entries: Int32Array;

  /** A new shared table holding `initial`, for `nqueues` queues. */
  static create(initial: ArrayLike<number>, nqueues: number): SharedReta {
    check(initial, nqueues);
    const r = new SharedReta(new SharedArrayBuffer(4 * (HDR + initial.length)), nqueues);
    r.cells[SIZE] = initial.length;
    r.entries.set(Array.from(initial));
    return r;
  }

  /** The view of a table another thread created. */
  constructor(buffer: SharedArrayBuffer, readonly nqueues: number) {
    if (buffer.byteLength < 4 * (HDR + 1) || buffer.byteLength % 4 !== 0) throw new RetaError(`a shared redirection table of ${buffer.byteLength} bytes`);
    this.buffer = buffer;
    this.cells = new Int32Array(buffer);
    this.entries = new Int32Array(buffer, 4 * HDR);
  }

  get generation(): number {
    return Atomics.load(this.cells, GEN);
  }

  /** Worker: a pass starts; entries read from now on are at least this generation's. */
  workerPass(): void {
    Atomics.store(this.cells, SEEN, Atomics.load(this.cells, GEN));
  }

  /** Worker: about to sleep in poll(2) (true), or awake again (false). */
  workerSleeping(on: boolean): void {
    Atomics.store(this.cells, SLEEPING, on ? 1 : 0);
  }

  /** Has the worker stopped using entries older than generation g? (It started a pass
   * with g or later, or it sleeps: its next pass reads the entries afresh.) */
  seen(g: number): boolean {
    return Atomics.load(this.cells, SEEN) - g >= 0 || Atomics.load(this.cells, SLEEPING) === 1;
  }

  /** Set one entry: a queue, with RETA_HOLD while its flow group moves. Bumps the generation. */
  setEntry(i: number, value: number): number {
    const q = value & RETA_QUEUE_MASK;
    if (!Number.isInteger(i) || i < 0 || i >= this.entries.length) throw new RetaError(`no redirection table entry ${i} (0..${this.entries.length - 1})`);
    if ((value & ~(RETA_QUEUE_MASK | RETA_HOLD)) !== 0 || q >= this.nqueues) throw new RetaError(`redirection table entry ${i} set to ${value}: not a queue of 0..${this.nqueues - 1}`);
    Atomics.store(this.entries, i, value);
    return Atomics.add(this.cells, GEN, 1) + 1;
  }

  /** The entries as queues (a held entry counts for the queue it names). */
  snapshot(): number[] {
    return Array.from(this.entries, (v) => v & RETA_QUEUE_MASK);
  }

  /** Rewrite the table (same size) and bump the generation. */
  set(next: ArrayLike<number>): void {
    if (next.length !== this.entries.length) throw new RetaError(`a table of ${next.length} entries for one of ${this.entries.length}`);
    check(next, this.nqueues);
    for (let i = 0; i < next.length; i++) Atomics.store(this.entries, i, next[i]!);
    Atomics.add(this.cells, GEN, 1);
  }
}

/** Entries per queue of a table (index = queue). */
export function groupsPerQueue(reta: ArrayLike<number>, nqueues: number): number[] {
  const out = new Array<number>(nqueues).fill(0);
  for (let i = 0; i < reta.length; i++) out[reta[i]! & RETA_QUEUE_MASK]! += 1;
  return out;
}

/**
 * The table for `n` active queues (0..n-1) reached from `cur` by moving as few flow groups as
 * possible: entries on queues >= n go to the active queues with the fewest, and an active
 * queue above its fair share (size/n, the first size%n queues one more) gives its last
 * entries to the queues below theirs. Deterministic; the result is balanced to one entry.
 */
export function rebalanceReta(cur: ArrayLike<number>, n: number): number[] {
  const size = cur.length;
  if (!Number.isInteger(n) || n < 1) throw new RetaError(`${n} active queues: want at least 1`);
  const next = Array.from(cur);
  const share = (q: number) => Math.floor(size / n) + (q < size % n ? 1 : 0);
  const count = new Array<number>(n).fill(0);
  for (const q of next) if (q < n) count[q]! += 1;
  // which entries must move: those of leaving queues, and the surplus of crowded ones (from the end)
  const free: number[] = [];
  for (let i = 0; i < size; i++) if (next[i]! >= n) free.push(i);
  for (let i = size - 1; i >= 0; i--) {
    const q = next[i]!;
    if (q < n && count[q]! > share(q)) {
      count[q]! -= 1;
      free.push(i);
    }
  }
  free.sort((a, b) => a - b);
  let q = 0;
  for (const i of free) {
    while (count[q]! >= share(q)) q++;
    next[i] = q;
    count[q]! += 1;
  }
  return next;
}
