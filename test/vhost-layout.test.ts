// Every size, offset, ioctl number and feature bit src/nic/vhost uses, compared with
// <linux/vhost.h> (and the virtio uapi headers) through a C program
// (test/fixtures/vhost/vhost-layout.c) that prints them with sizeof/offsetof.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VHOST_FEATURE_BIT, VHOST_IOCTL, VHOST_LAYOUT, VHOST_VIRTIO, VIRTIO_NET_HDR_LEN } from '../src/nic/vhost/abi.js';

interface CLayout {
  structs: Record<string, { size: number; fields: Record<string, number> }>;
  constants: Record<string, number>;
}

const dir = mkdtempSync(join(tmpdir(), 'ix-vhost-layout-'));
let c: CLayout;

beforeAll(() => {
  const exe = join(dir, 'vhost-layout');
  execFileSync('gcc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-o', exe, resolve('test/fixtures/vhost/vhost-layout.c')]);
  c = JSON.parse(execFileSync(exe, { encoding: 'utf8' })) as CLayout;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('vhost struct layouts', () => {
  it('the C program and the TypeScript table describe the same structs and fields', () => {
    expect(Object.keys(VHOST_LAYOUT).sort()).toEqual(Object.keys(c.structs).sort());
  });
  for (const [name, l] of Object.entries(VHOST_LAYOUT)) {
    it(`${name}: size and every offset match <linux/vhost.h>`, () => {
      expect({ size: l.size, fields: l.fields }).toEqual(c.structs[name]);
    });
  }
});

describe('vhost ioctl numbers and feature bits', () => {
  it('VHOST_VIRTIO', () => expect(VHOST_VIRTIO).toBe(c.constants.VHOST_VIRTIO));
  for (const [name, value] of Object.entries(VHOST_IOCTL)) {
    it(`${name} = 0x${value.toString(16)} as in <linux/vhost.h>`, () => {
      expect(c.constants[name], `${name} missing from the C program`).toBeDefined();
      expect(value).toBe(c.constants[name]);
    });
  }
  it('feature bit numbers', () => {
    for (const [name, bit] of Object.entries(VHOST_FEATURE_BIT)) expect(bit, name).toBe(c.constants[name]);
  });
  it('virtio-net header sizes (legacy, and v1 / mergeable)', () => {
    expect(VIRTIO_NET_HDR_LEN.legacy).toBe(c.constants.VIRTIO_NET_HDR_LEN_legacy);
    expect(VIRTIO_NET_HDR_LEN.v1).toBe(c.constants.VIRTIO_NET_HDR_LEN_v1);
  });
});
