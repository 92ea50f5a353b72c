/* chatctl bench-users: the users the load generator (tools/bench) needs, made
 * at once: bench<id> for consecutive ids, with each pair (first+2k,
 * first+2k+1) following each other both ways, in one transaction. Running it
 * again changes nothing (ON CONFLICT DO NOTHING).
 *
 * The same SQL runs on both engines (chatctl_run): $n parameters (SQLite
 * reads them as named parameters), ON CONFLICT DO NOTHING rather than INSERT
 * OR IGNORE, a recursive CTE rather than generate_series, and WHERE true
 * before ON CONFLICT (SQLite needs it to tell the upsert from a join
 * constraint). On PostgreSQL, $1 and $2 are sent as BIGINT and $3 (the time)
 * as TIMESTAMPTZ. */
#include "chatctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BENCH_USERS_MAX 10000000

/* $1 first id, $2 last id, $3 now (ISO-8601 UTC text) */
static const char *const bench_users_sql[] = {
    "WITH RECURSIVE ids (id) AS ("
    " SELECT CAST($1 AS BIGINT) UNION ALL SELECT id + 1 FROM ids WHERE id < $2)"
    " INSERT INTO users_auth (user_id, username, created_at)"
    " SELECT id, 'bench' || id, $3 FROM ids WHERE true"
    " ON CONFLICT DO NOTHING",

    /* only for ids that exist: one whose username was taken by another id
     * was not inserted above */
    "WITH RECURSIVE ids (id) AS ("
    " SELECT CAST($1 AS BIGINT) UNION ALL SELECT id + 1 FROM ids WHERE id < $2)"
    " INSERT INTO user_profile_info (user_id, display_name, profile_picture)"
    " SELECT ids.id, 'Bench ' || ids.id, NULL FROM ids"
    " JOIN users_auth u ON u.user_id = ids.id WHERE true"
    " ON CONFLICT DO NOTHING",

    /* a is the first of each complete pair; both directions */
    "WITH RECURSIVE pairs (a) AS ("
    " SELECT CAST($1 AS BIGINT) UNION ALL SELECT a + 2 FROM pairs WHERE a + 3 <= $2)"
    " INSERT INTO user_follows (follower_id, followee_id, created_at)"
    " SELECT a, a + 1, $3 FROM pairs WHERE true"
    " UNION ALL SELECT a + 1, a, $3 FROM pairs WHERE true"
    " ON CONFLICT DO NOTHING",
};

/* Runs one statement with the three parameters ($1 and $2 BIGINT, $3 the
 * time as TIMESTAMPTZ on PostgreSQL, text on SQLite); the rows it wrote go
 * to *changes. 0, or CHATCTL_ERROR. */
static int bulk_run(struct chatctl_db *db, const char *sql, int64_t first, int64_t last,
                    const char *now, long long *changes)
{
    char first_text[24], last_text[24];
    snprintf(first_text, sizeof first_text, "%" PRId64, first);
    snprintf(last_text, sizeof last_text, "%" PRId64, last);
    struct chatctl_query q = {
        .sql = sql, .types = "iit", .params = {first_text, last_text, now}, .nparams = 3};
    int rc = chatctl_run(db, &q);
    *changes = q.changes;
    chatctl_query_clear(&q);
    return rc == CHATCTL_ERROR ? rc : 0;
}

/* Explicit ids do not move PostgreSQL's identity sequence: move it past
 * them, so that a later `user add` without --id does not collide. */
static int bulk_sync_sequence(struct chatctl_db *db)
{
    if (!db->pg) return 0;
    return chatctl_run_sql(db, "SELECT setval(pg_get_serial_sequence('users_auth', 'user_id'),"
                               " (SELECT max(user_id) FROM users_auth))");
}

int chatctl_bench_users(int argc, char **argv)
{
    const char *count_text;
    struct chatctl_option options[] = {{"--first-id", NULL}};
    if (chatctl_parse(argc, argv, &count_text, 1, options, 1) != 0) return 1;
    int64_t count = 0, first = 1;
    if (!chatctl_parse_int64(count_text, &count) || count < 1 || count > BENCH_USERS_MAX)
        return chatctl_fail("N must be 1 to %d", BENCH_USERS_MAX);
    if (options[0].value &&
        (!chatctl_parse_int64(options[0].value, &first) || first < 1 || first > INT64_MAX / 2))
        return chatctl_fail("--first-id must be a positive integer");
    int64_t last = first + count - 1;
    char now[32];
    chatctl_iso_now(now);

    struct chatctl_db db;
    if (chatctl_connect(&db, false) != 0) return 1;
    long long changes[3] = {0, 0, 0};
    int rc = chatctl_begin(&db);
    size_t statements = count >= 2 ? 3 : 2;
    for (size_t i = 0; rc == 0 && i < statements; i++)
        rc = bulk_run(&db, bench_users_sql[i], first, last, now, &changes[i]);
    if (rc == 0) rc = bulk_sync_sequence(&db);
    if (rc == 0) rc = chatctl_commit(&db);
    int status = 0;
    if (rc != 0) {
        status = chatctl_fail_db(&db, "adding the bench users");
        chatctl_rollback(&db);
    } else {
        printf("bench%" PRId64 "..bench%" PRId64 ": %lld users and %lld follows added, %" PRId64
               " pairs follow each other\n",
               first, last, changes[0], changes[2], count / 2);
    }
    chatctl_disconnect(&db);
    return status;
}
