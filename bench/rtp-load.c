/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Benchmark media generator: the RTP side of many calls that SIPp placed,
 * from one UDP socket, in one thread, each call at its own phase.
 *
 *   rtp-load --port PORT --seconds S
 *
 * Reads lines "HOST PORT" on stdin (the server's media address of a call
 * that was answered, whose SDP named our PORT) and sends that call S
 * seconds of 20 ms PCMU packets, starting at a random point of the 20 ms
 * grid, as a phone or a trunk would. Echoes coming back are read and
 * counted whenever it wakes up to send, never waited for: a thread asleep
 * on the socket would be woken by (and cost) every echo the server sends,
 * on the server's core. On end of input, once every stream is done, prints what it did
 * and exits.
 *
 * Why not SIPp's own media: SIPp's pcap play opens one raw IPPROTO_UDP
 * socket per call bound to the media address, and the kernel offers every
 * UDP datagram to that address to every such socket (raw_local_deliver).
 * With 500 calls that is 500 socket matches and copies per packet, done on
 * whichever core sends it, the server's own for the echoes (see
 * docs/benchmarks.md, part C).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PACKET_NS 20000000LL
#define PAYLOAD 160
#define MAX_STREAMS 8192

typedef struct
{
  struct sockaddr_in to;
  int64_t due_ns;
  uint32_t ssrc, index, sent, total;
  uint16_t seq;
} Stream;

/* min-heap of streams by due time */
static Stream *heap[MAX_STREAMS];
static int heap_len;

static int64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
heap_swap (int a, int b)
{
  Stream *t = heap[a];

  heap[a] = heap[b];
  heap[b] = t;
}

