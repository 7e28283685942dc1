// Bundles the `ix` command for a fast start (docs/architecture.md, "Start-up path"):
//   dist/bundle/index.js        tiny ESM entry: prestarts the vCPU workers, then loads main.cjs
//   dist/bundle/main.cjs        the whole control plane, CommonJS, so that it can be compiled
//                               through vm.Script with a V8 code cache (src/cli/code-cache.ts)
//   dist/bundle/vcpu-worker.cjs the vCPU worker thread
//   dist/bundle/nic-worker.cjs  the NIC backend worker thread
//   dist/bundle/nic-xdp-worker.cjs  the XDP NIC backend's worker thread
//   dist/bundle/nic-xsk-worker.cjs  the AF_XDP kick thread when the guest polls the rings
//   dist/bundle/nic-vhost-waiter.cjs  the vhost NIC backend's wake thread (no irqfds)
//   dist/bundle/halt-probe-worker.cjs  the vCPU thread of `ix check`'s halt/wake probe
// CommonJS has no import.meta: `import.meta.url` becomes the file's own URL.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

const out = 'dist/bundle';
rmSync(out, { recursive: true, force: true });

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  external: ['koffi', 'pino-pretty'],
  logLevel: 'warning',
};

const cjs = {
  ...common,
  format: 'cjs',
  define: { 'import.meta.url': '__ixFileUrl' },
  banner: { js: "const __ixFileUrl = require('node:url').pathToFileURL(__filename).href;" },
};

await Promise.all([
  build({
    ...common,
    entryPoints: ['src/cli/index.ts'],
    outfile: `${out}/index.js`,
    format: 'esm',
    define: { __IX_BUNDLE__: 'true' },
    // main.cjs is loaded at run time (through the code cache), not bundled into the entry
    external: [...common.external, './main.js'],
  }),
  build({ ...cjs, entryPoints: ['src/cli/main.ts'], outfile: `${out}/main.cjs` }),
  build({ ...cjs, entryPoints: ['src/vmm/vcpu-worker.ts'], outfile: `${out}/vcpu-worker.cjs` }),
  build({ ...cjs, entryPoints: ['src/nic/worker.ts'], outfile: `${out}/nic-worker.cjs` }),
  build({ ...cjs, entryPoints: ['src/nic/xdp/worker.ts'], outfile: `${out}/nic-xdp-worker.cjs` }),
  build({ ...cjs, entryPoints: ['src/nic/xdp/kick-worker.ts'], outfile: `${out}/nic-xsk-worker.cjs` }),
  build({ ...cjs, entryPoints: ['src/nic/vhost/waiter.ts'], outfile: `${out}/nic-vhost-waiter.cjs` }),
  build({ ...cjs, entryPoints: ['src/vmm/halt-probe-worker.ts'], outfile: `${out}/halt-probe-worker.cjs` }),
]);
