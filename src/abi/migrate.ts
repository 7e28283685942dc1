/**
 * guest/include/ix/migrate.h: the per-CPU control cell through which the host moves flow
 * groups between cores (elastic cores, src/control/migrate.ts), in the boot info page
 * (bootinfo.migrate[cpu]).
 */
import { array, defineStruct, i32, u32 } from './struct.js';

export const MIG_CMD = { none: 0, hold: 1, count: 2, export: 3, import: 4, release: 5, cancel: 6 } as const;

export const MigrateCell = defineStruct('ix_migrate_cell', 96, {
  cmdSeq: u32(0), cmd: u32(4), peer: u32(8), doneSeq: u32(12), result: i32(16), total: u32(20), busy: u32(24), failed: u32(28),
  groups: array('u64', 32, 8),
});
