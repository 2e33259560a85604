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

  /* streaming thread only */
  gint active_generation;
  GSocket *active_socket;
  gint active_fd;
  GstSipRtpChannel *channel;
  gint channel_generation;
  GstSipRtpAddress remote;
  gchar *active_srtp_key; /* non-NULL: nothing goes out unprotected */
  GstSipSrtp *srtp; /* NULL with a key set: the key was unusable */

  guint64 packets_sent;
  guint64 bytes_sent;
  guint64 dropped_no_call;
  guint64 dropped_not_sending;
  guint64 send_errors;
  guint64 srtp_errors;
};

GST_ELEMENT_REGISTER_DECLARE (sipsink);

G_END_DECLS
#endif
