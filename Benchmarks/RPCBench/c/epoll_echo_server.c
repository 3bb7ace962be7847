// The floor of the benchmark: a single-threaded epoll echo of length-prefixed frames
// (4-byte big-endian length, then the bytes), the same protocol as the bare NIO echo.
//   epoll_echo_server [port]   prints "listening on PORT"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUF = 1 << 16 };

struct conn {
    int fd;
    unsigned char in[BUF];
    size_t in_len;
    unsigned char out[BUF];
    size_t out_len;
};

static void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0 || listen(listener, 1024) < 0) {
        perror("bind/listen");
        return 1;
    }
    socklen_t length = sizeof address;
    getsockname(listener, (struct sockaddr *)&address, &length);
    printf("listening on %d\n", ntohs(address.sin_port));
    fflush(stdout);
    set_nonblocking(listener);
    int epoll = epoll_create1(0);
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
    struct epoll_event events[256];
    for (;;) {
        int ready = epoll_wait(epoll, events, 256, -1);
        for (int i = 0; i < ready; i++) {
            struct conn *c = events[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept(listener, NULL, NULL)) >= 0) {
                    set_nonblocking(fd);
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *fresh = calloc(1, sizeof *fresh);
                    fresh->fd = fd;
                    struct epoll_event add = {.events = EPOLLIN, .data.ptr = fresh};
                    epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &add);
                }
                continue;
            }
            ssize_t n = read(c->fd, c->in + c->in_len, BUF - c->in_len);
            if (n <= 0) {
                if (n < 0 && errno == EAGAIN) continue;
                close(c->fd);
                free(c);
                continue;
            }
            c->in_len += (size_t)n;
            size_t offset = 0;
            while (c->in_len - offset >= 4) {
                uint32_t frame;
                memcpy(&frame, c->in + offset, 4);
                size_t whole = 4 + ntohl(frame);
                if (c->in_len - offset < whole) break;
                if (c->out_len + whole > BUF) break;
                memcpy(c->out + c->out_len, c->in + offset, whole);
                c->out_len += whole;
                offset += whole;
            }
            memmove(c->in, c->in + offset, c->in_len - offset);
            c->in_len -= offset;
            size_t written = 0;
            while (written < c->out_len) {
                ssize_t w = write(c->fd, c->out + written, c->out_len - written);
                if (w < 0) {
                    if (errno == EAGAIN) continue;  // loopback drains quickly; a benchmark, not a server
                    break;
                }
                written += (size_t)w;
            }
            c->out_len = 0;
        }
    }
}
