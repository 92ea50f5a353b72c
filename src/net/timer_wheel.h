/* A hashed timing wheel per event loop: one libuv timer drives it, and each
 * connection holds a single entry (two pointers and a deadline) instead of a
 * libuv timer of its own. Deadlines that move later (idle, heartbeat) are not
 * rescheduled on every message: when an entry fires, its owner re-evaluates
 * and re-arms it, so activity costs one timestamp store. */
#ifndef CHATD_NET_TIMER_WHEEL_H
#define CHATD_NET_TIMER_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIMER_WHEEL_TICK_MS 50
#define TIMER_WHEEL_SLOTS 4096 /* 204.8 s before an entry wraps and is re-armed */

struct timer_entry {
    struct timer_entry *next;
    struct timer_entry *prev; /* NULL when not scheduled */
    int64_t deadline_ms;
};

struct timer_wheel {
    struct timer_entry slots[TIMER_WHEEL_SLOTS]; /* list heads (sentinels) */
    int64_t now_tick;                            /* the next tick to expire */
    size_t count;
};

void timer_wheel_init(struct timer_wheel *w, int64_t now_ms);

void timer_entry_init(struct timer_entry *e);
bool timer_entry_scheduled(const struct timer_entry *e);

/* (Re)schedules e at deadline_ms (a monotonic time); a past deadline fires on
 * the next advance. */
void timer_wheel_schedule(struct timer_wheel *w, struct timer_entry *e, int64_t deadline_ms);

/* Unschedules e if it is scheduled. */
void timer_wheel_cancel(struct timer_wheel *w, struct timer_entry *e);

/* Expires every entry whose slot has passed by now_ms, calling fire(e, arg)
 * for each with e already unscheduled (fire may re-schedule it). Entries whose
 * deadline lies beyond one turn of the wheel are re-armed silently. */
void timer_wheel_advance(struct timer_wheel *w, int64_t now_ms,
                         void (*fire)(struct timer_entry *e, void *arg), void *arg);

#endif
