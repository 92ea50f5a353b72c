/* Small helpers shared by the physical-limit probes: a monotonic clock, CPU
 * pinning and "--name value" option lookup. Header-only; each probe is one
 * file and prints one line. */
#ifndef PHYSICAL_COMMON_H
#define PHYSICAL_COMMON_H

#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Pins the calling thread to cpu (modulo the CPUs online); -1 leaves it free. */
static inline void pin_to(int cpu)
{
    if (cpu < 0) return;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % (n > 0 ? n : 1), &set);
    sched_setaffinity(0, sizeof set, &set);
}

/* The value after --name in argv, or fallback. */
static inline const char *option(int argc, char **argv, const char *name, const char *fallback)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return fallback;
}

static inline double option_double(int argc, char **argv, const char *name, double fallback)
{
    const char *v = option(argc, argv, name, NULL);
    return v ? atof(v) : fallback;
}

/* CPU used by everything but this process between two marks, in cores:
 * printed beside each result as "[other x.xx cores]", since on this shared
 * 2-core machine a busy neighbour (a test suite, a build) can halve a figure. */
struct cpu_mark {
    double busy_s, self_s;
    int64_t t;
};

static inline struct cpu_mark cpu_mark(void)
{
    struct cpu_mark m = {0, 0, now_ns()};
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]) != 8)
            memset(v, 0, sizeof v);
        fclose(f);
    }
    /* user nice system idle iowait irq softirq steal: all but idle, iowait */
    m.busy_s = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    m.self_s = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    return m;
}

static inline double other_cores(struct cpu_mark from)
{
    struct cpu_mark to = cpu_mark();
    double other = (to.busy_s - from.busy_s) - (to.self_s - from.self_s);
    return other > 0 ? other / ((double)(to.t - from.t) / 1e9) : 0;
}

static inline int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

#endif
