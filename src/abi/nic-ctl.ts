// Control cells shared between the NIC backend (main thread), its worker and the vCPU
// workers: an Int32Array over a SharedArrayBuffer.
//   [CTL_STOP]      stop request (main -> worker)
//   [CTL_STATE]     worker state: 1 running, 2 stopped
//   [CTL_WAKE_ANY]  bumped (and Atomics.notify'd) on every wake of any queue: one place for a single waiter
//   [CTL_WAKE + q]  wake counter of queue q
export const CTL_STOP = 0;
export const CTL_STATE = 1;
export const CTL_WAKE_ANY = 3;
export const CTL_WAKE = 4;
/** cells in the array: room for the wake counters of 16 queues */
export const CTL_CELLS = CTL_WAKE + 16;
