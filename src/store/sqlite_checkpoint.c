/* The checkpointer of the SQLite engine: a thread with its own connection
 * that copies the WAL back into the database file, so that the writer's
 * commits never do; the writer's commit hook that wakes it (and bounds the
 * WAL when it falls behind); and the busy handlers both connections use
 * while they wait for a lock. */
#include "store/sqlite_engine.h"

#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* The user service and chatctl write the same file; a writer waits this long
 * for them before its batch fails as unavailable. */
#define SQLITE_BUSY_TIMEOUT_MS 5000

/* Checkpoints. The writer's commit hook wakes the checkpointer once this many
 * WAL frames (pages) wait to be copied back. A checkpoint copies each page
 * once however many frames hold it, so a longer interval copies less, but
 * each one then ends with a larger sync of the database file, which the
 * writer's WAL sync queues behind. Measured at 10,000 DMs/s (p99 delivery,
 * median of three runs, with the niceness below): 2000 frames 5.6 ms, 1000
 * 5.6 ms, 500 4.0 ms, 250 4.4 ms. With the WAL restarts below, after paced
 * runs as in `make bench` (four runs each): 500 gave 3.64-7.86 ms (p99.9 up
 * to 22 ms), 250 3.93-4.46 ms (p99.9 at most 10 ms); the closed loop kept
 * its throughput either way. */
#define CKPT_WAKE_FRAMES 250
/* The checkpointer runs this much nicer than the rest of chatd: on a busy
 * core its copying then yields to the event loops and the writer instead of
 * delaying their answers (p99 at 10,000 DMs/s: 5.6 ms at the same niceness,
 * 4.0 ms at +10). +19 starved it under a saturating load: the WAL reached
 * CKPT_HARD_FRAMES and the writer's own checkpoint found the lock held by the
 * starved checkpointer. */
#define CKPT_NICE_OFFSET 10
/* How long a writer that found the WAL past CKPT_HARD_FRAMES waits for the
 * checkpointer to finish its pass. */
#define CKPT_HARD_WAIT_MS 200
/* A PASSIVE checkpoint copies what was committed before it started; it is
 * repeated (at most CKPT_PASSES times) while the writer committed more than
 * this meanwhile, so that what is left for a RESTART is small. */
#define CKPT_CATCH_UP_FRAMES 64
#define CKPT_PASSES 4
/* Past this many frames the checkpointer makes the WAL start over from its
 * beginning: a RESTART checkpoint holds the write lock while it copies the
 * few frames the PASSIVE ones left and syncs the database file, so the
 * writer waits that long once per ~CKPT_RESTART_FRAMES frames: those waits
 * were the p99 at 10,000 DMs/s. Alone (median of three runs): 4.75 ms at
 * 6144 frames, 4.03 ms at 12288. After paced runs at 1,000, 2,000 and 5,000
 * DMs/s on the same server, as in `make bench` (four runs each): 4.75-6.69
 * ms at 12288, 3.85-4.46 ms at 24576, which keeps a WAL of up to 96 MiB. It
 * waits at most
 * CKPT_RESTART_WAIT_MS for the writer to finish its batch, else tries again
 * at the next wake-up. */
#define CKPT_RESTART_FRAMES 24576
#define CKPT_RESTART_WAIT_MS 50

/* ---------------------------------------------------------------------------
 * Waiting for locks
 * ------------------------------------------------------------------------- */

