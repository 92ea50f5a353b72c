/* Hashed timing wheel: see timer_wheel.h. */
#include "net/timer_wheel.h"

static void list_unlink(struct timer_entry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->next = e->prev = NULL;
}

void timer_wheel_init(struct timer_wheel *w, int64_t now_ms)
{
    for (size_t i = 0; i < TIMER_WHEEL_SLOTS; i++)
        w->slots[i].next = w->slots[i].prev = &w->slots[i];
    w->now_tick = now_ms / TIMER_WHEEL_TICK_MS;
    w->count = 0;
}

void timer_entry_init(struct timer_entry *e)
{
    e->next = e->prev = NULL;
    e->deadline_ms = 0;
}

bool timer_entry_scheduled(const struct timer_entry *e)
{
    return e->prev != NULL;
}

void timer_wheel_cancel(struct timer_wheel *w, struct timer_entry *e)
{
    if (!timer_entry_scheduled(e)) return;
    list_unlink(e);
    w->count--;
}

void timer_wheel_schedule(struct timer_wheel *w, struct timer_entry *e, int64_t deadline_ms)
{
    timer_wheel_cancel(w, e);
    e->deadline_ms = deadline_ms;
    /* Round up so an entry never fires before its deadline. */
    int64_t tick = (deadline_ms + TIMER_WHEEL_TICK_MS - 1) / TIMER_WHEEL_TICK_MS;
    if (tick < w->now_tick) tick = w->now_tick;
    if (tick >= w->now_tick + TIMER_WHEEL_SLOTS) tick = w->now_tick + TIMER_WHEEL_SLOTS - 1;
    struct timer_entry *head = &w->slots[tick % TIMER_WHEEL_SLOTS];
    e->next = head;
    e->prev = head->prev;
    head->prev->next = e;
    head->prev = e;
    w->count++;
}

void timer_wheel_advance(struct timer_wheel *w, int64_t now_ms,
                         void (*fire)(struct timer_entry *e, void *arg), void *arg)
{
    int64_t last_tick = now_ms / TIMER_WHEEL_TICK_MS;
    for (; w->now_tick <= last_tick; w->now_tick++) {
        struct timer_entry *head = &w->slots[w->now_tick % TIMER_WHEEL_SLOTS];
        /* Detach the slot first: callbacks may schedule into this same slot. */
        struct timer_entry pending = {.next = head->next, .prev = head->prev};
        if (head->next == head) continue;
        pending.next->prev = &pending;
        pending.prev->next = &pending;
        head->next = head->prev = head;
        while (pending.next != &pending) {
            struct timer_entry *e = pending.next;
            list_unlink(e);
            w->count--;
            if (e->deadline_ms > now_ms)
                timer_wheel_schedule(w, e, e->deadline_ms); /* wrapped: not due yet */
            else
                fire(e, arg);
        }
    }
}
