/* Physical limit (c): the bandwidth of one TCP stream over loopback. One
 * thread writes 256 KiB chunks as fast as the socket takes them, another
 * reads and counts; no protocol at all.
 *
 *   bandwidth [--seconds 3] [--port 9191] [--chunk 262144] */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile bool stop;
static int chunk;

static void *writer_main(void *arg)
{
    int fd = *(int *)arg;
    pin_to(1);
    char *buf = malloc((size_t)chunk);
    memset(buf, 'x', (size_t)chunk);
    while (!stop)
        if (write(fd, buf, (size_t)chunk) < 0) break;
    shutdown(fd, SHUT_WR);
    free(buf);
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = option_double(argc, argv, "--seconds", 3);
    int port = atoi(option(argc, argv, "--port", "9191"));
    chunk = atoi(option(argc, argv, "--chunk", "262144"));
    if (chunk < 1) return 2;

    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1)) {
        perror("bandwidth: listen");
        return 1;
    }
    int w = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(w, (struct sockaddr *)&a, sizeof a)) {
        perror("bandwidth: connect");
        return 1;
    }
    int r = accept(l, NULL, NULL);
    pthread_t writer;
    pthread_create(&writer, NULL, writer_main, &w);
    pin_to(0);

    char *buf = malloc((size_t)chunk);
    uint64_t bytes = 0;
    struct cpu_mark mark = cpu_mark();
    int64_t start = now_ns(), end = start + (int64_t)(seconds * 1e9);
    for (;;) {
        ssize_t n = read(r, buf, (size_t)chunk);
        if (n <= 0) break;
        bytes += (uint64_t)n;
        if (!stop && now_ns() >= end) {
            stop = true;
            break;
        }
    }
    double elapsed = (double)(now_ns() - start) / 1e9;
    close(r); /* unblocks the writer */
    pthread_join(writer, NULL);
    printf(
        "bandwidth: one loopback TCP stream, %d B writes, %.1f s: %.0f MB/s [other %.2f cores]\n",
        chunk, elapsed, bytes / elapsed / 1e6, other_cores(mark));
    return 0;
}
