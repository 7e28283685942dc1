// What `ix check` asks about AF_XDP: can this process open an AF_XDP socket, create an
// XSKMAP and have the dataplane's XDP program accepted by the verifier? Nothing is attached.
import * as libc from '../../sys/libc.js';
import { errnoText } from '../errno.js';
import { createXskMap, loadDataplaneProgram } from './bpf.js';

export interface XdpFacts {
  /** "ok" or why not */
  socket: string;
  /** "ok" or why not (XSKMAP creation and the program's load, together) */
  program: string;
}

export function probeXdp(): XdpFacts {
  const fd = libc.socket(libc.AF_XDP, libc.SOCK_RAW | libc.SOCK_CLOEXEC, 0);
  const socket = fd >= 0 ? 'ok' : errnoText(libc.errno());
  if (fd >= 0) libc.close(fd);
  let program = 'ok';
  let map = -1;
  try {
    map = createXskMap(1);
    libc.close(loadDataplaneProgram((10 << 24) | 2, map));
  } catch (e) {
    program = (e as Error).message;
  } finally {
    if (map >= 0) libc.close(map);
  }
  return { socket, program };
}
