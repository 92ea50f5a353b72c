/* Delivery of one already-framed event to every connection of a user: the
 * loop's own map from user to its connections, and the hand-over to other
 * loops through their inboxes. */
#ifndef CHATD_NET_DELIVER_H
#define CHATD_NET_DELIVER_H

#include <stdint.h>

struct loop;
struct conn;

/* Adds c (authenticated as c->user_id) to its loop's map; 0 or CHAT_E_NOMEM. */
int deliver_attach(struct conn *c);

/* Removes c from its loop's map (no-op when it was never attached). */
void deliver_detach(struct conn *c);

#endif
