/* The HTTP request head parser: http_parser does the tokenizing and validation, the callbacks
 * here keep only the fields chatd reads, each in a fixed bounded field. See request.h. */
#include "http/request.h"

#include <stdint.h>
#include <string.h>

enum { CALLBACK_NONE, CALLBACK_FIELD, CALLBACK_VALUE };

/* ------------------------------------------------------------------------------------------
 * ASCII helpers (no locale: header names and tokens are ASCII by definition)
 * ------------------------------------------------------------------------------------------ */

static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* RFC 7230 §3.2.3: OWS = *( SP / HTAB ) */
static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 7230 §3.2.6: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_"
 * / "`" / "|" / "~" / DIGIT / ALPHA */
static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* ------------------------------------------------------------------------------------------
 * Field sinks: one header value into one bounded field
 * ------------------------------------------------------------------------------------------ */

static void field_init(struct http__field_sink *s, char *dst, size_t cap)
{
    s->dst = dst;
    s->cap = cap;
    s->len = 0;
    s->pending_spaces = 0;
    s->fresh = true;
    s->too_long = false;
    dst[0] = '\0';
}

static void field_begin(struct http__field_sink *s)
{
    s->fresh = true;
    s->pending_spaces = 0;
}

/* Appends what fits; past the bound the field keeps its prefix and is marked too long. */
static void field_put(struct http__field_sink *s, const char *src, size_t n)
{
    if (s->too_long) return;
    size_t room = s->cap - 1 - s->len;
    if (n > room) {
        n = room;
        s->too_long = true;
    }
    memcpy(s->dst + s->len, src, n);
    s->len += n;
    s->dst[s->len] = '\0';
}

/* RFC 7230 §3.2.4: "The field value does not include any leading or trailing whitespace".
 * RFC 7230 §3.2.2: a recipient MAY combine multiple header fields with the same field name
 * "by appending each subsequent field value to the combined field value in order, separated by a
 * comma". Whitespace inside a value is kept as spaces (HTAB and SP are both OWS). */
static void field_push(struct http__field_sink *s, char c)
{
    if (is_ows(c)) {
        if (!s->fresh) s->pending_spaces++;
        return;
    }
    if (s->fresh) {
        s->fresh = false;
        if (s->len > 0) field_put(s, ", ", 2);
    }
    for (; s->pending_spaces > 0 && !s->too_long; s->pending_spaces--) field_put(s, " ", 1);
    s->pending_spaces = 0;
    field_put(s, &c, 1);
}

/* ------------------------------------------------------------------------------------------
 * Token sinks: does a comma-separated list contain a token?
 * ------------------------------------------------------------------------------------------ */

static void token_init(struct http__token_sink *t, const char *token, bool *found)
{
    t->token = token;
    t->found = found;
    *found = false;
    t->matched = 0;
    t->trailing_space = false;
    t->broken = false;
}

/* Ends the current list element: a match sets the result, and the next element starts clean. */
static void token_element_end(struct http__token_sink *t)
{
    if (!t->broken && t->matched > 0 && t->token[t->matched] == '\0') *t->found = true;
    t->matched = 0;
    t->trailing_space = false;
    t->broken = false;
}

static void token_push(struct http__token_sink *t, char c)
{
    if (c == ',') {
        token_element_end(t);
        return;
    }
    if (is_ows(c)) {
        if (t->matched > 0) t->trailing_space = true;
        return;
    }
    if (t->trailing_space || t->broken || t->token[t->matched] != ascii_lower(c)) {
        t->broken = true;
        return;
    }
    t->matched++;
}

/* ------------------------------------------------------------------------------------------
 * http_parser callbacks
 * ------------------------------------------------------------------------------------------ */

/* Records the answer a callback decided on and makes http_parser stop with an error. */
static int fail(struct http_request *r, int status)
{
    r->status = status;
    return -1;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_request *r = p->data;
    if (len > HTTP_MAX_URL - r->url_len) return fail(r, 414);
    memcpy(r->path + r->url_len, at, len);
    r->url_len += len;
    r->path[r->url_len] = '\0';
    return 0;
}

