/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_SRC_H__
#define __GST_SIP_SRC_H__

#include <gst/gst.h>
#include <gst/base/gstpushsrc.h>
#include <gio/gio.h>

#include "gstsiprtpchannel.h"
#include "gstsiprtpreceiver.h"
#include "gstsipsrtp.h"

G_BEGIN_DECLS

#define GST_TYPE_SIP_SRC (gst_sip_src_get_type ())
G_DECLARE_FINAL_TYPE (GstSipSrc, gst_sip_src, GST, SIP_SRC, GstPushSrc)

/**
 * GstSipSourceFilter:
 * @GST_SIP_SOURCE_FILTER_STRICT: accept RTP only from the media address the far
 *   end signalled in SDP
 * @GST_SIP_SOURCE_FILTER_LATCH: accept RTP from one source at a time; after
 *   #GstSipSrc:latch-timeout of silence from it, latch to the first new source
 *   (callers behind NAT)
 */
typedef enum
{
  GST_SIP_SOURCE_FILTER_STRICT,
  GST_SIP_SOURCE_FILTER_LATCH,
} GstSipSourceFilter;

#define GST_TYPE_SIP_SOURCE_FILTER (gst_sip_source_filter_get_type ())
GType gst_sip_source_filter_get_type (void);

/**
 * GstSipSrcReceiveThread:
 * @GST_SIP_SRC_RECEIVE_THREAD_OWN: the element's streaming thread waits for
 *   each packet and pushes it
 * @GST_SIP_SRC_RECEIVE_THREAD_SHARED: a receive thread shared by all calls
 *   of the process (one per processor) reads and pushes the packets of
 *   every call that is ready when it wakes
 */
typedef enum
{
  GST_SIP_SRC_RECEIVE_THREAD_OWN,
  GST_SIP_SRC_RECEIVE_THREAD_SHARED,
} GstSipSrcReceiveThread;

#define GST_TYPE_SIP_SRC_RECEIVE_THREAD (gst_sip_src_receive_thread_get_type ())
GType gst_sip_src_receive_thread_get_type (void);

typedef struct
{
  guint64 packets_received;
  guint64 bytes_received;
  guint64 packets_pushed;
  guint64 dropped_invalid;
  guint64 dropped_payload_type;
  guint64 dropped_source;
  guint64 dropped_sequence;
  guint64 ssrc_changes;
  guint64 relatches;
  guint64 dtmf_events;
  guint64 dropped_srtp; /* failed SRTP authentication or replay check */
  /* RFC 3550 reception statistics of the call (A.1, A.3, A.8) */
  guint64 packets_expected;
  gint64 packets_lost;
  guint64 jitter_q4; /* interarrival jitter, timestamp units scaled by 16 */
  gint clock_rate;
  /* RTCP (RFC 3550 6) */
  guint64 rtcp_sent;
  guint64 rtcp_received;
  guint64 rtcp_dropped; /* not RTCP, or not from the far end */
  gint remote_fraction_lost; /* of 256, in the far end's last report, -1 */
  gint64 remote_packets_lost;
  guint32 remote_jitter; /* timestamp units */
  gdouble round_trip_ms; /* -1: not measured */
} GstSipSrcStats;

struct _GstSipSrc
{
  GstPushSrc parent;

  /* properties, GST_OBJECT_LOCK */
  gchar *address;
  gint port;
  GstSipSourceFilter source_filter;
  guint latch_timeout_ms;
  gint telephone_event_pt;
  gchar *remote_host;
  gint remote_port;
  GstSipSrcReceiveThread receive_thread;

  /* call configuration, config_lock: what sipbin hands over per call */
  GMutex config_lock;
  GCond config_cond;
  GSocket *socket; /* given by sipbin or the application */
  GSocket *rtcp_socket; /* RTP port + 1, given by sipbin, or NULL */
  GSocket *own_socket; /* bound here when #GstSipSrc:port >= 0 */
  GstCaps *caps;
  gboolean caps_changed;
  gchar *call_id;
  gchar *srtp_key; /* "SUITE inline:KEY" of the far end, NULL: plain RTP */
  gchar *rtcp_srtp_key; /* ours, for the reports we send (SRTCP) */
  gint config_generation;
  gboolean flushing;
  GCancellable *cancellable;
  GstClock *clock; /* the element's clock, mirrored in set_clock */
  GQueue oob_events; /* out-of-band events from sipbin, pushed by the
                      * streaming thread */
  GstFlowReturn shared_flow; /* what stopped the shared thread's pushes */

  /* streaming thread only; with the shared receive thread, the packet
   * path's state belongs to that thread while #watch is set */
  GstSipSrcReceiveThread active_receive_thread;
  GstSipRtpWatch *watch;
  GstClockTime base_time; /* for timestamps from the shared thread */
  gboolean segment_pushed; /* by us, with the shared thread */
  GSocket *active_socket;
  GSocket *active_rtcp;
  GPollFD cancel_pollfd;
  gint64 next_report_us;
  guint32 own_ssrc; /* for receiver reports before we sent anything */
  gchar *cname;
  guint64 expected_prior, received_prior; /* at the last report (A.3) */
  guint32 lsr; /* middle 32 bits of the far end's last SR's NTP time */
  gint64 lsr_arrival_us;
  gchar *active_call_id;
  gchar *active_srtp_key; /* non-NULL: every packet must be SRTP */
  GstSipSrtp *srtp; /* NULL with a key set: the key was unusable */
  gchar *active_rtcp_srtp_key;
  GstSipSrtp *rtcp_srtp; /* protects the reports we send */
  gboolean call_started_pending;
  gboolean call_has_media; /* a buffer of this call, or sipbin's
                            * sip-call-started, went downstream */
  GstSipRtpChannel *channel;
  gint active_generation;
  gint channel_generation;
  GstSipRtpAddress signalled;
  GstSipRtpAddress latched;
  gint64 latched_last_seen;
  gint audio_pt;
  gint dtmf_pt;
  GstSipSourceFilter active_filter;
  gint64 active_latch_timeout_us;
  gboolean have_ssrc;
  guint32 ssrc;
  guint16 max_seq;
  guint16 seq_skip; /* telephone-event packets taken out of this source */
  guint32 bad_seq;
  guint32 cycles;
  /* RFC 3550 reception statistics: the current source since init_seq()
   * (A.1), what earlier sources of the call added, and A.8's jitter */
  GstClock *active_clock;
  gint clock_rate;
  guint16 base_seq;
  guint64 received;
  guint64 expected_before;
  guint64 received_before;
  gboolean have_transit;
  guint32 transit;
  guint64 jitter_q4;
  gboolean discont;
  gboolean dtmf_active;
  guint32 dtmf_timestamp;
  gboolean dtmf_ended;
  guint8 dtmf_event;
  guint8 dtmf_volume;

  GstSipSrcStats stats;
};

GST_ELEMENT_REGISTER_DECLARE (sipsrc);

G_END_DECLS
#endif