static void
heap_push (Stream *s)
{
  int i = heap_len++;

  heap[i] = s;
  while (i > 0 && heap[(i - 1) / 2]->due_ns > heap[i]->due_ns) {
    heap_swap (i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

/* the top moved later (or left): restore the heap below it */
static void
heap_sift_top (void)
{
  int i = 0;

  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;

    if (l < heap_len && heap[l]->due_ns < heap[m]->due_ns)
      m = l;
    if (r < heap_len && heap[r]->due_ns < heap[m]->due_ns)
      m = r;
    if (m == i)
      return;
    heap_swap (i, m);
    i = m;
  }
}

static void
heap_pop_top (void)
{
  heap[0] = heap[--heap_len];
  heap_sift_top ();
}

/* RTP v2, PCMU; the first 16 payload bytes are unique per packet of a
 * stream (the benchmark matches echoes to sent packets by them) */
static size_t
build_packet (uint8_t *pkt, const Stream *s)
{
  uint32_t ts = htonl ((uint32_t) s->sent * PAYLOAD);
  uint32_t ssrc = htonl (s->ssrc), index = htonl (s->index);
  uint32_t n = htonl (s->sent);
  uint16_t seq = htons (s->seq);

  pkt[0] = 0x80;
  pkt[1] = 0; /* PCMU */
  memcpy (pkt + 2, &seq, 2);
  memcpy (pkt + 4, &ts, 4);
  memcpy (pkt + 8, &ssrc, 4);
  memset (pkt + 12, 0xff, PAYLOAD); /* mu-law silence */
  memcpy (pkt + 12, "rtpload!", 8);
  memcpy (pkt + 20, &index, 4);
  memcpy (pkt + 24, &n, 4);
  return 12 + PAYLOAD;
}

static volatile sig_atomic_t stop;

static void
on_signal (int sig)
{
  (void) sig;
  stop = 1;
}

int
main (int argc, char **argv)
{
  int port = 0, seconds = 10, fd, i;
  struct sockaddr_in bind_to = {0};
  char line[256];
  size_t line_len = 0;
  int stdin_open = 1;
  uint64_t sent = 0, received = 0, send_errors = 0, streams = 0;
  int64_t worst_late_ns = 0, late_1ms = 0;

  for (i = 1; i + 1 < argc; i += 2) {
    if (strcmp (argv[i], "--port") == 0)
      port = atoi (argv[i + 1]);
    else if (strcmp (argv[i], "--seconds") == 0)
      seconds = atoi (argv[i + 1]);
  }
  if (port <= 0 || seconds <= 0) {
    fprintf (stderr, "usage: rtp-load --port PORT --seconds S\n");
    return 2;
  }
  signal (SIGINT, on_signal);
  signal (SIGTERM, on_signal);
  /* wake up when asked, not up to 50 us later */
  prctl (PR_SET_TIMERSLACK, 1UL);
  srandom ((unsigned) now_ns ());

  fd = socket (AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  bind_to.sin_family = AF_INET;
  bind_to.sin_port = htons (port);
  bind_to.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  /* echoes wait between two wake-ups to send (at most 20 ms) */
  setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &(int){4 << 20}, sizeof (int));
  if (fd < 0 || bind (fd, (struct sockaddr *) &bind_to, sizeof (bind_to))) {
    perror ("rtp-load: bind");
    return 1;
  }
  printf ("ready on 127.0.0.1:%d\n", port);
  fflush (stdout);

  while (!stop && (stdin_open || heap_len > 0)) {
    struct pollfd fds[1] = {{0, POLLIN, 0}};
    uint8_t buf[2048];
    struct timespec timeout, *tp = NULL;
    int64_t now = now_ns ();

    /* send everything due */
    while (heap_len > 0 && heap[0]->due_ns <= now) {
      Stream *s = heap[0];
      uint8_t pkt[12 + PAYLOAD];
      size_t len = build_packet (pkt, s);

      if (now - s->due_ns > worst_late_ns)
        worst_late_ns = now - s->due_ns;
      if (now - s->due_ns > 1000000)
        late_1ms++;
      if (sendto (fd, pkt, len, 0, (struct sockaddr *) &s->to, sizeof (s->to)) <
          0)
        send_errors++;
      else
        sent++;
      s->sent++;
      s->seq++;
      s->due_ns += PACKET_NS;
      if (s->sent >= s->total) {
        heap_pop_top ();
        free (s);
      } else {
        heap_sift_top ();
      }
      now = now_ns ();
    }
    if (heap_len > 0) {
      int64_t wait = heap[0]->due_ns - now;

      timeout.tv_sec = wait / 1000000000LL;
      timeout.tv_nsec = wait % 1000000000LL;
      tp = &timeout;
    }
    if (ppoll (fds, stdin_open ? 1 : 0, tp, NULL) < 0 && errno != EINTR)
      break;
    while (recv (fd, buf, sizeof (buf), 0) > 0)
      received++;
    if (stdin_open && (fds[0].revents & (POLLIN | POLLHUP))) {
      ssize_t n = read (0, line + line_len, sizeof (line) - 1 - line_len);
      char *nl;

      if (n <= 0) {
        stdin_open = 0;
        continue;
      }
      line_len += n;
      line[line_len] = '\0';
      while ((nl = strchr (line, '\n')) != NULL) {
        char host[64];
        int to_port;

        *nl = '\0';
        if (sscanf (line, "%63s %d", host, &to_port) == 2 &&
            heap_len < MAX_STREAMS) {
          Stream *s = calloc (1, sizeof (Stream));

          s->to.sin_family = AF_INET;
          s->to.sin_port = htons (to_port);
          inet_pton (AF_INET, host, &s->to.sin_addr);
          s->ssrc = (uint32_t) random ();
          s->index = (uint32_t) streams++;
          s->seq = (uint16_t) random ();
          s->total = (uint32_t) seconds * (1000000000LL / PACKET_NS);
          /* its own phase on the 20 ms grid */
          s->due_ns = now_ns () + random () % PACKET_NS;
          heap_push (s);
        }
        line_len -= (nl + 1 - line);
        memmove (line, nl + 1, line_len + 1);
      }
      if (line_len >= sizeof (line) - 1)
        line_len = 0;
    }
  }
  printf ("streams %llu sent %llu received %llu send-errors %llu "
          "late-over-1ms %lld worst-late-us %lld\n",
      (unsigned long long) streams, (unsigned long long) sent,
      (unsigned long long) received, (unsigned long long) send_errors,
      (long long) late_1ms, (long long) (worst_late_ns / 1000));
  return 0;
}
