/* What a run measured, and how it is shown: CPU time of the generator and of
 * the server (so one can see which of them saturated), the server's RSS, and
 * the results as a human table and as JSON. */
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---------------------------------------------------------------------------
 * Samples of /proc and getrusage
 * ------------------------------------------------------------------------- */

/* utime + stime of pid in seconds (fields 14 and 15 of /proc/PID/stat,
 * counted after the parenthesised command name, which may hold spaces). */
static double server_cpu_seconds(int pid)
{
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *p = strrchr(text, ')');
    if (!p) return -1;
    unsigned long long utime, stime;
    /* after ')': state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
        2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Non-idle time of all CPUs together, in seconds: the first line of
 * /proc/stat, user nice system idle iowait irq softirq steal (in ticks). */
static double machine_busy_seconds(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 7) return -1;
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

void bench_sample_take(struct bench_sample *s, int pid)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    s->wall_ns = bench_now_ns();
    s->user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    s->sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    s->server_s = pid > 0 ? server_cpu_seconds(pid) : -1;
    s->machine_busy_s = machine_busy_seconds();
}

int64_t bench_server_rss(int pid)
{
    if (pid <= 0) return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int64_t rss = -1;
    while (fgets(line, sizeof line, f)) {
        long long kib;
        if (sscanf(line, "VmRSS: %lld kB", &kib) == 1) {
            rss = kib * 1024;
            break;
        }
    }
    fclose(f);
    return rss;
}

/* ---------------------------------------------------------------------------
 * Derived figures
 * ------------------------------------------------------------------------- */

#define CPU_MIN_WINDOW_S 0.05

void bench_cpu_window(const struct bench_sample *a, const struct bench_sample *b,
                      struct cpu_window *w)
{
    w->wall_s = (double)(b->wall_ns - a->wall_ns) / 1e9;
    w->gen_user_s = b->user_s - a->user_s;
    w->gen_sys_s = b->sys_s - a->sys_s;
    w->server_s = a->server_s >= 0 && b->server_s >= 0 ? b->server_s - a->server_s : -1;
    /* CPU times tick in 1-10 ms: over a shorter window a ratio means nothing */
    bool long_enough = w->wall_s >= CPU_MIN_WINDOW_S;
    w->gen_cores = long_enough ? (w->gen_user_s + w->gen_sys_s) / w->wall_s : -1;
    w->server_cores = long_enough && w->server_s >= 0 ? w->server_s / w->wall_s : -1;
    w->other_cores = -1;
    if (long_enough && a->machine_busy_s >= 0 && b->machine_busy_s >= 0) {
        double other = b->machine_busy_s - a->machine_busy_s - w->gen_user_s - w->gen_sys_s -
                       (w->server_s >= 0 ? w->server_s : 0);
        w->other_cores = other > 0 ? other / w->wall_s : 0;
    }
}

static double connect_seconds(const struct bench_stats *s)
{
    if (!s->connect_ok || s->last_ready_ns <= s->first_start_ns) return 0;
    return (double)(s->last_ready_ns - s->first_start_ns) / 1e9;
}

static double per_second(uint64_t n, double seconds)
{
    return seconds > 0 ? (double)n / seconds : 0;
}

