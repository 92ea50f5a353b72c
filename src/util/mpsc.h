/* An intrusive multi-producer, single-consumer queue (Dmitry Vyukov's
 * design): producers on any thread push with one atomic exchange and never
 * wait; the one consumer pops without locks. Used for each loop's inbox. */
#ifndef CHATD_UTIL_MPSC_H
#define CHATD_UTIL_MPSC_H

#include <stdatomic.h>
#include <stdbool.h>

struct mpsc_node {
    _Atomic(struct mpsc_node *) next;
};

struct mpsc_queue {
    _Atomic(struct mpsc_node *) head; /* producers push here */
    struct mpsc_node *tail;           /* the consumer pops here */
    struct mpsc_node stub;
};

void mpsc_init(struct mpsc_queue *q);

/* Appends node; safe from any thread. */
void mpsc_push(struct mpsc_queue *q, struct mpsc_node *node);

/* Removes the oldest node, or returns NULL when the queue is empty or a
 * producer is between its two steps (its node shows up on the next pop; the
 * producer's wake-up follows the push, so nothing is lost). Consumer only. */
struct mpsc_node *mpsc_pop(struct mpsc_queue *q);

#endif
