/* chatd's way to the PostgreSQL engine: the engine and libpq live in the
 * module chatd-postgres.so, which chatd loads from the directory of its own
 * executable when DATABASE_URL names PostgreSQL. A server on SQLite thus never
 * maps libpq and the ~3 MiB of libraries libpq pulls in (docs/architecture.md).
 * The module takes chatd's log and buffer functions from chatd itself, which
 * exports exactly those (mk/chatd-postgres.exports). */
#include "store/store.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define POSTGRES_MODULE "chatd-postgres.so"

/* The module's path: the running executable's directory, then
 * POSTGRES_MODULE. False when /proc/self/exe cannot be read or the path does
 * not fit. */
static bool postgres_module_path(char *path, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return false;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return false;
    *slash = '\0';
    int written = snprintf(path, len, "%s/%s", exe, POSTGRES_MODULE);
    return written > 0 && (size_t)written < len;
}

const struct store_engine *store_engine_postgres_load(char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (!postgres_module_path(path, sizeof path)) {
        snprintf(err, errlen,
                 "DATABASE_URL names PostgreSQL, but chatd cannot find its engine: "
                 "/proc/self/exe does not say where chatd is");
        return NULL;
    }
    /* Never closed: the engine serves until the process exits. */
    void *module = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    const struct store_engine *engine = module ? dlsym(module, "store_engine_postgres") : NULL;
    if (!engine)
        snprintf(err, errlen, "DATABASE_URL names PostgreSQL, but its engine did not load: %s",
                 dlerror());
    return engine;
}
