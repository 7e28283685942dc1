// Shared by tests that boot real guests: /dev/kvm must be there when CI=true (a missing
// /dev/kvm fails the suite); elsewhere those tests skip with a message.
import { accessSync, constants } from 'node:fs';
import { netnsUnavailable } from '../src/nic/netns.js';

export function kvmAvailable(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export const inCI = process.env.CI === 'true';

/** true when the boot tests should run; throws in CI without /dev/kvm */
export function requireKvm(): boolean {
  if (kvmAvailable()) return true;
  if (inCI) throw new Error('/dev/kvm is missing or not accessible, and CI=true: guest boot tests cannot be skipped in CI');
  console.warn('skipping guest boot tests: /dev/kvm is not accessible on this machine');
  return false;
}

/**
 * true when tests that boot guests and create network namespaces should run (root, namespaces,
 * /dev/kvm); with CI=true a missing piece throws, elsewhere the suite skips with a message
 * naming `what`.
 */
export function requireNetKvm(what: string): boolean {
  const why = netnsUnavailable();
  if (why && inCI) throw new Error(`${what}: needs network namespaces, and CI=true: ${why}`);
  if (why) {
    console.warn(`skipping ${what}: ${why}`);
    return false;
  }
  return requireKvm();
}
