#pragma once
/* Intrusive doubly linked lists, as kvstore uses them: the element type has members `prev`
 * and `next`, a list is a head pointer and, for lists that are taken from the tail (the
 * LRU lists), a tail pointer. Macros, so the one definition serves any element type: slab
 * free chunks (head only: a chunk is taken from the head, and a page moved to another
 * class takes its chunks out wherever they are) and items on their class's LRU list.
 * `tailp` is a pointer to the tail pointer, or a null pointer of that type for a list
 * without a tail. The hash chains are singly linked (KV_SLIST_REMOVE). */

#define KV_LIST_PUSH(headp, tailp, el)                                                     \
    do {                                                                                   \
        (el)->prev = 0;                                                                    \
        (el)->next = *(headp);                                                             \
        if ((el)->next)                                                                    \
            (el)->next->prev = (el);                                                       \
        else if ((tailp) != 0)                                                             \
            *(tailp) = (el);                                                               \
        *(headp) = (el);                                                                   \
    } while (0)

#define KV_LIST_REMOVE(headp, tailp, el)                                                   \
    do {                                                                                   \
        if ((el)->prev)                                                                    \
            (el)->prev->next = (el)->next;                                                 \
        else                                                                               \
            *(headp) = (el)->next;                                                         \
        if ((el)->next)                                                                    \
            (el)->next->prev = (el)->prev;                                                 \
        else if ((tailp) != 0)                                                             \
            *(tailp) = (el)->prev;                                                         \
        (el)->prev = (el)->next = 0;                                                       \
    } while (0)

/* Unlink el from the singly linked chain at *headp whose link member is `link` (a no-op if
 * el is not on it). */
#define KV_SLIST_REMOVE(type, headp, el, link)                                             \
    do {                                                                                   \
        type **pp_ = (headp);                                                              \
        while (*pp_ && *pp_ != (el))                                                       \
            pp_ = &(*pp_)->link;                                                           \
        if (*pp_)                                                                          \
            *pp_ = (el)->link;                                                             \
        (el)->link = 0;                                                                    \
    } while (0)
