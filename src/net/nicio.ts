// Loader of the optional burst I/O helper (src/net/native/nicio.c): built on first use with
// make into dist/net/native/libnicio.so, bound with koffi. Used by NicEngine when io = 'burst'.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';

export class NicioError extends Error {
  override name = 'NicioError';
}

export interface Nicio {
  readBurst(fd: number, addr: number, len: number, out: number, n: number): number;
  writeBurst(fd: number, iov: number, cnt: number, res: number, n: number): number;
}

let cached: Nicio | undefined;

export function loadNicio(): Nicio {
  if (cached) return cached;
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const so = join(root, 'dist', 'net', 'native', 'libnicio.so');
  try {
    execFileSync('make', ['-s', '-C', join(root, 'src', 'net', 'native')], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if (!existsSync(so)) throw new NicioError(`building libnicio.so failed (needs gcc and make): ${(e as { stderr?: Buffer }).stderr?.toString() ?? String(e)}`);
  }
  const lib = koffi.load(so);
  cached = {
    readBurst: lib.func('int nicio_read_burst(int fd, uintptr_t addr, uintptr_t len, uintptr_t out, int n)') as Nicio['readBurst'],
    writeBurst: lib.func('int nicio_write_burst(int fd, uintptr_t iov, uintptr_t cnt, uintptr_t res, int n)') as Nicio['writeBurst'],
  };
  return cached;
}
