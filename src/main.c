/* chatd: the chat server. Reads its configuration (environment and .env),
 * starts the worker loops and runs until SIGTERM. */
#include "net/server.h"
#include "util/config.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>

static struct server server;

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        printf("usage: chatd\n"
               "Configuration comes from the environment and ./.env; see docs/operations.md.\n");
        return 0;
    }
    char err[512];
    if (config_load(&server.config, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "chatd: %s\n", err);
        return 2;
    }
    log_setup((enum log_level)server.config.log_level, server.config.log_json);
    int status = server_start(&server) == 0 ? server_run(&server) : 1;
    server_free(&server);
    return status;
}
