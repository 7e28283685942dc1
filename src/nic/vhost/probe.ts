// What `ix check` asks about vhost-net: is /dev/vhost-net there, can this process own a
// device, and does it offer what the guest's driver needs (VERSION_1, EVENT_IDX)? Nothing is
// attached; the device is closed again.
import * as libc from '../../sys/libc.js';
import { VHOST_IOCTL, VHOST_MISSING, VHOST_NET_DEV } from './abi.js';
import { openVhostDev, vhostOfferedFeatures, VhostError, VhostUnavailableError } from './device.js';
import { errnoText } from '../errno.js';
import { negotiateVhostFeatures } from './features.js';
import { VNET_HDR_LEN } from '../frame.js';
import { existsSync } from 'node:fs';

export interface VhostFacts {
  status: 'ok' | 'missing' | 'unusable';
  /** the features it would set (ok), or what is wrong and what to do */
  detail: string;
}

export function probeVhost(): VhostFacts {
  if (!existsSync(VHOST_NET_DEV)) return { status: 'missing', detail: `${VHOST_NET_DEV} is absent; ${VHOST_MISSING}` };
  let fd = -1;
  try {
    fd = openVhostDev();
    if (libc.ioctlBuf(fd, VHOST_IOCTL.VHOST_SET_OWNER, null) < 0) throw new VhostError(`VHOST_SET_OWNER failed: ${errnoText(libc.errno())}`);
    const offered = vhostOfferedFeatures(fd);
    const { features } = negotiateVhostFeatures(offered, VNET_HDR_LEN);
    return { status: 'ok', detail: `offers 0x${offered.toString(16)}; the backend sets 0x${features.toString(16)} (VERSION_1, EVENT_IDX, ${VNET_HDR_LEN}-byte header through the TAP)` };
  } catch (e) {
    return { status: e instanceof VhostUnavailableError ? 'missing' : 'unusable', detail: (e as Error).message };
  } finally {
    if (fd >= 0) libc.close(fd);
  }
}
