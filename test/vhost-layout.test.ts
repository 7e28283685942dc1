// Every size, offset, ioctl number and feature bit src/nic/vhost uses, compared with
// <linux/vhost.h> (and the virtio uapi headers) through a C program
// (test/fixtures/vhost/vhost-layout.c) that prints them with sizeof/offsetof (test/layout-probe.ts).
import { beforeAll, describe, expect, it } from 'vitest';
import { VHOST_FEATURE_BIT, VHOST_IOCTL, VHOST_LAYOUT, VHOST_VIRTIO, VIRTIO_NET_HDR_LEN } from '../src/nic/vhost/abi.js';
import { describeStructLayouts, probeLayout, type CLayout } from './layout-probe.js';

let c: CLayout;
beforeAll(() => {
  c = probeLayout('test/fixtures/vhost/vhost-layout.c');
});

describeStructLayouts('<linux/vhost.h>', VHOST_LAYOUT, () => c);

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
