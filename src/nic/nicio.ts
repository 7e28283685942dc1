// Loader of the optional burst I/O helper (src/nic/native/nicio.c), which `npm run build`
// compiles into dist/nic/native/libnicio.so; bound with koffi. Used by the engine when
// io = 'burst'. Nothing is built at run time.
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

/** dist/nic/native/libnicio.so, from src/nic/, dist/nic/ or dist/bundle/ alike. */
export function nicioPath(): string {
  return join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'dist', 'nic', 'native', 'libnicio.so');
}

export function loadNicio(): Nicio {
  if (cached) return cached;
  const so = nicioPath();
  if (!existsSync(so))
    throw new NicioError(`the burst I/O helper ${so} is missing (io = 'burst'); run npm run build (it compiles src/nic/native/nicio.c, needs gcc and make)`);
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load(so);
  } catch (e) {
    throw new NicioError(`loading ${so} failed: ${(e as Error).message}; rebuild it with npm run build`);
  }
  cached = {
    readBurst: lib.func('int nicio_read_burst(int fd, uintptr_t addr, uintptr_t len, uintptr_t out, int n)') as Nicio['readBurst'],
    writeBurst: lib.func('int nicio_write_burst(int fd, uintptr_t iov, uintptr_t cnt, uintptr_t res, int n)') as Nicio['writeBurst'],
  };
  return cached;
}