static void sleep_us(int64_t us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* How long to sleep before the next look at a lock: fine-grained at first,
 * since the checkpointer holds the write lock for a millisecond or so, then
 * coarser for another process's long transaction. */
static int64_t busy_pause_us(int count)
{
    if (count < 40) return 50;
    if (count < 100) return 250;
    return 2000;
}

/* The writer's busy handler: SQLite's busy_timeout with finer sleeps (its
 * own sleeps a whole millisecond first, then more). */
int sqlite_writer_busy(void *arg, int count)
{
    struct engine *e = arg;
    int64_t now = clock_monotonic_us();
    if (count == 0) e->busy_since_us = now;
    int64_t left = e->busy_since_us + (int64_t)SQLITE_BUSY_TIMEOUT_MS * 1000 - now;
    if (left <= 0) return 0;
    int64_t pause = busy_pause_us(count);
    sleep_us(pause < left ? pause : left);
    return 1;
}

/* The checkpointer's: it waits for the write lock only until its deadline. */
static int checkpointer_busy(void *arg, int count)
{
    struct checkpointer *c = arg;
    int64_t left = c->busy_deadline_us - clock_monotonic_us();
    if (left <= 0) return 0;
    sleep_us(left < 50 ? left : 50);
    return 1;
}

/* ---------------------------------------------------------------------------
 * Checkpoints
 *
 * SQLite's automatic checkpoint runs inside the commit that takes the WAL past
 * 1000 pages: it copies them into the database file and syncs it while every
 * op of the batch waits for its answer. Here the writer's commit hook only
 * counts the frames and wakes the checkpointer, which copies them with PASSIVE
 * checkpoints on its own connection, concurrently with the writer. When a
 * checkpoint has copied everything, the writer's next transaction starts the
 * WAL over from its beginning by itself; under steady load it rarely finds it
 * so, and the checkpointer then makes it happen with a RESTART checkpoint
 * once the WAL passes CKPT_RESTART_FRAMES. Durability is untouched: commits
 * still sync the WAL (synchronous=FULL), and a checkpoint syncs the database
 * file before the WAL frames it copied may be overwritten.
 * ------------------------------------------------------------------------- */

/* What the last checkpoint copied, tagged with the WAL generation it saw. */
static void checkpoint_publish(struct checkpointer *c, unsigned generation, int copied)
{
    uint64_t value = (uint64_t)generation << 32 | (uint32_t)(copied > 0 ? copied : 0);
    atomic_store(&c->progress, value);
}

/* Frames of the WAL not yet copied back, as the writer sees it after a
 * commit that left `frames` in it. */
static int checkpoint_backlog(struct engine *e, int frames)
{
    uint64_t progress = atomic_load(&e->ckpt.progress);
    unsigned generation = (unsigned)(progress >> 32);
    int copied = (int)(uint32_t)progress;
    if (generation != atomic_load(&e->wal_generation) || copied > frames) return frames;
    return frames - copied;
}

static void checkpointer_wake(struct checkpointer *c)
{
    pthread_mutex_lock(&c->lock);
    if (!c->wanted) {
        c->wanted = true;
        pthread_cond_signal(&c->wake);
    }
    pthread_mutex_unlock(&c->lock);
}

/* The writer found the WAL past its bound while the checkpointer is copying
 * (its own checkpoint was BUSY). Running nicer, the checkpointer may be
 * starved of CPU by this very thread: the writer pauses until it finishes a
 * pass (at most CKPT_HARD_WAIT_MS), which holds the ops of this batch, and
 * so the clients, back until the disk catches up. */
static void writer_wait_for_checkpointer(struct engine *e)
{
    uint64_t before = atomic_load(&e->ckpt.progress);
    for (int waited_ms = 0; waited_ms < CKPT_HARD_WAIT_MS; waited_ms++) {
        if (atomic_load(&e->ckpt.progress) != before) return;
        sleep_us(1000);
    }
}

/* The writer's commit hook (SQLite calls it after every commit, on the
 * storage thread, with the frames now in the WAL). It replaces SQLite's
 * automatic checkpoint. */
int sqlite_writer_committed(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct engine *e = arg;
    if (frames < e->wal_frames) atomic_fetch_add(&e->wal_generation, 1); /* started over */
    e->wal_frames = frames;
    if (frames < CKPT_HARD_FRAMES) e->wal_over_bound = false;
    if (frames >= CKPT_HARD_FRAMES) {
        /* The checkpointer is not keeping up: do it here, as SQLite would. */
        int log = 0, copied = 0;
        int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
        if (!e->wal_over_bound)
            log_warn("store: sqlite: the WAL reached %d pages: %s", frames,
                     rc == SQLITE_BUSY ? "writes wait for the checkpointer"
                     : rc == SQLITE_OK ? "checkpointed in the commit"
                                       : sqlite3_errstr(rc));
        if (rc == SQLITE_BUSY) writer_wait_for_checkpointer(e);
        e->wal_over_bound = true;
        return SQLITE_OK;
    }
    if (e->ckpt.started && checkpoint_backlog(e, frames) >= CKPT_WAKE_FRAMES)
        checkpointer_wake(&e->ckpt);
    return SQLITE_OK;
}

static void checkpoint_run(struct engine *e)
{
    struct checkpointer *c = &e->ckpt;
    unsigned generation = atomic_load(&e->wal_generation);
    int log = 0, copied = 0, rc = SQLITE_OK;
    for (int pass = 0; pass < CKPT_PASSES; pass++) {
        rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
        if (rc != SQLITE_OK) break;
        checkpoint_publish(c, generation, copied);
        if (log - copied <= CKPT_CATCH_UP_FRAMES) break;
    }
    if (rc == SQLITE_OK && log >= CKPT_RESTART_FRAMES) {
        /* The few frames left are copied under the write lock; the writer's
         * next transaction then starts the WAL over. A busy answer (the
         * writer kept the lock, or another process reads an old snapshot)
         * leaves it for the next wake-up. */
        c->busy_deadline_us = clock_monotonic_us() + CKPT_RESTART_WAIT_MS * 1000;
        rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_RESTART, &log, &copied);
        if (rc == SQLITE_OK || rc == SQLITE_BUSY) checkpoint_publish(c, generation, copied);
        if (rc == SQLITE_BUSY) rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        log_warn("store: sqlite: checkpoint: %s", sqlite3_errmsg(c->db));
}

/* Best effort: raising one's own nice value needs no privilege. */
static void checkpointer_lower_priority(void)
{
    id_t self = (id_t)gettid();
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, self);
    if (nice == -1 && errno != 0) return;
    nice = nice + CKPT_NICE_OFFSET > 19 ? 19 : nice + CKPT_NICE_OFFSET;
    if (setpriority(PRIO_PROCESS, self, nice) != 0)
        log_debug("store: sqlite: checkpointer keeps its priority");
}

