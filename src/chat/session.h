/* The chat layer's entry points, called by the transport for each
 * connection: it opened, a text message arrived, a deadline of the session
 * passed, it is going away. The session state itself lives in struct conn. */
#ifndef CHATD_CHAT_SESSION_H
#define CHATD_CHAT_SESSION_H

#include <stddef.h>
#include <stdint.h>

struct conn;
struct loop;

/* The WebSocket is open: assigns the clientId. */
void session_on_open(struct conn *c);

/* One complete text message (valid UTF-8, at most MAX_FRAME_BYTES). The
 * bytes are only valid during the call. */
void session_on_text(struct conn *c, const uint8_t *text, size_t len);

/* The token's exp has passed: sends session_ended and closes with 4003. */
void session_on_token_expired(struct conn *c);

/* Sends session_ended with reason, then closes with 4003. */
void session_end(struct conn *c, const char *reason);

/* Re-checks every authenticated session of loop against revocations and
 * deleted users (REVOCATION_CHECK_MS timer of each loop). */
void session_revalidate_loop(struct loop *loop);

/* The connection is going away (called once): unregisters the user. */
void session_on_close(struct conn *c);

#endif
