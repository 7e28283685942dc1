/** `ix` entry point: start vCPU workers early for `ix run`, then load the rest. */
import { prestartFromArgv } from './prestart.js';

prestartFromArgv(process.argv);
const { main } = await import('./main.js');
await main(process.argv);
