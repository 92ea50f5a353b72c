/* The micro-benchmark behind chatd's JSON library choice (design.md §2, docs/json-choice.md):
 * parses a typical client request N times, reading its fields, and reports ns/parse (best of 5
 * runs, CLOCK_MONOTONIC); then checks what each library rejects that the protocol must reject
 * (duplicate keys, invalid UTF-8, ...). jansson and json-c both define json_object, json_type
 * and json_object_get, so one binary cannot hold both: this file is built once per library.
 * Not part of the build; from the repository root:
 *
 *   cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -DBENCH_JANSSON -o build/json_choice_jansson \
 *       bench/json/json_choice.c $(pkg-config --cflags --libs jansson)
 *   cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -DBENCH_CJSON -o build/json_choice_cjson \
 *       bench/json/json_choice.c $(pkg-config --cflags --libs libcjson)
 *   cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -DBENCH_JSONC -o build/json_choice_jsonc \
 *       bench/json/json_choice.c $(pkg-config --cflags --libs json-c)
 *
 *   build/json_choice_LIB [N]          timings (N = 200000 parses per run) and the rejection table
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect=bench_loop \
 *       build/json_choice_LIB --only VARIANT 20000
 *                                      instructions: the reported Ir / 20000 per parse
 *
 * VARIANT is one of the names in the table the binary prints. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(BENCH_JANSSON)
#include <jansson.h>
#elif defined(BENCH_CJSON)
#include <cjson/cJSON.h>
#elif defined(BENCH_JSONC)
#include <json-c/json.h>
#else
#error "define one of BENCH_JANSSON, BENCH_CJSON, BENCH_JSONC"
#endif

#define RUNS 5

/* send_private_message as a client sends it: 204 code points of content, some of it non-ASCII
 * (é, ë, —, …, two emoji). */
static const char request[] =
    "{\"type\":\"send_private_message\",\"requestId\":\"r-17\",\"recipientId\":\"42\","
    "\"content\":\"Hey! Are we still on for lunch tomorrow at the caf\xc3\xa9 near the station? "
    "I can bring the \xf0\x9f\x93\x8e documents \xe2\x80\x94 also, Zo\xc3\xab said she'd join us "
    "around 12:30. Let me know if that works\xe2\x80\xa6 \xf0\x9f\x91\x8d Otherwise Thursday is "
    "fine too.\","
    "\"clientMessageId\":\"c-9f3a1c2e-5b7d-4e8f-a0b1-c2d3e4f5a6b7\"}";

static const char *const fields[] = {"type", "requestId", "recipientId", "content",
                                     "clientMessageId"};
#define FIELD_COUNT (sizeof fields / sizeof fields[0])

/* Each parser parses n bytes, reads the five string fields and returns the sum of their lengths
 * (so the work cannot be optimized away and results can be compared), or -1 when it rejects. */
typedef long (*parse_fn)(const char *json, size_t n);

struct library {
    const char *name;
    parse_fn parse;
};

#if defined(BENCH_JANSSON)

/* ---- jansson --------------------------------------------------------------------------- */

static long jansson_parse(const char *json, size_t n, size_t flags)
{
    json_error_t error;
    json_t *root = json_loadb(json, n, flags, &error);
    if (!json_is_object(root)) {
        json_decref(root);
        return -1;
    }
    long sum = 0;
    for (size_t i = 0; i < FIELD_COUNT; i++) {
        json_t *value = json_object_get(root, fields[i]);
        if (json_is_string(value)) sum += (long)json_string_length(value);
    }
    json_decref(root);
    return sum;
}

static long jansson_strict(const char *json, size_t n)
{
    return jansson_parse(json, n, JSON_REJECT_DUPLICATES);
}

static long jansson_default(const char *json, size_t n)
{
    return jansson_parse(json, n, 0);
}

static const struct library libraries[] = {
    {"jansson", jansson_strict}, /* JSON_REJECT_DUPLICATES: the configuration chatd uses */
    {"jansson-default", jansson_default},
};

static void library_version(void)
{
    printf("jansson %s\n", JANSSON_VERSION);
}

static void library_setup(void) {}

#elif defined(BENCH_CJSON)

/* ---- cJSON ----------------------------------------------------------------------------- */

static long cjson(const char *json, size_t n)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, n, &end, false);
    if (!cJSON_IsObject(root) || end != json + n) {
        cJSON_Delete(root);
        return -1;
    }
    long sum = 0;
    for (size_t i = 0; i < FIELD_COUNT; i++) {
        cJSON *value = cJSON_GetObjectItemCaseSensitive(root, fields[i]);
        if (cJSON_IsString(value)) sum += (long)strlen(value->valuestring);
    }
    cJSON_Delete(root);
    return sum;
}

static const struct library libraries[] = {
    {"cjson", cjson},
};

static void library_version(void)
{
    printf("cJSON %s\n", cJSON_Version());
}

static void library_setup(void) {}

#else /* BENCH_JSONC */

/* ---- json-c (one tokener reused, as a server would) ------------------------------------ */

static struct json_tokener *tokener;

static long jsonc_parse(const char *json, size_t n, int flags)
{
    json_tokener_reset(tokener);
    json_tokener_set_flags(tokener, flags);
    struct json_object *root = json_tokener_parse_ex(tokener, json, (int)n);
    if (json_tokener_get_error(tokener) != json_tokener_success ||
        json_tokener_get_parse_end(tokener) != n || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return -1;
    }
    long sum = 0;
    for (size_t i = 0; i < FIELD_COUNT; i++) {
        struct json_object *value;
        if (json_object_object_get_ex(root, fields[i], &value) &&
            json_object_is_type(value, json_type_string))
            sum += json_object_get_string_len(value);
    }
    json_object_put(root);
    return sum;
}

