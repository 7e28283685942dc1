/** Where the built guest lives, relative to the package root. */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const GUEST_BUILD = join(PACKAGE_ROOT, 'guest', 'build');
export const KERNEL_ELF = join(GUEST_BUILD, 'kernel.elf');
export const appElf = (name: string) => join(GUEST_BUILD, 'apps', `${name}.elf`);
