// Runs once before the suites: every `ix` the tests start registers its dataplanes in a
// runtime directory of this test run (not the machine-wide /run/ix), so a dataplane or a
// benchmark running beside the tests cannot refuse a test's name or pinned CPU.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'ix-run-test-'));
  process.env.IX_RUN_DIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
