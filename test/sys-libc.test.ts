// src/sys/libc.ts, the one libc binding: anonymous shared memory and views of it from any thread, thread ids,
// CPU affinity, signals to one thread and errno text. No /dev/kvm needed.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import * as libc from '../src/sys/libc.js';
import { builtBinding } from './fixtures/kvm/env.js';

describe('memory', () => {
  it('mmapAnonymous gives page-aligned zeroed memory; two views of one address share it', () => {
    const len = 3 * 4096;
    const a = libc.mapAnon(len, { shared: true, noreserve: true });
    try {
      expect(typeof a).toBe('number');
      expect(a % 4096).toBe(0);
      const v1 = new Uint8Array(libc.view(a, len));
      const v2 = new DataView(libc.view(a, len));
      expect(v1.every((b) => b === 0)).toBe(true);
      v1[4096] = 0xab;
      expect(v2.getUint8(4096)).toBe(0xab);
      const v3 = new Uint8Array(libc.view(a + 4096, 16));
      expect(v3[0]).toBe(0xab);
    } finally {
      libc.unmap(a, len);
    }
  });

  it('a view larger than V8 allows is a RangeError, not a process abort (koffi aborts on it)', () => {
    const len = libc.MAX_VIEW_BYTES + 4096; // MAP_NORESERVE: nothing is touched
    const a = libc.mapAnon(len, { shared: true, noreserve: true });
    try {
      expect(() => libc.view(a, len)).toThrow(RangeError);
      expect(() => libc.view(a, len)).toThrow(/more than one ArrayBuffer can hold/);
      expect(new Uint8Array(libc.view(a, 4096)).length).toBe(4096);
    } finally {
      libc.unmap(a, len);
    }
  });

  it('a worker thread builds its own view from the address alone', async () => {
    const len = 64 * 1024;
    const a = libc.mapAnon(len, { shared: true, noreserve: true });
    try {
      const u8 = new Uint8Array(libc.view(a, len));
      u8[0] = 0x11;
      u8[len - 1] = 0x22;
      const cpu = libc.getThreadAffinity()[0]!;
      const w = new Worker(resolve('test/fixtures/kvm/view-worker.mjs'), { workerData: { module: builtBinding(), addr: a, len, cpu } });
      const m = await new Promise<{ seen: number[]; tid: number; affinity: number[] }>((res, rej) => {
        w.once('message', res);
        w.once('error', rej);
      });
      await w.terminate();
      expect(m.seen).toEqual([0x11, 0x22]);
      expect([u8[1], u8[len - 2]]).toEqual([0x77, 0x88]);
      expect(m.tid).not.toBe(libc.gettid());
      expect(m.affinity).toEqual([cpu]);
      // Pinning the worker did not pin the main thread.
      expect(libc.getThreadAffinity().length).toBeGreaterThanOrEqual(1);
    } finally {
      libc.unmap(a, len);
    }
  });

  it('rejects bad lengths and addresses before calling libc', () => {
    expect(() => libc.mapAnon(0)).toThrow(/positive integer/);
    expect(() => libc.view(0, 16)).toThrow(/not a valid pointer/);
    expect(() => libc.view(4096, -1)).toThrow(/positive integer/);
    expect(() => libc.unmap(4096, 1.5)).toThrow(/positive integer/);
  });
});

describe('threads and signals', () => {
  it('gettid of the main thread is the pid', () => {
    expect(libc.gettid()).toBe(process.pid);
  });

  it('affinity: pin this thread to one CPU and restore it', () => {
    const before = libc.getThreadAffinity();
    expect(before.length).toBeGreaterThan(0);
    try {
      libc.setThreadAffinity([before[before.length - 1]!]);
      expect(libc.getThreadAffinity()).toEqual([before[before.length - 1]]);
    } finally {
      libc.setThreadAffinity(before);
    }
    expect(libc.getThreadAffinity()).toEqual(before);
    expect(() => libc.setThreadAffinity([])).toThrow(/empty CPU list/);
    expect(() => libc.setThreadAffinity([5000])).toThrow(/out of range/);
  });

  it('setThreadSlice asks for a scheduler slice and gives the default back with 0', () => {
    const slice = (): number | null => {
      // /proc/thread-self/sched names the slice on kernels with EEVDF custom slices (6.12+)
      const m = /^se\.slice\s+:\s+(\d+)/m.exec(readFileSync('/proc/thread-self/sched', 'utf8'));
      return m ? Number(m[1]) : null;
    };
    const before = slice();
    try {
      expect(libc.setThreadSlice(250)).toBe(true);
      if (before !== null) expect(slice()).toBe(250_000);
      expect(libc.setThreadSlice(0)).toBe(true);
      if (before !== null) expect(slice()).toBe(before);
    } finally {
      libc.setThreadSlice(0);
    }
    expect(() => libc.setThreadSlice(-1)).toThrow(RangeError);
    expect(() => libc.setThreadSlice(100_001)).toThrow(RangeError);
    expect(() => libc.setThreadSlice(1.5)).toThrow(RangeError);
  });

  it('tgkill delivers to a handler; a dead tid is ESRCH', async () => {
    let got = 0;
    const h = () => got++;
    process.on('SIGUSR2', h);
    try {
      libc.tgkill(process.pid, libc.gettid(), 'SIGUSR2');
      const deadline = Date.now() + 2000;
      while (got === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(got).toBe(1);
    } finally {
      process.off('SIGUSR2', h);
    }
    expect(() => libc.tgkill(process.pid, 0x3ffffff0, 0)).toThrow(/tgkill\(.*\) failed: ESRCH \(No such process\)/);
    expect(() => libc.signalNumber('SIGNOPE')).toThrow(/unknown signal name/);
  });

  it('errno names and texts', () => {
    expect(libc.errnoName(22)).toBe('EINVAL');
    expect(libc.errnoName(4)).toBe('EINTR');
    expect(libc.errnoName(11)).toBe('EAGAIN');
    expect(libc.errnoName(99999)).toBe('E99999');
    expect(libc.strerror(2)).toBe('No such file or directory');
  });
});

describe('eventfds', () => {
  it('signalEventfd adds 1 to the counter each time; a closed fd is -1 with EBADF, not an exception', () => {
    const fd = libc.makeEventfd();
    const buf = libc.mapAnon(4096);
    try {
      expect(libc.signalEventfd(fd)).toBe(8);
      expect(libc.signalEventfd(fd)).toBe(8);
      expect(libc.read(fd, buf, 8)).toBe(8); // a read takes the whole counter and resets it
      expect(new DataView(libc.view(buf, 8)).getBigUint64(0, true)).toBe(2n);
      expect(libc.read(fd, buf, 8)).toBe(-1); // non-blocking and empty now
    } finally {
      libc.close(fd);
      libc.unmap(buf, 4096);
    }
    expect(libc.signalEventfd(fd)).toBe(-1);
    expect(libc.errno()).toBe(9); // EBADF
  });
});
