/* A client request that waits for the store: it holds its connection, the
 * store operation, and what the reply will need. The storage thread's
 * completion hands it back to the connection's own loop, where resume runs;
 * a connection that closed meanwhile gets nothing, and the request is freed. */
#ifndef CHATD_CHAT_REQUEST_H
#define CHATD_CHAT_REQUEST_H

#include "net/loop.h"
#include "proto/request.h"
#include "store/store.h"
#include "util/buf.h"

#include <stdint.h>

struct conn;
struct chat_request;

typedef void (*chat_resume_fn)(struct chat_request *r);

struct chat_request {
    struct inbox_item item;
    struct conn *conn;
    struct store_op *op;
    chat_resume_fn resume;
    char request_id[PROTO_REQUEST_ID_BYTES];
    int64_t rate_taken_ms;  /* a rate-limit slot to give back on failure; 0: none */
    int64_t retry_after_ms; /* for rate_limited */
    char *content;          /* the plain text of a send (owned) */
    size_t content_len;
    int64_t token_exp_s;  /* authenticate: the verified token's exp */
    int64_t submitted_us; /* monotonic, for the store-latency metric */
};

/* A request of c for a store op of kind; NULL when out of memory. */
struct chat_request *chat_request_new(struct conn *c, enum store_op_kind kind,
                                      const char *request_id, chat_resume_fn resume);

/* Hands r to the store; resume runs later on c's loop, then r is freed. */
void chat_request_submit(struct chat_request *r);

/* Frees a request that was never submitted. */
void chat_request_free(struct chat_request *r);

/* Sends the contents of out to c as one text frame, then empties out. */
void chat_send(struct conn *c, buf *out);

/* Sends an error reply. */
void chat_send_error(struct conn *c, const char *request_id, int err);

/* The loop's scratch buffer for building one reply, emptied. */
buf *chat_scratch(struct conn *c);

/* A second scratch buffer, emptied, for a message object that several
 * replies embed. */
buf *chat_message_scratch(struct conn *c);

#endif