/* Runs once, when the first header (or the end of the head) shows the request line is over:
 * checks the version and cuts the query string and fragment off the target. */
static int request_line_end(struct http_request *r)
{
    r->request_line_done = true;
    r->http_major = r->parser.http_major;
    r->http_minor = r->parser.http_minor;
    if (r->http_major != 1) return fail(r, 505);

    const char *method = http_method_str((enum http_method)r->parser.method);
    size_t method_len = strnlen(method, sizeof r->method - 1);
    memcpy(r->method, method, method_len);
    r->method[method_len] = '\0';

    /* origin-form "/ws?x" and absolute-form "http://host/ws?x" both reduce to the path */
    struct http_parser_url url;
    http_parser_url_init(&url);
    if (http_parser_parse_url(r->path, r->url_len, 0, &url) != 0) return fail(r, 400);
    if (url.field_set & (1 << UF_PATH)) {
        size_t off = url.field_data[UF_PATH].off, len = url.field_data[UF_PATH].len;
        memmove(r->path, r->path + off, len);
        r->path[len] = '\0';
    } else {
        r->path[0] = '/';
        r->path[1] = '\0';
    }
    return 0;
}

/* Every name compared here is shorter than r->name, so equal lengths mean it was stored whole. */
static bool name_is(const struct http_request *r, const char *lowercase_name)
{
    size_t len = strlen(lowercase_name);
    if (r->name_len != len) return false;
    for (size_t i = 0; i < len; i++)
        if (ascii_lower(r->name[i]) != lowercase_name[i]) return false;
    return true;
}

/* The header name is complete: decide where its value goes. */
static int header_begin(struct http_request *r)
{
    r->field = NULL;
    r->tokens = NULL;
    if (name_is(r, "host")) {
        /* RFC 7230 §5.4: "A server MUST respond with a 400 (Bad Request) status code to any
         * HTTP/1.1 request message [...] that contains more than one Host header field". */
        if (++r->host_count > 1) return fail(r, 400);
    } else if (name_is(r, "transfer-encoding")) {
        r->transfer_encoding = true;
    } else if (name_is(r, "upgrade")) {
        r->tokens = &r->upgrade_sink;
    } else if (name_is(r, "connection")) {
        r->tokens = &r->connection_sink;
    } else if (name_is(r, "sec-websocket-key")) {
        r->field = &r->key_sink;
    } else if (name_is(r, "sec-websocket-version")) {
        r->field = &r->version_sink;
    } else if (name_is(r, "sec-websocket-extensions")) {
        r->field = &r->extensions_sink;
    } else if (name_is(r, "origin")) {
        r->field = &r->origin_sink;
    } else if (name_is(r, "x-forwarded-for")) {
        r->field = &r->xff_sink;
    }
    if (r->field) field_begin(r->field);
    return 0;
}

/* The header value is complete (the next name or the end of the head began). */
static void header_end(struct http_request *r)
{
    if (r->tokens) token_element_end(r->tokens);
    r->field = NULL;
    r->tokens = NULL;
}

/* A name may arrive in several pieces; it continues until a value callback comes. Debian builds
 * http_parser without HTTP_PARSER_STRICT, which lets spaces into names ("Name : v", " Host: a"),
 * so names are checked here. RFC 7230 §3.2.4: "A server MUST reject any received request message
 * that contains whitespace between a header field-name and colon with a response code of 400". */
static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_request *r = p->data;
    if (!r->request_line_done && request_line_end(r) != 0) return -1;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar(at[i])) return fail(r, 400);
    if (r->last_callback == CALLBACK_VALUE) header_end(r);
    if (r->last_callback != CALLBACK_FIELD) r->name_len = 0;
    r->last_callback = CALLBACK_FIELD;

    size_t room = r->name_len < sizeof r->name ? sizeof r->name - r->name_len : 0;
    memcpy(r->name + r->name_len, at, len < room ? len : room);
    r->name_len += len; /* a length over sizeof name matches no name we read */
    return 0;
}

