/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_SINK_H__
#define __GST_SIP_SINK_H__

#include <gst/gst.h>
#include <gst/base/gstbasesink.h>
#include <gio/gio.h>

#include "gstsiprtpchannel.h"
#include "gstsipsrtp.h"

G_BEGIN_DECLS

#define GST_TYPE_SIP_SINK (gst_sip_sink_get_type ())
G_DECLARE_FINAL_TYPE (GstSipSink, gst_sip_sink, GST, SIP_SINK, GstBaseSink)

struct _GstSipSink
{
  GstBaseSink parent;

  /* config_lock: what sipbin hands over per call */
  GMutex config_lock;
  GSocket *socket;
  GstCaps *caps;
  gchar *remote_host;
  gint remote_port;
  gchar *srtp_key; /* "SUITE inline:KEY" of ours, NULL: plain RTP */
  gint config_generation; /* atomic */
  gint sending; /* atomic boolean */
  gint telephone_event_pt;
  GString *dtmf_queue; /* keys asked for with send-dtmf, not begun yet */
  gint dtmf_pending; /* atomic: a key queued or being sent */

  /* object lock */
  guint dtmf_duration_ms;
  guint dtmf_gap_ms;

  /* streaming thread only */
  gint active_generation;
  GSocket *active_socket;
  gint active_fd;
  GstSipRtpChannel *channel;
  gint channel_generation;
  GstSipRtpAddress remote;
  /* the key being sent (see send_dtmf_packet) */
  gint dtmf_te_pt; /* of the call; -1: in-band tones */
  gint dtmf_law; /* in-band: 1 PCMU, 2 PCMA, 0 neither */
  gint dtmf_clock_rate;
  gint dtmf_state;
  gint dtmf_number;
  guint32 dtmf_ts; /* RTP timestamp of the event's first packet */
  guint32 dtmf_want; /* duration to reach, in timestamp units */
  guint32 dtmf_duration; /* of the last packet sent */
  guint dtmf_ends_sent;
  guint32 dtmf_gap_until;
  guint64 dtmf_tone_pos; /* in-band: samples of the tone so far */
  guint32 dtmf_last_ts;
  gboolean dtmf_have_last_ts;
  guint dtmf_duration_ms_active, dtmf_gap_ms_active;
  gchar *active_srtp_key; /* non-NULL: nothing goes out unprotected */
  GstSipSrtp *srtp; /* NULL with a key set: the key was unusable */

  guint64 packets_sent;
  guint64 bytes_sent;
  guint64 dropped_no_call;
  guint64 dropped_not_sending;
  guint64 send_errors;
  guint64 dtmf_keys_sent;
  guint64 dtmf_packets_sent;
  guint64 srtp_errors;
};

GST_ELEMENT_REGISTER_DECLARE (sipsink);

G_END_DECLS
#endif
