/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_RTP_RECEIVER_H__
#define __GST_SIP_RTP_RECEIVER_H__

#include <gio/gio.h>

G_BEGIN_DECLS

/* Shared receive threads for many calls' sockets in one process: one epoll
 * set per thread, one thread per processor the process may run on. A
 * thread waking for a burst of packets serves every ready socket in that
 * one wake-up, where a thread per call costs a wake-up and a context switch
 * per packet (docs/architecture.md, "Many calls in one process").
 *
 * A watch covers up to two sockets (a call's RTP and RTCP), always served
 * by the same thread, so that its callback never runs twice at once. The
 * callback gets the index of the readable socket and returns FALSE to stop
 * watching (the watch stays allocated until freed). */
typedef struct _GstSipRtpWatch GstSipRtpWatch;

typedef gboolean (*GstSipRtpWatchFunc) (guint index, gpointer user_data);

/* Starts watching @fds (level-triggered). NULL with @error set when the
 * thread or its epoll set could not be made. */
GstSipRtpWatch *gst_sip_rtp_watch_new (const gint *fds, guint n_fds,
    GstSipRtpWatchFunc func, gpointer user_data, GError **error);

/* Stops watching: when it returns, @func is not running (unless this is
 * called from @func itself) and is never called again. The memory goes
 * back later, from the receive thread. */
void gst_sip_rtp_watch_free (GstSipRtpWatch *watch);

G_END_DECLS
#endif