static void *checkpointer_main(void *arg)
{
    struct engine *e = arg;
    struct checkpointer *c = &e->ckpt;
    pthread_setname_np(pthread_self(), "chatd-ckpt");
    checkpointer_lower_priority();
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->wanted && !c->stopping) pthread_cond_wait(&c->wake, &c->lock);
        if (c->stopping) break;
        c->wanted = false;
        pthread_mutex_unlock(&c->lock);
        checkpoint_run(e);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

void sqlite_checkpointer_stop(struct engine *e)
{
    struct checkpointer *c = &e->ckpt;
    if (c->started) {
        pthread_mutex_lock(&c->lock);
        c->stopping = true;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->thread, NULL);
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        c->started = false;
    }
    sqlite3_close(c->db);
    c->db = NULL;
}

/* Opens the checkpointer's connection and starts its thread. The writer
 * still works without it (its hook then checkpoints at CKPT_HARD_FRAMES),
 * so only opening the file can fail. */
int sqlite_checkpointer_start(struct engine *e, const char *path, char *err, size_t errlen)
{
    struct checkpointer *c = &e->ckpt;
    atomic_init(&c->progress, 0);
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s for checkpoints: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : "out of memory");
        return CHAT_E_IO;
    }
    sqlite3_busy_handler(c->db, checkpointer_busy, c);
    c->busy_deadline_us = clock_monotonic_us() + (int64_t)SQLITE_BUSY_TIMEOUT_MS * 1000;
    /* FULL: a checkpoint syncs the database file before the WAL frames it
     * copied can be overwritten. The read opens the WAL for this connection. */
    if (sqlite3_exec(c->db, "PRAGMA synchronous = FULL; SELECT count(*) FROM sqlite_master", NULL,
                     NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot configure the checkpoint connection: %s",
                 sqlite3_errmsg(c->db));
        return CHAT_E_IO;
    }
    if (pthread_mutex_init(&c->lock, NULL) != 0) return CHAT_E_NOMEM;
    if (pthread_cond_init(&c->wake, NULL) != 0) {
        pthread_mutex_destroy(&c->lock);
        return CHAT_E_NOMEM;
    }
    if (pthread_create(&c->thread, NULL, checkpointer_main, e) != 0) {
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        snprintf(err, errlen, "cannot start the checkpoint thread");
        return CHAT_E_NOMEM;
    }
    c->started = true;
    return 0;
}
