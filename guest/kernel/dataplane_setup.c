/* Bringing up a core's dataplane: the mbuf pool and the stack's state (allocated by the BSP
 * while it builds the core's address space; the pool is mapped read-only into the app so
 * received payloads reach it without a copy), then on the core itself the stack, the static
 * ARP entries, RSS, the queue pair and the app timers. */
#include "dataplane.h"
#include "app.h"
#include "console.h"
#include "entropy.h"
#include "mm.h"
#include "../net/arp.h"
#include "../net/tcp.h"

static struct dataplane dps[IX_MAX_CPUS];

void dp_create(struct percpu *c)
{
    struct ix_bootinfo *bi = c->bi;
    if (!bi->nic.present)
        return;
    if (c->id >= bi->nic.nqueues)
        panic("cpu%u: the NIC has only %u queue pairs", c->id, bi->nic.nqueues);
    struct dataplane *dp = &dps[c->id];
    c->dp = dp;
    dp->pool_len = (uint64_t)DP_MBUFS * MBUF_SIZE;
    uint64_t pa = pages_alloc(dp->pool_len / PAGE_SIZE, MBUF_SIZE);
    dp->pool_mem = phys_to_virt(pa);
    for (uint64_t off = 0; off < dp->pool_len; off += PAGE_SIZE)
        map_page(c->ucr3, APP_RXPOOL_VA + off, pa + off, PTE_U | PTE_NX);
    app_add_vma(c->app, APP_RXPOOL_VA, APP_RXPOOL_VA + dp->pool_len, VMA_R);
    uint32_t conns = bi->tcp_max_conns ? bi->tcp_max_conns : DP_TCP_CONNS_DEFAULT;
    if (conns > DP_TCP_CONNS_MAX)
        panic("cpu%u: the host asks for %u TCP connections per core, at most %u are allowed (config [net] max_connections)",
              c->id, conns, DP_TCP_CONNS_MAX);
    dp->max_conns = conns;
    dp->scratch_len = net_core_mem_base() + tcp_core_mem_size(conns) + 4096;
    dp->scratch = phys_to_virt(pages_alloc((dp->scratch_len + PAGE_SIZE - 1) / PAGE_SIZE, PAGE_SIZE));
    dp->xsk = bi->xsk_info_phys != 0;
    if (dp->xsk)
        dp->xsk_tx_area = phys_to_virt(pages_alloc((uint64_t)DP_XSK_TX_SLOTS * IX_XSK_CHUNK / PAGE_SIZE, PAGE_SIZE));
    uint64_t recs = (uint64_t)DP_MIG_RECS * sizeof(struct tcp_mig_rec);
    dp->mig_recs = phys_to_virt(pages_alloc((recs + PAGE_SIZE - 1) / PAGE_SIZE, PAGE_SIZE));
}

/* The AF_XDP ring description (ix/xsk.h): one page of guest RAM outside the kernel image and
 * its allocator (the host's reserved NIC range). Its ring addresses lie in the window above
 * RAM the boot page table maps; the host, which set them, is trusted by the guest. */
static const struct ix_xsk_info *dp_xsk_info(struct percpu *c)
{
    const struct ix_bootinfo *bi = c->bi;
    uint64_t pa = bi->xsk_info_phys;
    if (pa & (PAGE_SIZE - 1) || pa + PAGE_SIZE > bi->mem_size || (pa < bi->kernel_phys_end && pa + PAGE_SIZE > IX_KERNEL_PHYS) ||
        (pa < bi->free_phys_end && pa + PAGE_SIZE > bi->free_phys_start))
        panic("cpu%u: the AF_XDP ring description at %lx is not in the host's reserved range", c->id, pa);
    const struct ix_xsk_info *xi = phys_to_virt(pa);
    if (xi->window_start < bi->mem_size)
        panic("cpu%u: the AF_XDP ring window at %lx overlaps RAM", c->id, xi->window_start);
    return xi;
}

uint64_t dp_pool_to_app(const struct dataplane *dp, uint64_t kaddr)
{
    uint64_t base = (uint64_t)dp->pool_mem;
    return kaddr >= base && kaddr < base + dp->pool_len ? APP_RXPOOL_VA + (kaddr - base) : 0;
}

uint64_t dp_pool_from_app(const struct dataplane *dp, uint64_t va)
{
    return va >= APP_RXPOOL_VA && va < APP_RXPOOL_VA + dp->pool_len ? (uint64_t)dp->pool_mem + (va - APP_RXPOOL_VA) : 0;
}

/* Static ARP entries (config [[nic.arp]], docs/nic.md): the host's table page is checked
 * before it is read (count bounded, the page inside guest memory and outside both the kernel
 * image and the page allocator's range), then every entry is installed as a permanent
 * neighbour on this core's stack; arp_add_static checks each entry. A table the guest cannot
 * honour stops the dataplane at start: running without an entry the operator configured
 * would quietly send to whatever ARP answers instead. */
