/* Physical limit (a): frames/s of a bare epoll ping-pong over loopback.
 * One server thread echoes whatever it reads; one client thread keeps
 * --window messages of --size bytes in flight on each of --conns
 * connections. No WebSocket, no JSON: what is left is the kernel's cost of
 * one read and one write per frame on each side, which bounds any server
 * that answers each message with a write, on this machine.
 *
 *   echo [--conns 100] [--size 64] [--window 1] [--seconds 3] [--port 9190]
 *        [--server-cpu 0] [--client-cpu 1]   (-1: not pinned) */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 10000
#define BUF (64 * 1024)

static int conns, size, window, port, server_cpu, client_cpu;
static double seconds;
static int listen_fd;
static volatile bool stop;
static uint64_t server_reads; /* written by the server thread, read after join */

static void nodelay_nonblock(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Echoes every byte it reads, with one read and one write per event. */
static void *server_main(void *arg)
{
    (void)arg;
    pin_to(server_cpu);
    int ep = epoll_create1(0);
    for (int i = 0; i < conns; i++) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0) {
            perror("accept");
            exit(1);
        }
        nodelay_nonblock(fd);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    static char buf[BUF];
    struct epoll_event events[256];
    while (!stop) {
        int n = epoll_wait(ep, events, 256, 100);
        for (int i = 0; i < n; i++) {
            ssize_t r = read(events[i].data.fd, buf, sizeof buf);
            server_reads++;
            if (r > 0 && write(events[i].data.fd, buf, (size_t)r) != r) {
                /* a full socket cannot happen with a bounded window */
            }
        }
    }
    close(ep);
    return NULL;
}

int main(int argc, char **argv)
{
    conns = atoi(option(argc, argv, "--conns", "100"));
    size = atoi(option(argc, argv, "--size", "64"));
    window = atoi(option(argc, argv, "--window", "1"));
    port = atoi(option(argc, argv, "--port", "9190"));
    seconds = option_double(argc, argv, "--seconds", 3);
    server_cpu = atoi(option(argc, argv, "--server-cpu", "0"));
    client_cpu = atoi(option(argc, argv, "--client-cpu", "1"));
    if (conns < 1 || conns > MAX_CONNS || size < 1 || size * window > BUF / 2 || window < 1) {
        fprintf(stderr, "echo: bad options\n");
        return 2;
    }

    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd, (struct sockaddr *)&a, sizeof a) || listen(listen_fd, 4096)) {
        perror("echo: listen");
        return 1;
    }
    static int fds[MAX_CONNS];
    for (int i = 0; i < conns; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fds[i], (struct sockaddr *)&a, sizeof a)) {
            perror("echo: connect");
            return 1;
        }
        nodelay_nonblock(fds[i]);
    }
    pthread_t server;
    pthread_create(&server, NULL, server_main, NULL);
    pin_to(client_cpu);

    /* The client: a frame is `size` bytes; a connection owes `window`. */
    int ep = epoll_create1(0);
    static char out[BUF], in[BUF];
    memset(out, 'x', sizeof out);
    static long owed[MAX_CONNS]; /* bytes still to come back */
    for (int i = 0; i < conns; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
        if (write(fds[i], out, (size_t)(size * window)) != size * window) return 1;
        owed[i] = 0;
    }
    uint64_t frames = 0;
    struct cpu_mark mark = cpu_mark();
    int64_t start = now_ns(), end = start + (int64_t)(seconds * 1e9);
    struct epoll_event events[256];
    while (now_ns() < end) {
        int n = epoll_wait(ep, events, 256, 100);
        for (int i = 0; i < n; i++) {
            int c = (int)events[i].data.u32;
            ssize_t r = read(fds[c], in, sizeof in);
            if (r <= 0) continue;
            /* Each whole frame back is one round trip done: send another. */
            owed[c] += r;
            long whole = owed[c] / size;
            owed[c] -= whole * size;
            frames += (uint64_t)whole;
            if (whole && write(fds[c], out, (size_t)(whole * size)) < 0) perror("write");
        }
    }
    double elapsed = (double)(now_ns() - start) / 1e9;
    stop = true;
    pthread_join(server, NULL);
    printf(
        "echo: %d conns, %d B frames, window %d, %.1f s: %.0f round trips/s"
        " (server thread: %.0f frames in + out /s, %.0f read+write pairs/s) [other %.2f cores]\n",
        conns, size, window, elapsed, frames / elapsed, 2 * frames / elapsed,
        server_reads / elapsed, other_cores(mark));
    return 0;
}
