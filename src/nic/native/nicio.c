/* Optional burst I/O for the NIC backend (src/nic/engine.ts, io: 'burst'): move up to n
 * frames between a TAP fd and guest memory in one FFI call instead of one call per frame.
 * The engine has already validated every address and length against guest memory; this
 * code only loops over read()/writev(). Built by src/nic/native/Makefile into libnicio.so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>

/* Read up to n frames, frame i into [addr[i], addr[i] + len[i]); out[i] = bytes read.
 * Stops at the first read that returns nothing. Returns the number of frames read, or
 * -errno if the very first read failed with something other than EAGAIN. */
int nicio_read_burst(int fd, const uint64_t *addr, const uint32_t *len, int32_t *out, int n)
{
    for (int i = 0; i < n; i++) {
        ssize_t r = read(fd, (void *)(uintptr_t)addr[i], len[i]);
        if (r <= 0) {
            if (i == 0 && r < 0 && errno != EAGAIN && errno != EINTR)
                return -errno;
            return i;
        }
        out[i] = (int32_t)r;
    }
    return n;
}

/* Write n frames; frame i is cnt[i] consecutive entries of iov. res[i] = bytes written or
 * -errno. Returns n. */
int nicio_write_burst(int fd, const struct iovec *iov, const int32_t *cnt, int32_t *res, int n)
{
    for (int i = 0; i < n; i++) {
        ssize_t r = writev(fd, iov, cnt[i]);
        res[i] = r < 0 ? -errno : (int32_t)r;
        iov += cnt[i];
    }
    return n;
}
