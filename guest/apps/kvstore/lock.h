/* kvstore: a spinlock for the store shared by all cores ([app] shared).
 *
 * Every core runs its instance truly in parallel on its own host CPU and there is no
 * scheduler to sleep on, so waiting means spinning. A holder keeps the lock for one table
 * operation (a few hundred nanoseconds), so a waiter spins briefly. Test-and-test-and-set:
 * waiters spin on a plain load (the line stays shared in their caches) with `pause`, and
 * only try the atomic exchange when the lock looks free. */
#ifndef KV_LOCK_H
#define KV_LOCK_H
#include <stdint.h>

struct kv_lock {
    uint32_t v; /* 0 free, 1 held */
};

static inline void kv_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("pause" ::: "memory");
#endif
}

static inline void kv_spin_lock(struct kv_lock *l)
{
    for (;;) {
        if (!__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE))
            return;
        while (__atomic_load_n(&l->v, __ATOMIC_RELAXED))
            kv_cpu_relax();
    }
}

static inline int kv_spin_trylock(struct kv_lock *l)
{
    return __atomic_load_n(&l->v, __ATOMIC_RELAXED) == 0 && !__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE);
}

static inline void kv_spin_unlock(struct kv_lock *l) { __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE); }

#endif
