/* Event delivery to a user's connections, across loops: see deliver.h and
 * server_deliver in server.h. */
#include "net/deliver.h"

#include "net/conn.h"
#include "net/loop.h"
#include "net/registry.h"
#include "net/server.h"
#include "util/error.h"
#include "util/frame.h"

#include <stdlib.h>

struct deliver_item {
    struct inbox_item base;
    int64_t user_id;
    struct frame *frame;
    uint64_t exclude_conn_id;
};

int deliver_attach(struct conn *c)
{
    struct idmap *users = &c->loop->local_users;
    struct conn *first = idmap_get(users, (uint64_t)c->user_id);
    c->prev_of_user = NULL;
    c->next_of_user = first;
    if (first) first->prev_of_user = c;
    return idmap_put(users, (uint64_t)c->user_id, c);
}

void deliver_detach(struct conn *c)
{
    if (!c->user_id) return;
    if (c->next_of_user) c->next_of_user->prev_of_user = c->prev_of_user;
    if (c->prev_of_user) {
        c->prev_of_user->next_of_user = c->next_of_user;
    } else if (c->next_of_user) {
        idmap_put(&c->loop->local_users, (uint64_t)c->user_id, c->next_of_user);
    } else {
        idmap_remove(&c->loop->local_users, (uint64_t)c->user_id);
    }
    c->next_of_user = c->prev_of_user = NULL;
}

static void deliver_local(struct loop *loop, int64_t user_id, struct frame *f, uint64_t exclude)
{
    struct conn *c = idmap_get(&loop->local_users, (uint64_t)user_id);
    while (c) {
        struct conn *next = c->next_of_user;
        if (c->id != exclude && conn_is_open(c)) {
            conn_send(c, f);
            atomic_fetch_add_explicit(&loop->server->stats.deliveries, 1, memory_order_relaxed);
        }
        c = next;
    }
}

static void deliver_run(struct inbox_item *item, struct loop *loop)
{
    struct deliver_item *d = (struct deliver_item *)item;
    deliver_local(loop, d->user_id, d->frame, d->exclude_conn_id);
    frame_unref(d->frame);
    free(d);
}

void server_deliver(struct server *s, struct loop *from, int64_t user_id, struct frame *f,
                    uint64_t exclude_conn_id)
{
    uint64_t loops = registry_loops(s->registry, user_id);
    while (loops) {
        int index = __builtin_ctzll(loops);
        loops &= loops - 1;
        if (index == from->index) {
            deliver_local(from, user_id, f, exclude_conn_id);
            continue;
        }
        struct deliver_item *d = malloc(sizeof *d);
        if (!d) continue; /* dropped under memory exhaustion; the client can resume */
        d->base.run = deliver_run;
        d->user_id = user_id;
        d->frame = frame_ref(f);
        d->exclude_conn_id = exclude_conn_id;
        loop_post(s->loops[index], &d->base);
    }
}
