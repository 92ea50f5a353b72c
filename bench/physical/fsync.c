/* Physical limit (d): the time of one fsync on this disk. Appends a 4 KiB
 * block to a file and fsyncs it, --count times (as a WAL commit does), then
 * reports the median, p99 and mean; fdatasync the same way beside it,
 * since SQLite on Linux syncs its WAL with fdatasync.
 *
 *   fsync [--file build/bench/physical/fsync.tmp] [--count 200] */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <unistd.h>

#define MAX_COUNT 100000

static int64_t samples[MAX_COUNT];

/* Times count appends of 4 KiB each followed by sync(fd); fills samples. */
static int run(const char *path, int count, int (*sync_fn)(int), double *median, double *p99,
               double *mean)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return -1;
    char block[4096];
    memset(block, 'x', sizeof block);
    double sum = 0;
    for (int i = 0; i < count; i++) {
        if (write(fd, block, sizeof block) != (ssize_t)sizeof block) return -1;
        int64_t t = now_ns();
        if (sync_fn(fd) != 0) return -1;
        samples[i] = now_ns() - t;
        sum += (double)samples[i];
    }
    close(fd);
    unlink(path);
    qsort(samples, (size_t)count, sizeof samples[0], cmp_i64);
    *median = (double)samples[count / 2] / 1e6;
    *p99 = (double)samples[(count * 99) / 100] / 1e6;
    *mean = sum / count / 1e6;
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = option(argc, argv, "--file", "build/bench/physical/fsync.tmp");
    int count = atoi(option(argc, argv, "--count", "200"));
    if (count < 1 || count > MAX_COUNT) return 2;
    struct cpu_mark mark = cpu_mark();
    double fm, fp, fa, dm, dp, da;
    if (run(path, count, fsync, &fm, &fp, &fa) || run(path, count, fdatasync, &dm, &dp, &da)) {
        perror("fsync");
        return 1;
    }
    printf("fsync: %d x (append 4 KiB + sync) on %s: fsync median %.3f ms p99 %.3f ms mean "
           "%.3f ms; fdatasync median %.3f ms p99 %.3f ms mean %.3f ms [other %.2f cores]\n",
           count, path, fm, fp, fa, dm, dp, da, other_cores(mark));
    return 0;
}