static void dp_install_static_arp(struct percpu *c, struct dataplane *dp, const struct ix_nic_info *ni)
{
    _Static_assert(ARP_STATIC_MAX >= IX_NIC_ARP_MAX, "the stack's static table holds every NIC table entry");
    uint32_t n = ni->arp_count;
    if (n == 0)
        return;
    if (n > IX_NIC_ARP_MAX)
        panic("cpu%u: the NIC description lists %u static ARP entries, at most %u are allowed", c->id, n, IX_NIC_ARP_MAX);
    const struct ix_bootinfo *bi = c->bi;
    uint64_t pa = (uint64_t)ni->arp_table_pfn << 12, end = pa + IX_NIC_ARP_PAGE;
    if (pa == 0 || end > bi->mem_size || (pa < bi->kernel_phys_end && end > IX_KERNEL_PHYS) ||
        (pa < bi->free_phys_end && end > bi->free_phys_start))
        panic("cpu%u: the static ARP table at guest-physical 0x%lx is not in memory the host reserved for it", c->id, pa);
    const struct ix_nic_arp *t = phys_to_virt(pa);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t ip = t[i].ip;
        int r = arp_add_static(&dp->nc, ip, t[i].mac);
        if (r)
            panic("cpu%u: static ARP entry %u (%u.%u.%u.%u) refused (%d): the address must be on the NIC's subnet and not its own, the MAC unicast",
                  c->id, i, ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255, r);
    }
    if (c->id == 0)
        kprintf("cpu0: %u static ARP entries installed (each core has them)\n", arp_static_count(&dp->nc));
}

/* Outgoing connections pick ports whose replies the host steers back to this core: the
 * stack gets the host's RSS key and indirection table (only when there is more than one
 * queue to steer between). */
static void dp_setup_rss(struct percpu *c, struct dataplane *dp, const struct ix_nic_info *ni)
{
    _Static_assert(NET_RSS_KEY_LEN == IX_RSS_KEY_LEN && NET_RSS_RETA_MAX == IX_RETA_MAX, "RSS sizes");
    for (int i = 0; i < NET_RSS_KEY_LEN; i++)
        dp->rss.key[i] = ni->rss_key[i];
    dp->rss.reta_size = ni->reta_size <= NET_RSS_RETA_MAX ? ni->reta_size : 0;
    for (uint32_t i = 0; i < dp->rss.reta_size; i++)
        dp->rss.reta[i] = ni->reta[i];
    dp->rss.queue = (uint16_t)c->id;
    if (ni->nqueues > 1)
        dp->nc.rss = &dp->rss;
}

void dp_start(struct percpu *c)
{
    struct dataplane *dp = c->dp;
    if (!dp)
        return;
    struct ix_nic_info *ni = &c->bi->nic;
    stack_env_init(c->bi);
    if (!mbuf_pool_init(&dp->pool, dp->pool_mem, dp->pool_len))
        panic("cpu%u: mbuf pool init failed", c->id);
    struct net_config cfg = {.addr = ni->addr, .netmask = ni->netmask, .gateway = ni->gateway};
    for (int i = 0; i < 6; i++)
        cfg.mac[i] = ni->mac[i];
    int r = net_init(&dp->nc, c->id, &cfg, &dp->pool, dp->scratch, dp->scratch_len, dp->max_conns);
    if (r)
        panic("cpu%u: net_init failed (%d)", c->id, r);
    uint64_t key[2];
    const char *rng = entropy_secret(c, key);
    tcp_set_secret(&dp->nc, key[0], key[1]); /* ISNs and SYN cookies (RFC 6528, 4987) */
    key[0] = key[1] = 0;
    dp_install_static_arp(c, dp, ni);
    dp_setup_rss(c, dp, ni);
    dp->notify_port = (uint16_t)ni->notify_port;
    dp->venv = dp_vnet_env(c);
    if (dp->xsk) {
        const struct ix_xsk_info *xi = dp_xsk_info(c);
        dp->notify_port = (uint16_t)xi->doorbell_port;
        if (xsk_port_init(&dp->xport, &dp->port, &dp->nc, xi, (uint16_t)c->id, &dp->venv, dp->xsk_tx_area, DP_XSK_TX_SLOTS))
            panic("cpu%u: the AF_XDP ring description for queue %u is invalid", c->id, c->id);
    } else if (vnet_port_init(&dp->port, &dp->nc, ni, (uint16_t)c->id, &dp->venv))
        panic("cpu%u: the NIC description for queue %u is invalid", c->id, c->id);
    dp_timers_init(dp);
    kprintf("cpu%u: NIC queue %u up (%s), %u mbufs, %u TCP connections max, TCP secret from %s + host seed\n", c->id,
            c->id, dp->xsk ? "AF_XDP rings in guest memory" : "virtio rings", DP_MBUFS, dp->max_conns, rng);
}