static bool scenario_sends(const struct bench_options *o)
{
    return o->scenario == BENCH_DM || o->scenario == BENCH_DM_RATE ||
           o->scenario == BENCH_FANOUT_USER;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* ---------------------------------------------------------------------------
 * The human table
 * ------------------------------------------------------------------------- */

static void text_counters(FILE *f, const char *title, const struct bench_counters *c)
{
    fprintf(f, "  %-13s", title);
    if (!c->n) fputs("none", f);
    for (int i = 0; i < c->n; i++)
        fprintf(f, "%s%s=%llu", i ? "  " : "", c->items[i].name,
                (unsigned long long)c->items[i].count);
    fputc('\n', f);
}

static void text_latency(FILE *f, const char *name, const struct bench_hist *h)
{
    if (!h->count) {
        fprintf(f, "    %-10s %9s\n", name, "-");
        return;
    }
    fprintf(f, "    %-10s %9.3f %9.3f %9.3f %9.3f %9.3f %10llu\n", name,
            ms(bench_hist_quantile(h, 0.50)), ms(bench_hist_quantile(h, 0.99)),
            ms(bench_hist_quantile(h, 0.999)), ms(h->max), h->sum / (double)h->count / 1e6,
            (unsigned long long)h->count);
}

static void text_cpu(FILE *f, const char *title, const struct cpu_window *w)
{
    fprintf(f, "  %-13sgenerator ", title);
    if (w->gen_cores >= 0) fprintf(f, "%.2f cores ", w->gen_cores);
    fprintf(f, "(user %.2f s, sys %.2f s)", w->gen_user_s, w->gen_sys_s);
    if (w->server_s >= 0) {
        fputs("   server ", f);
        if (w->server_cores >= 0) fprintf(f, "%.2f cores ", w->server_cores);
        fprintf(f, "(%.2f s)", w->server_s);
    }
    if (w->other_cores >= 0) fprintf(f, "   other %.2f cores", w->other_cores);
    fprintf(f, "   over %.3f s\n", w->wall_s);
}

static void text_mib(FILE *f, const char *label, int64_t bytes)
{
    if (bytes >= 0) fprintf(f, "%s %.1f MiB", label, (double)bytes / 1048576.0);
}

void bench_report_text(const struct bench_run *run, const struct bench_result *r, FILE *f)
{
    const struct bench_options *o = &run->opt;
    const struct bench_stats *s = &r->stats;
    fprintf(f, "bench %s  label=%s  %s:%d  threads=%d  source-ips=%d\n", o->scenario_name, o->label,
            o->host, o->port, o->threads, o->source_ips);
    double cs = connect_seconds(s);
    fprintf(f, "  %-13s%llu ready, %llu failed of %u in %.2f s: %.0f conn/s", "connections",
            (unsigned long long)s->connect_ok, (unsigned long long)s->connect_failed, r->attempted,
            cs, per_second(s->connect_ok, cs));
    if (s->connect.count)
        fprintf(f, "  (connect+auth p50 %.2f ms, p99 %.2f ms, max %.2f ms)",
                ms(bench_hist_quantile(&s->connect, 0.5)),
                ms(bench_hist_quantile(&s->connect, 0.99)), ms(s->connect.max));
    fputc('\n', f);
    if (s->connect_failed) text_counters(f, "  failures", &s->connect_failures);
    struct cpu_window setup, runw;
    bench_cpu_window(&r->setup_begin, &r->setup_end, &setup);
    bench_cpu_window(&r->run_begin, &r->run_end, &runw);
    text_cpu(f, "cpu (setup)", &setup);

    if (scenario_sends(o)) {
        double d = runw.wall_s;
        fprintf(f, "  %-13s%.1f s measured after %.1f s warm-up; window %d, size %d B", "run", d,
                o->warmup, o->window, o->size);
        if (o->rate > 0) fprintf(f, ", offered %.0f msg/s", o->rate);
        fputc('\n', f);
        fprintf(f, "  %-13sacked %llu (%.0f/s)  delivered %llu (%.0f/s)  sent %llu (%.0f/s)\n",
                "messages", (unsigned long long)s->acked, per_second(s->acked, d),
                (unsigned long long)s->delivered, per_second(s->delivered, d),
                (unsigned long long)s->sent, per_second(s->sent, d));
        fprintf(f, "  %-13sduplicates %llu  error replies %llu  unanswered at end %llu", "",
                (unsigned long long)s->duplicates, (unsigned long long)s->error_replies,
                (unsigned long long)s->unanswered);
        if (o->rate > 0)
            fprintf(f, "  late %llu  dropped %llu  max lateness %.2f ms",
                    (unsigned long long)s->late, (unsigned long long)s->dropped,
                    ms((uint64_t)s->max_lateness_ns));
        fputc('\n', f);
        fprintf(f, "  latency (ms) %9s %9s %9s %9s %9s %10s\n", "p50", "p99", "p99.9", "max",
                "mean", "count");
        text_latency(f, "ack", &s->ack);
        text_latency(f, "delivery", &s->delivery);
        text_cpu(f, "cpu (run)", &runw);
    } else if (o->scenario == BENCH_IDLE) {
        text_cpu(f, "cpu (hold)", &runw);
    }
    text_counters(f, "errors", &s->errors);
    if (r->rss_before >= 0) {
        fprintf(f, "  %-13s", "server rss");
        text_mib(f, "before", r->rss_before);
        text_mib(f, ", connected", r->rss_connected);
        text_mib(f, ", end", r->rss_end);
        if (o->scenario == BENCH_IDLE && s->connect_ok && r->rss_end >= 0)
            fprintf(f, ": %.0f B per connection",
                    (double)(r->rss_end - r->rss_before) / (double)s->connect_ok);
        fputc('\n', f);
    }
    if (setup.gen_cores > 0.9 * o->threads || runw.gen_cores > 0.9 * o->threads)
        fprintf(f, "  note: the generator used ~all of its %d thread(s): it may be the limit\n",
                o->threads);
}

/* ---------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------- */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void json_counters(FILE *f, const struct bench_counters *c)
{
    fputc('{', f);
    for (int i = 0; i < c->n; i++) {
        if (i) fputc(',', f);
        json_string(f, c->items[i].name);
        fprintf(f, ":%llu", (unsigned long long)c->items[i].count);
    }
    fputc('}', f);
}

static void json_latency(FILE *f, const struct bench_hist *h)
{
    fprintf(f,
            "{\"count\":%llu,\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"p999_ms\":%.4f,\"max_ms\":%.4f,"
            "\"mean_ms\":%.4f}",
            (unsigned long long)h->count, ms(bench_hist_quantile(h, 0.50)),
            ms(bench_hist_quantile(h, 0.99)), ms(bench_hist_quantile(h, 0.999)), ms(h->max),
            h->count ? h->sum / (double)h->count / 1e6 : 0.0);
}

/* ,"key":v with 3 decimals, or null when v < 0 (unknown) */
static void json_number(FILE *f, const char *key, double v)
{
    if (v >= 0)
        fprintf(f, ",\"%s\":%.3f", key, v);
    else
        fprintf(f, ",\"%s\":null", key);
}

static void json_cpu(FILE *f, const struct cpu_window *w)
{
    fprintf(f, "{\"wall_s\":%.4f,\"generator_user_s\":%.3f,\"generator_sys_s\":%.3f", w->wall_s,
            w->gen_user_s, w->gen_sys_s);
    json_number(f, "generator_cores", w->gen_cores);
    json_number(f, "server_s", w->server_s);
    json_number(f, "server_cores", w->server_cores);
    json_number(f, "other_cores", w->other_cores);
    fputc('}', f);
}

static void json_bytes(FILE *f, const char *key, int64_t v)
{
    if (v >= 0)
        fprintf(f, ",\"%s\":%lld", key, (long long)v);
    else
        fprintf(f, ",\"%s\":null", key);
}

int bench_report_json(const struct bench_run *run, const struct bench_result *r, const char *path)
{
    const struct bench_options *o = &run->opt;
    const struct bench_stats *s = &r->stats;
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return -1;
    }
    struct cpu_window setup, runw;
    bench_cpu_window(&r->setup_begin, &r->setup_end, &setup);
    bench_cpu_window(&r->run_begin, &r->run_end, &runw);
    double cs = connect_seconds(s);
    double d = runw.wall_s;

    fputs("{\"label\":", f);
    json_string(f, o->label);
    fputs(",\"scenario\":", f);
    json_string(f, o->scenario_name);
    fputs(",\"host\":", f);
    json_string(f, o->host);
    fprintf(f,
            ",\"port\":%d,\"threads\":%d,\"source_ips\":%d,\"connections\":%u,\"pairs\":%d,"
            "\"window\":%d,\"size\":%d,\"rate\":%.1f,\"one_way\":%s,\"duration_s\":%.3f,"
            "\"warmup_s\":%.3f,\"hold_s\":%.3f,\"concurrency\":%d,\"server_pid\":%d",
            o->port, o->threads, o->source_ips, r->attempted, o->pairs, o->window, o->size, o->rate,
            o->one_way ? "true" : "false", o->duration, o->warmup, o->hold, o->concurrency,
            o->server_pid);

    fprintf(f,
            ",\"connect\":{\"attempted\":%u,\"ok\":%llu,\"failed\":%llu,\"seconds\":%.4f,"
            "\"per_s\":%.1f,\"latency\":",
            r->attempted, (unsigned long long)s->connect_ok, (unsigned long long)s->connect_failed,
            cs, per_second(s->connect_ok, cs));
    json_latency(f, &s->connect);
    fputs(",\"failures\":", f);
    json_counters(f, &s->connect_failures);
    fputc('}', f);

    fprintf(f,
            ",\"messages\":{\"sent\":%llu,\"acked\":%llu,\"delivered\":%llu,\"duplicates\":%llu,"
            "\"error_replies\":%llu,\"late\":%llu,\"dropped\":%llu,\"unanswered\":%llu,"
            "\"max_lateness_ms\":%.4f,\"sent_per_s\":%.1f,\"acked_per_s\":%.1f,"
            "\"delivered_per_s\":%.1f}",
            (unsigned long long)s->sent, (unsigned long long)s->acked,
            (unsigned long long)s->delivered, (unsigned long long)s->duplicates,
            (unsigned long long)s->error_replies, (unsigned long long)s->late,
            (unsigned long long)s->dropped, (unsigned long long)s->unanswered,
            ms((uint64_t)s->max_lateness_ns), per_second(s->sent, d), per_second(s->acked, d),
            per_second(s->delivered, d));
    fputs(",\"latency\":{\"ack\":", f);
    json_latency(f, &s->ack);
    fputs(",\"delivery\":", f);
    json_latency(f, &s->delivery);
    fputs("},\"errors\":", f);
    json_counters(f, &s->errors);
    fputs(",\"cpu\":{\"setup\":", f);
    json_cpu(f, &setup);
    fputs(",\"run\":", f);
    json_cpu(f, &runw);
    fputc('}', f);
    fputs(",\"server\":{\"pid\":", f);
    fprintf(f, "%d", o->server_pid);
    json_bytes(f, "rss_before_bytes", r->rss_before);
    json_bytes(f, "rss_connected_bytes", r->rss_connected);
    json_bytes(f, "rss_end_bytes", r->rss_end);
    if (o->scenario == BENCH_IDLE && r->rss_before >= 0 && r->rss_end >= 0 && s->connect_ok)
        fprintf(f, ",\"rss_per_connection_bytes\":%.1f",
                (double)(r->rss_end - r->rss_before) / (double)s->connect_ok);
    else
        fputs(",\"rss_per_connection_bytes\":null", f);
    fprintf(f,
            "},\"io\":{\"bytes_in\":%llu,\"bytes_out\":%llu,\"frames_in\":%llu,\"writes\":%llu}}\n",
            (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
            (unsigned long long)s->frames_in, (unsigned long long)s->writes);
    if (fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}