static long jsonc_default(const char *json, size_t n)
{
    return jsonc_parse(json, n, 0);
}

static long jsonc_strict(const char *json, size_t n)
{
    return jsonc_parse(json, n, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
}

static const struct library libraries[] = {
    {"json-c", jsonc_default},
    {"json-c-strict", jsonc_strict}, /* JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8 */
};

static void library_version(void)
{
    printf("json-c %s\n", json_c_version());
}

static void library_setup(void)
{
    tokener = json_tokener_new();
}

#endif

/* ---- the runs -------------------------------------------------------------------------- */

#define LIBRARY_COUNT (sizeof libraries / sizeof libraries[0])

static volatile long sink;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The measured loop; not inlined so callgrind can collect exactly it (--toggle-collect). */
__attribute__((noinline)) static void bench_loop(parse_fn parse, long iterations)
{
    long sum = 0;
    for (long i = 0; i < iterations; i++) sum += parse(request, sizeof request - 1);
    sink = sum;
}

static double best_ns_per_parse(parse_fn parse, long iterations)
{
    double best = 0;
    bench_loop(parse, iterations / 10 + 1); /* warm caches and allocator */
    for (int run = 0; run < RUNS; run++) {
        double start = now_ns();
        bench_loop(parse, iterations);
        double ns = (now_ns() - start) / (double)iterations;
        if (run == 0 || ns < best) best = ns;
    }
    return best;
}

/* ---- what each library rejects --------------------------------------------------------- */

static const struct probe {
    const char *name;
    const char *json;
    size_t len; /* 0: strlen */
} probes[] = {
    {"duplicate key", "{\"type\":\"a\",\"type\":\"b\"}", 0},
    {"invalid UTF-8 (C3 28)", "{\"type\":\"\xc3\x28\"}", 0},
    {"overlong UTF-8 (C0 AF)", "{\"type\":\"\xc0\xaf\"}", 0},
    {"UTF-16 surrogate as UTF-8", "{\"type\":\"\xed\xa0\x80\"}", 0},
    {"lone surrogate escape", "{\"type\":\"\\ud800\"}", 0},
    {"\\u0000 in a string", "{\"type\":\"a\\u0000b\"}", 0},
    {"raw NUL byte", "{\"type\":\"a\0b\"}", 14},
    {"trailing garbage", "{\"type\":\"a\"} x", 0},
    {"single quotes", "{'type':'a'}", 0},
    {"trailing comma", "{\"type\":\"a\",}", 0},
    {"integer over int64", "{\"n\":99999999999999999999}", 0},
};
#define PROBE_COUNT (sizeof probes / sizeof probes[0])

/* Nesting 100000 deep must be refused, not overflow the stack. */
static char *deep_nesting(size_t depth, size_t *len)
{
    char *s = malloc(depth * 2 + 16);
    size_t n = 0;
    n += (size_t)snprintf(s, 16, "{\"a\":");
    memset(s + n, '[', depth);
    n += depth;
    memset(s + n, ']', depth);
    n += depth;
    s[n++] = '}';
    *len = n;
    return s;
}

static void print_probes(void)
{
    printf("\n%-28s", "rejects?");
    for (size_t l = 0; l < LIBRARY_COUNT; l++) printf(" %-16s", libraries[l].name);
    printf("\n");
    for (size_t p = 0; p < PROBE_COUNT; p++) {
        size_t len = probes[p].len ? probes[p].len : strlen(probes[p].json);
        printf("%-28s", probes[p].name);
        for (size_t l = 0; l < LIBRARY_COUNT; l++)
            printf(" %-16s", libraries[l].parse(probes[p].json, len) < 0 ? "rejects" : "ACCEPTS");
        printf("\n");
    }
    size_t len;
    char *deep = deep_nesting(100000, &len);
    printf("%-28s", "nesting 100000 deep");
    for (size_t l = 0; l < LIBRARY_COUNT; l++)
        printf(" %-16s", libraries[l].parse(deep, len) < 0 ? "rejects" : "ACCEPTS");
    printf("\n");
    free(deep);
}

static const struct library *find_library(const char *name)
{
    for (size_t l = 0; l < LIBRARY_COUNT; l++)
        if (strcmp(libraries[l].name, name) == 0) return &libraries[l];
    return NULL;
}

int main(int argc, char **argv)
{
    library_setup();

    if (argc == 4 && strcmp(argv[1], "--only") == 0) {
        const struct library *lib = find_library(argv[2]);
        if (!lib) {
            fprintf(stderr, "unknown library %s\n", argv[2]);
            return 2;
        }
        bench_loop(lib->parse, atol(argv[3]));
        return 0;
    }

    long iterations = argc > 1 ? atol(argv[1]) : 200000;
    long expected = libraries[0].parse(request, sizeof request - 1);
    printf("request: %zu bytes, fields read: %zu (total %ld bytes); %ld parses x %d runs\n",
           sizeof request - 1, FIELD_COUNT, expected, iterations, RUNS);
    library_version();
    printf("%-16s %10s %12s\n", "library", "ns/parse", "parses/s");
    for (size_t l = 0; l < LIBRARY_COUNT; l++) {
        if (libraries[l].parse(request, sizeof request - 1) != expected) {
            printf("%-16s reads different fields: broken benchmark\n", libraries[l].name);
            return 1;
        }
        double ns = best_ns_per_parse(libraries[l].parse, iterations);
        printf("%-16s %10.0f %12.0f\n", libraries[l].name, ns, 1e9 / ns);
    }
    print_probes();
    return 0;
}