/* A value may arrive in several pieces too (split feeds, obsolete line folding). */
static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_request *r = p->data;
    if (r->last_callback == CALLBACK_FIELD && header_begin(r) != 0) return -1;
    r->last_callback = CALLBACK_VALUE;
    if (r->field)
        for (size_t i = 0; i < len; i++) field_push(r->field, at[i]);
    if (r->tokens)
        for (size_t i = 0; i < len; i++) token_push(r->tokens, at[i]);
    return 0;
}

/* The head is over. Returning 2 tells http_parser to expect no body and to stop right after the
 * head, as for an upgrade: whatever follows belongs to the WebSocket stream (or is a body the
 * caller refuses), and the returned byte count is exactly the head. */
static int on_headers_complete(http_parser *p)
{
    struct http_request *r = p->data;
    if (!r->request_line_done && request_line_end(r) != 0) return -1;
    if (r->last_callback == CALLBACK_VALUE) header_end(r);

    if (r->key_sink.too_long) {
        r->ws_key_too_long = true;
        r->ws_key[0] = '\0';
    }
    r->ws_extensions_too_long = r->extensions_sink.too_long;
    r->origin_too_long = r->origin_sink.too_long;
    r->x_forwarded_for_too_long = r->xff_sink.too_long;
    r->has_host = r->host_count > 0;
    r->has_body = r->transfer_encoding || (p->flags & F_CHUNKED) ||
                  (p->content_length > 0 && p->content_length != UINT64_MAX);
    r->keep_alive = http_should_keep_alive(p) != 0;
    r->complete = true;
    return 2;
}

static const http_parser_settings request_settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
};

/* ------------------------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------------------------ */

void http_request_init(struct http_request *r)
{
    memset(r, 0, sizeof *r);
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
    r->status = HTTP_NEED_MORE;
    r->last_callback = CALLBACK_NONE;
    field_init(&r->key_sink, r->ws_key, sizeof r->ws_key);
    field_init(&r->version_sink, r->ws_version, sizeof r->ws_version);
    field_init(&r->extensions_sink, r->ws_extensions, sizeof r->ws_extensions);
    field_init(&r->origin_sink, r->origin, sizeof r->origin);
    field_init(&r->xff_sink, r->x_forwarded_for, sizeof r->x_forwarded_for);
    token_init(&r->upgrade_sink, "websocket", &r->upgrade_websocket);
    token_init(&r->connection_sink, "upgrade", &r->connection_upgrade);
}

int http_request_feed(struct http_request *r, const char *data, size_t n, size_t *consumed)
{
    *consumed = 0;
    /* http_parser reads a zero-length feed as end of input: never pass one on */
    if (r->status != HTTP_NEED_MORE || n == 0) return r->status;

    /* Hand over at most one byte past the bound, so an oversized head is caught as soon as it
     * passes HTTP_MAX_HEADER_BYTES, while a complete head followed by frame bytes is not. */
    size_t room = HTTP_MAX_HEADER_BYTES + 1 - r->head_bytes;
    size_t chunk = n < room ? n : room;
    size_t parsed = http_parser_execute(&r->parser, &request_settings, data, chunk);

    if (r->complete) {
        r->head_bytes += parsed;
        if (r->head_bytes > HTTP_MAX_HEADER_BYTES) return r->status = 431;
        *consumed = parsed;
        return r->status = 0;
    }
    if (HTTP_PARSER_ERRNO(&r->parser) != HPE_OK) {
        if (r->status == HTTP_NEED_MORE) r->status = 400;
        return r->status;
    }
    r->head_bytes += chunk;
    if (r->head_bytes > HTTP_MAX_HEADER_BYTES) r->status = 431;
    return r->status;
}
