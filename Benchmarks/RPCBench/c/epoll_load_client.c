// The C load generator for the C echo: one thread, epoll, K connections with C
// requests in flight in all, each connection pipelined with send times in a FIFO.
//   epoll_load_client PORT CONCURRENCY CONNECTIONS DURATION WARMUP PAYLOAD
// prints "RESULT calls_per_s p50_us p99_us calls" like rpcbench-client.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
    struct timespec spec;
    clock_gettime(CLOCK_MONOTONIC, &spec);
    return (int64_t)spec.tv_sec * 1000000000 + spec.tv_nsec;
}

struct conn {
    int fd, in_flight, head, outstanding;
    int64_t *send_times;
    unsigned char in[1 << 16];
    size_t in_len;
};

static int compare(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: epoll_load_client PORT CONCURRENCY CONNECTIONS DURATION WARMUP PAYLOAD\n");
        return 2;
    }
    int port = atoi(argv[1]), concurrency = atoi(argv[2]), connections = atoi(argv[3]);
    double duration = atof(argv[4]), warmup = atof(argv[5]);
    int payload = atoi(argv[6]);
    size_t frame = 4 + (size_t)payload;
    unsigned char *request = malloc(frame);
    uint32_t length = htonl((uint32_t)payload);
    memcpy(request, &length, 4);
    memset(request + 4, 'a', (size_t)payload);

    size_t capacity = 1 << 24, count = 0;
    int64_t *latencies = malloc(capacity * sizeof *latencies);
    int64_t start = now_ns(), measure_start = start + (int64_t)(warmup * 1e9), end = measure_start + (int64_t)(duration * 1e9);

    int epoll = epoll_create1(0);
    struct conn *conns = calloc((size_t)connections, sizeof *conns);
    int one = 1;
    for (int i = 0; i < connections; i++) {
        struct conn *c = &conns[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
        if (connect(c->fd, (struct sockaddr *)&address, sizeof address) < 0) {
            perror("connect");
            return 1;
        }
        c->in_flight = concurrency / connections + (i < concurrency % connections ? 1 : 0);
        c->send_times = calloc((size_t)c->in_flight, sizeof(int64_t));
        for (int k = 0; k < c->in_flight; k++) {
            c->send_times[(c->head + c->outstanding++) % c->in_flight] = now_ns();
            if (write(c->fd, request, frame) != (ssize_t)frame) { perror("write"); return 1; }
        }
        struct epoll_event event = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(epoll, EPOLL_CTL_ADD, c->fd, &event);
    }
    int open = connections;
    struct epoll_event events[256];
    unsigned char *batch = malloc(frame * 4096);
    while (open > 0) {
        int ready = epoll_wait(epoll, events, 256, 1000);
        for (int i = 0; i < ready; i++) {
            struct conn *c = events[i].data.ptr;
            ssize_t n = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
            if (n <= 0) {
                if (n < 0 && errno == EAGAIN) continue;
                return 1;
            }
            c->in_len += (size_t)n;
            size_t offset = 0, to_send = 0;
            while (c->in_len - offset >= frame) {
                offset += frame;
                int64_t t1 = now_ns(), t0 = c->send_times[c->head];
                c->head = (c->head + 1) % c->in_flight;
                c->outstanding--;
                if (t0 >= measure_start && t1 < end && count < capacity) latencies[count++] = t1 - t0;
                if (t1 < end) {
                    c->send_times[(c->head + c->outstanding++) % c->in_flight] = t1;
                    memcpy(batch + to_send * frame, request, frame);
                    to_send++;
                }
            }
            memmove(c->in, c->in + offset, c->in_len - offset);
            c->in_len -= offset;
            if (to_send > 0 && write(c->fd, batch, to_send * frame) < 0) { perror("write"); return 1; }
            if (c->outstanding == 0) {
                close(c->fd);
                open--;
            }
        }
    }
    qsort(latencies, count, sizeof *latencies, compare);
    double p50 = count ? latencies[(size_t)(count * 0.50)] / 1000.0 : 0;
    double p99 = count ? latencies[(size_t)(count * 0.99)] / 1000.0 : 0;
    printf("RESULT %ld %.1f %.1f %zu\n", (long)(count / duration), p50, p99, count);
    return 0;
}
