/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_BIN_H__
#define __GST_SIP_BIN_H__

#include <gst/gst.h>
#include <gio/gio.h>

#include <gst/sip/gstsipendpoint.h>
#include <gst/sip/gstsipcall.h>
#include <gst/sip/gstsipsdp.h>
#include <gst/sip/gstsiptrunk.h>

G_BEGIN_DECLS

#define GST_TYPE_SIP_BIN (gst_sip_bin_get_type ())
G_DECLARE_FINAL_TYPE (GstSipBin, gst_sip_bin, GST, SIP_BIN, GstBin)

struct _GstSipBin
{
  GstBin parent;

  /* properties, GST_OBJECT_LOCK */
  gchar *local_uri;
  gchar *codecs;
  gchar *media_address;
  gchar *external_address;
  gchar *user_agent;
  guint rtp_port_min;
  guint rtp_port_max;
  guint ring_time;
  gchar *transfer_target;
  guint transfer_timeout;
  gboolean application_transfers; /* #transfer-mode "application" */
  guint media_timeout; /* ms, 0: off */
  gchar *registrar;
  gchar *username;
  gchar *password;
  guint session_expires; /* s, 0: not asked for */
  guint min_se; /* s */
  GstSipSrtpPolicy srtp;
  guint tls_port; /* 0: no TLS */
  gchar *tls_dir;
  gboolean tls_verify;
  GstSipCall *attached_call;

  /* call state, call_lock; the endpoint thread works on it */
  GMutex call_lock;
  GstSipEndpoint *endpoint;
  gboolean owns_endpoint;
  GstElement *rtp_src;
  GstElement *rtp_sink;
  GstSipCall *call;
  GSocket *rtp_socket;
  GSocket *rtcp_socket; /* RTP port + 1 */
  gchar *local_media_address; /* the RTP socket's */
  gchar *sdp_media_address; /* what our SDP names (external-address) */
  gint local_media_port;
  GstSipCodec *codec; /* NULL until the offer/answer picked one */
  GPtrArray *offered; /* our offer's codecs (GstSipCodec), while its
                       * answer is awaited (delayed offer) */
  gint telephone_event_pt;
  /* SRTP of the call (RFC 4568 SDES): ours (sipsink's key, our answer's
   * a=crypto), the far end's key (sipsrc's), and the a=crypto lines of
   * our offer while its answer is awaited. NULL: plain RTP. */
  GstSipCrypto *local_crypto;
  gchar *remote_key;
  GPtrArray *offered_cryptos;
  gboolean remote_held; /* the far end's SDP puts us on hold */
  gboolean media_started; /* sip-call-started went into the pipeline */
  guint64 session_id;
  guint64 session_version;
  GSource *ring_timer;
  GstMessage *pending_eos; /* sipsink's EOS, held until the call ends */
  gchar *transfer_uri; /* Refer-To of the transfer in progress */
  GstPromise *dial_promise; /* of the outgoing call, until it is answered */
  GstSipTrunk *trunk; /* registration, standalone with #registrar */
  /* media timeout (call_lock) */
  GSource *media_timer;
  gboolean remote_sends; /* the far end's SDP is sendrecv (not on hold) */
  guint64 rx_count;
  gint64 rx_time; /* monotonic us of the last packet, or of the last change */
};

GST_ELEMENT_REGISTER_DECLARE (sipbin);

G_END_DECLS
#endif
