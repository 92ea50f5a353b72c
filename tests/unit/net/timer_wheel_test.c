/* Tests for the per-loop timing wheel: ordering, cancellation, wrap-around
 * and re-scheduling from inside a callback. */
#include "test.h"
#include "net/timer_wheel.h"

#include <stdlib.h>

struct fired {
    int count;
    int64_t at_ms[16];
    int64_t now_ms;
};

static void record(struct timer_entry *e, void *arg)
{
    struct fired *f = arg;
    if (f->count < 16) f->at_ms[f->count] = f->now_ms;
    f->count++;
    CHECK(f->now_ms >= e->deadline_ms);
}

TEST(timer_fires_not_before_deadline)
{
    struct timer_wheel *w = malloc(sizeof *w);
    timer_wheel_init(w, 1000);
    struct timer_entry e;
    timer_entry_init(&e);
    timer_wheel_schedule(w, &e, 1120);
    struct fired f = {0};
    for (int64_t t = 1000; t <= 1300; t += 10) {
        f.now_ms = t;
        timer_wheel_advance(w, t, record, &f);
    }
    CHECK_INT(f.count, 1);
    CHECK(f.at_ms[0] >= 1120 && f.at_ms[0] < 1120 + TIMER_WHEEL_TICK_MS + 10);
    CHECK(!timer_entry_scheduled(&e));
    CHECK_INT(w->count, 0);
    free(w);
}

TEST(timer_cancel_prevents_fire)
{
    struct timer_wheel *w = malloc(sizeof *w);
    timer_wheel_init(w, 0);
    struct timer_entry a, b;
    timer_entry_init(&a);
    timer_entry_init(&b);
    timer_wheel_schedule(w, &a, 100);
    timer_wheel_schedule(w, &b, 100);
    timer_wheel_cancel(w, &a);
    timer_wheel_cancel(w, &a); /* twice is harmless */
    struct fired f = {.now_ms = 500};
    timer_wheel_advance(w, 500, record, &f);
    CHECK_INT(f.count, 1);
    free(w);
}

TEST(timer_beyond_one_turn_waits_for_its_deadline)
{
    struct timer_wheel *w = malloc(sizeof *w);
    timer_wheel_init(w, 0);
    struct timer_entry e;
    timer_entry_init(&e);
    int64_t far = (int64_t)TIMER_WHEEL_SLOTS * TIMER_WHEEL_TICK_MS * 2 + 77;
    timer_wheel_schedule(w, &e, far);
    struct fired f = {0};
    for (int64_t t = 0; t <= far + 1000; t += 1000) {
        f.now_ms = t;
        timer_wheel_advance(w, t, record, &f);
        if (t < far) CHECK_INT(f.count, 0);
    }
    CHECK_INT(f.count, 1);
    free(w);
}

static void reschedule_once(struct timer_entry *e, void *arg)
{
    struct timer_wheel *w = arg;
    if (e->deadline_ms < 1000) timer_wheel_schedule(w, e, e->deadline_ms + 1000);
}

TEST(timer_reschedule_from_callback)
{
    struct timer_wheel *w = malloc(sizeof *w);
    timer_wheel_init(w, 0);
    struct timer_entry e;
    timer_entry_init(&e);
    timer_wheel_schedule(w, &e, 50);
    timer_wheel_advance(w, 100, reschedule_once, w);
    CHECK(timer_entry_scheduled(&e));
    CHECK_INT(e.deadline_ms, 1050);
    timer_wheel_advance(w, 2000, reschedule_once, w);
    CHECK(!timer_entry_scheduled(&e));
    free(w);
}
