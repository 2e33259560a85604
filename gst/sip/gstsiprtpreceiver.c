/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsiprtpreceiver.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_WATCH_FDS 2
/* Ready sockets taken per epoll_wait(): at 500 calls a burst after a
 * stall of a few ms is a few hundred packets, served in a few calls. */
#define MAX_EVENTS 128

typedef struct _GstSipRtpReceiver GstSipRtpReceiver;

struct _GstSipRtpWatch
{
  GstSipRtpReceiver *receiver;
  gint fds[MAX_WATCH_FDS];
  guint n_fds;
  GstSipRtpWatchFunc func;
  gpointer user_data;
  /* receiver->lock */
  gboolean dead;
  gboolean polling;
  GstSipRtpWatch *next_dead;
};

struct _GstSipRtpReceiver
{
  GThread *thread;
  gint epoll_fd;
  GMutex lock;
  GCond idle_cond;
  GstSipRtpWatch *current; /* whose callback runs now */
  guint idle_waiters;
  /* freed watches, released at the top of the loop, once no event taken
   * from the epoll set can name them any more */
  GstSipRtpWatch *graveyard;
  guint n_watches; /* receivers_lock */
};

/* Threads of the process, made when first needed and kept until exit,
 * like GstSystemClock's */
static GMutex receivers_lock;
static GstSipRtpReceiver **receivers;
static guint n_receivers;

/* The watch's pointer with the socket's index in its low bit */
static inline guint64
event_data (GstSipRtpWatch *watch, guint index)
{
  return (guint64) (guintptr) watch | index;
}

static void
stop_polling_locked (GstSipRtpWatch *watch)
{
  guint i;

  for (i = 0; i < watch->n_fds; i++)
    epoll_ctl (watch->receiver->epoll_fd, EPOLL_CTL_DEL, watch->fds[i], NULL);
  watch->polling = FALSE;
}

static void
release_graveyard (GstSipRtpReceiver *receiver)
{
  GstSipRtpWatch *dead;

  g_mutex_lock (&receiver->lock);
  dead = receiver->graveyard;
  receiver->graveyard = NULL;
  g_mutex_unlock (&receiver->lock);
  while (dead) {
    GstSipRtpWatch *next = dead->next_dead;

    g_free (dead);
    dead = next;
  }
}

static gpointer
receiver_thread (gpointer data)
{
  GstSipRtpReceiver *receiver = data;
  struct epoll_event events[MAX_EVENTS];

  for (;;) {
    gint n, i;

    release_graveyard (receiver);
    n = epoll_wait (receiver->epoll_fd, events, MAX_EVENTS, -1);
    if (n < 0) {
      if (errno != EINTR)
        g_critical ("epoll_wait: %s", g_strerror (errno));
      continue;
    }
    g_mutex_lock (&receiver->lock);
    for (i = 0; i < n; i++) {
      GstSipRtpWatch *watch =
          (GstSipRtpWatch *) (guintptr) (events[i].data.u64 & ~(guint64) 1);
      guint index = (guint) (events[i].data.u64 & 1);
      gboolean keep;

      if (watch->dead || !watch->polling)
        continue;
      receiver->current = watch;
      g_mutex_unlock (&receiver->lock);
      keep = watch->func (index, watch->user_data);
      g_mutex_lock (&receiver->lock);
      receiver->current = NULL;
      if (!keep && watch->polling)
        stop_polling_locked (watch);
      if (receiver->idle_waiters)
        g_cond_broadcast (&receiver->idle_cond);
    }
    g_mutex_unlock (&receiver->lock);
  }
  return NULL;
}

static GstSipRtpReceiver *
receiver_new (GError **error)
{
  GstSipRtpReceiver *receiver = g_new0 (GstSipRtpReceiver, 1);

  receiver->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  if (receiver->epoll_fd < 0) {
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
        "epoll_create1: %s", g_strerror (errno));
    g_free (receiver);
    return NULL;
  }
  g_mutex_init (&receiver->lock);
  g_cond_init (&receiver->idle_cond);
  receiver->thread =
      g_thread_try_new ("sip-rtp-recv", receiver_thread, receiver, error);
  if (receiver->thread == NULL) {
    close (receiver->epoll_fd);
    g_mutex_clear (&receiver->lock);
    g_cond_clear (&receiver->idle_cond);
    g_free (receiver);
    return NULL;
  }
  return receiver;
}

/* The thread with the fewest watches; one per processor this process may
 * run on (g_get_num_processors() follows the affinity mask). */
static GstSipRtpReceiver *
pick_receiver (GError **error)
{
  GstSipRtpReceiver *best = NULL;
  guint i;

  g_mutex_lock (&receivers_lock);
  if (receivers == NULL) {
    n_receivers = MAX (g_get_num_processors (), 1);
    receivers = g_new0 (GstSipRtpReceiver *, n_receivers);
  }
  for (i = 0; i < n_receivers; i++) {
    if (receivers[i] == NULL) {
      receivers[i] = receiver_new (error);
      best = receivers[i];
      break;
    }
    if (best == NULL || receivers[i]->n_watches < best->n_watches)
      best = receivers[i];
  }
  if (best)
    best->n_watches++;
  g_mutex_unlock (&receivers_lock);
  return best;
}

GstSipRtpWatch *
gst_sip_rtp_watch_new (const gint *fds, guint n_fds, GstSipRtpWatchFunc func,
    gpointer user_data, GError **error)
{
  GstSipRtpReceiver *receiver;
  GstSipRtpWatch *watch;
  guint i;

  g_return_val_if_fail (n_fds >= 1 && n_fds <= MAX_WATCH_FDS, NULL);

  receiver = pick_receiver (error);
  if (receiver == NULL)
    return NULL;
  watch = g_new0 (GstSipRtpWatch, 1);
  watch->receiver = receiver;
  memcpy (watch->fds, fds, n_fds * sizeof (gint));
  watch->n_fds = n_fds;
  watch->func = func;
  watch->user_data = user_data;

  g_mutex_lock (&receiver->lock);
  watch->polling = TRUE;
  for (i = 0; i < n_fds; i++) {
    struct epoll_event ev = {0};

    ev.events = EPOLLIN;
    ev.data.u64 = event_data (watch, i);
    if (epoll_ctl (receiver->epoll_fd, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
          "epoll_ctl: %s", g_strerror (errno));
      watch->n_fds = i;
      g_mutex_unlock (&receiver->lock);
      gst_sip_rtp_watch_free (watch);
      return NULL;
    }
  }
  g_mutex_unlock (&receiver->lock);
  return watch;
}

void
gst_sip_rtp_watch_free (GstSipRtpWatch *watch)
{
  GstSipRtpReceiver *receiver;

  if (watch == NULL)
    return;
  receiver = watch->receiver;
  g_mutex_lock (&receiver->lock);
  watch->dead = TRUE;
  if (watch->polling)
    stop_polling_locked (watch);
  receiver->idle_waiters++;
  while (receiver->current == watch && g_thread_self () != receiver->thread)
    g_cond_wait (&receiver->idle_cond, &receiver->lock);
  receiver->idle_waiters--;
  watch->next_dead = receiver->graveyard;
  receiver->graveyard = watch;
  g_mutex_unlock (&receiver->lock);

  g_mutex_lock (&receivers_lock);
  receiver->n_watches--;
  g_mutex_unlock (&receivers_lock);
}
