/* Physical limit (b): SQLite inserts/s in WAL mode with synchronous=FULL,
 * one transaction (so one WAL sync) per batch of 1, 16 and 256 rows. The
 * row is shaped like a stored DM: ids, a 100-byte blob standing in for the
 * sealed content, a client message id and a time; one index, as the
 * conversation history needs. This bounds "ack after commit" on SQLite.
 *
 *   sqlite [--file build/bench/physical/sqlite.db] [--seconds 2] */
#define _GNU_SOURCE
#include "common.h"

#include <sqlite3.h>
#include <unistd.h>

static int exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s: %s\n", sql, err);
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

/* Inserts batches of `batch` rows for `seconds`; returns rows/s, or -1. */
static double measure(sqlite3 *db, sqlite3_stmt *insert, int batch, double seconds,
                      int64_t *next_id)
{
    unsigned char blob[100];
    memset(blob, 0xab, sizeof blob);
    char client_id[32];
    uint64_t rows = 0;
    int64_t start = now_ns(), end = start + (int64_t)(seconds * 1e9);
    while (now_ns() < end) {
        if (exec(db, "BEGIN")) return -1;
        for (int i = 0; i < batch; i++) {
            int64_t id = (*next_id)++;
            snprintf(client_id, sizeof client_id, "c%lld", (long long)id);
            sqlite3_bind_int64(insert, 1, 1 + id % 1000);
            sqlite3_bind_int64(insert, 2, 1 + (id * 7) % 1000);
            sqlite3_bind_int64(insert, 3, id % 500);
            sqlite3_bind_blob(insert, 4, blob, sizeof blob, SQLITE_STATIC);
            sqlite3_bind_text(insert, 5, client_id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(insert, 6, id);
            if (sqlite3_step(insert) != SQLITE_DONE) {
                fprintf(stderr, "sqlite: insert: %s\n", sqlite3_errmsg(db));
                return -1;
            }
            sqlite3_reset(insert);
        }
        if (exec(db, "COMMIT")) return -1;
        rows += (uint64_t)batch;
    }
    return rows / ((double)(now_ns() - start) / 1e9);
}

int main(int argc, char **argv)
{
    const char *path = option(argc, argv, "--file", "build/bench/physical/sqlite.db");
    double seconds = option_double(argc, argv, "--seconds", 2);
    char side[512];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);

    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        fprintf(stderr, "sqlite: cannot open %s\n", path);
        return 1;
    }
    if (exec(db, "PRAGMA journal_mode=WAL") || exec(db, "PRAGMA synchronous=FULL") ||
        exec(db, "CREATE TABLE messages (id INTEGER PRIMARY KEY, sender_id INTEGER NOT NULL,"
                 " recipient_id INTEGER NOT NULL, conversation_id INTEGER NOT NULL,"
                 " ciphertext BLOB NOT NULL, client_message_id TEXT NOT NULL,"
                 " created_at INTEGER NOT NULL)") ||
        exec(db, "CREATE INDEX messages_conversation ON messages (conversation_id, id)"))
        return 1;
    sqlite3_stmt *insert;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO messages (sender_id, recipient_id, conversation_id,"
                           " ciphertext, client_message_id, created_at) VALUES (?,?,?,?,?,?)",
                           -1, &insert, NULL) != SQLITE_OK)
        return 1;

    struct cpu_mark mark = cpu_mark();
    static const int batches[] = {1, 16, 256};
    double rate[3];
    int64_t next_id = 1;
    for (int i = 0; i < 3; i++) {
        rate[i] = measure(db, insert, batches[i], seconds, &next_id);
        if (rate[i] < 0) return 1;
    }
    sqlite3_finalize(insert);
    sqlite3_close(db);
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    printf("sqlite: WAL synchronous=FULL, one commit per batch, %.0f s each: batch 1 %.0f rows/s,"
           " batch 16 %.0f rows/s, batch 256 %.0f rows/s (SQLite %s) [other %.2f cores]\n",
           seconds, rate[0], rate[1], rate[2], sqlite3_libversion(), other_cores(mark));
    return 0;
}
