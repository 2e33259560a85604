/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_CALL_H__
#define __GST_SIP_CALL_H__

#include <gst/gst.h>
#include <gst/sip/gstsipendpoint.h>

G_BEGIN_DECLS

/* One dialog on a GstSipEndpoint: the server side of an INVITE we
 * received, or the client side of one we send (gst_sip_call_new_outgoing). */

#define GST_TYPE_SIP_CALL (gst_sip_call_get_type ())
G_DECLARE_FINAL_TYPE (GstSipCall, gst_sip_call, GST, SIP_CALL, GstObject)

typedef enum
{
  GST_SIP_CALL_STATE_INCOMING,
  GST_SIP_CALL_STATE_RINGING,
  GST_SIP_CALL_STATE_ANSWERED,
  GST_SIP_CALL_STATE_CONFIRMED,
  GST_SIP_CALL_STATE_ENDED,
  /* an outgoing call: created, its INVITE not answered yet (it goes to
   * RINGING on 180/183, ANSWERED on 200, CONFIRMED once ACKed) */
  GST_SIP_CALL_STATE_CALLING,
} GstSipCallState;

const gchar *gst_sip_call_state_name (GstSipCallState state);

GstSipCallState gst_sip_call_get_state (GstSipCall *call);
const gchar *gst_sip_call_get_call_id (GstSipCall *call);
const gchar *gst_sip_call_get_from (GstSipCall *call);
const gchar *gst_sip_call_get_to (GstSipCall *call);
/* The Request-URI of the initial INVITE, e.g. "sip:+19195550100@10.0.0.5" */
const gchar *gst_sip_call_get_request_uri (GstSipCall *call);
/* The name of the trunk whose policy let the call in, or NULL when the
 * endpoint has no trunks */
const gchar *gst_sip_call_get_trunk (GstSipCall *call);
/* The far end's SDP being handled: the offer of the INVITE, re-INVITE or
 * UPDATE (NULL for an offerless one), the answer of an outgoing call's 2xx
 * or of an ACK ("answer" signal) */
const gchar *gst_sip_call_get_remote_sdp (GstSipCall *call, gsize *len);
gint gst_sip_call_get_end_status (GstSipCall *call);
const gchar *gst_sip_call_get_end_reason (GstSipCall *call);
GstSipEndpoint *gst_sip_call_get_endpoint (GstSipCall *call);

/* Thread-safe: marshalled onto the endpoint thread. @warning adds a Warning
 * header (RFC 3261 20.43) with code 399 text, or NULL. */
void gst_sip_call_respond (GstSipCall *call, guint status, const gchar *phrase,
    const gchar *sdp, const gchar *warning);
/* Thread-safe: rejects a call not yet answered (status >= 300), with a
 * Retry-After header (RFC 3261 20.33) when @retry_after is not 0. */
void gst_sip_call_reject (
    GstSipCall *call, guint status, const gchar *phrase, guint retry_after);
void gst_sip_call_hangup (GstSipCall *call);
/* The same, with @reason ("media-timeout") as the end reason instead of
 * "local-hangup" */
void gst_sip_call_hangup_full (GstSipCall *call, const gchar *reason);

/**
 * GstSipTransferState:
 * @GST_SIP_TRANSFER_REQUESTED: the REFER went out
 * @GST_SIP_TRANSFER_ACCEPTED: the far end accepted it (2xx, usually 202)
 * @GST_SIP_TRANSFER_PROGRESS: a NOTIFY reported a provisional sipfrag
 *   ("SIP/2.0 100 Trying", "SIP/2.0 180 Ringing")
 * @GST_SIP_TRANSFER_SUCCEEDED: a NOTIFY reported a 2xx sipfrag: the
 *   transferee is connected to the target; the call is then hung up
 * @GST_SIP_TRANSFER_FAILED: the REFER was refused or failed, a NOTIFY
 *   reported a final error sipfrag, the subscription ended without a final
 *   sipfrag, no final sipfrag came within the timeout, or the call ended
 *   first. The call stays up (unless it had ended).
 *
 * Where a blind transfer (RFC 3515 REFER) of a #GstSipCall stands.
 */
typedef enum
{
  GST_SIP_TRANSFER_REQUESTED,
  GST_SIP_TRANSFER_ACCEPTED,
  GST_SIP_TRANSFER_PROGRESS,
  GST_SIP_TRANSFER_SUCCEEDED,
  GST_SIP_TRANSFER_FAILED,
} GstSipTransferState;

/* How long a transfer may wait for its final sipfrag before it fails. */
#define GST_SIP_CALL_TRANSFER_TIMEOUT_DEFAULT 30000

const gchar *gst_sip_transfer_state_name (GstSipTransferState state);

gboolean gst_sip_call_refer (GstSipCall *call, const gchar *target);
gboolean gst_sip_call_refer_full (
    GstSipCall *call, const gchar *target, guint timeout_ms);

/* An outgoing call to @request_uri ("sip:+19195550123@sip.example.com"),
 * with @from as From, sent through @route (a Route header value, e.g.
 * "<sip:192.0.2.5:5060;transport=udp;lr>", or NULL) and answering digest
 * challenges with @trunk's credentials (or NULL). Nothing is sent until
 * gst_sip_call_invite(). */
GstSipCall *gst_sip_call_new_outgoing (GstSipEndpoint *endpoint,
    const gchar *request_uri, const gchar *from, const gchar *route,
    GstSipTrunk *trunk);
gboolean gst_sip_call_is_outgoing (GstSipCall *call);
/* TRUE for a sip: URI whose host is an IP address (sip:100@192.0.2.7:5060,
 * sip:[2001:db8::1]): what an outgoing call may be sent to without a
 * trunk, since sofia-sip's own name resolution is not used */
gboolean gst_sip_uri_has_numeric_host (const gchar *uri);
/* An outgoing call once answered: the far end's Contact carrying this
 * dialog as a Replaces header (RFC 3891), the Refer-To that makes a third
 * party take our place in it (attended transfer), or NULL */
const gchar *gst_sip_call_get_replaces_uri (GstSipCall *call);
/* Thread-safe: sends the INVITE of an outgoing call with @sdp as offer. */
void gst_sip_call_invite (GstSipCall *call, const gchar *sdp);

/* For GstSipEndpoint */
GstSipCall *gst_sip_call_new_incoming (GstSipEndpoint *endpoint,
    struct nua_handle_s *nh, const gchar *call_id, const gchar *from,
    const gchar *to, const gchar *request_uri, const gchar *sdp, gsize sdp_len);
void gst_sip_call_set_trunk (GstSipCall *call, const gchar *trunk);
/* Endpoint thread: the Contact of our 1xx/2xx (a call over TLS with a
 * sip: Request-URI gets "<sip:user@host:port;transport=tls>") */
void gst_sip_call_set_contact (GstSipCall *call, const gchar *contact);
void gst_sip_call_set_offer (GstSipCall *call, const gchar *sdp, gsize sdp_len);
/* A new dialog's request or 2xx: refresh the session with UPDATE when
 * @sip's Allow lists it */
struct sip_s;
void gst_sip_call_note_peer_allow (GstSipCall *call, const struct sip_s *sip);
/* at endpoint shutdown: NUA frees the handle */
void gst_sip_call_detach (GstSipCall *call);
struct sip_s;
void gst_sip_call_handle_event (GstSipCall *call, gint event, gint status,
    const gchar *phrase, gint callstate, const struct sip_s *sip);
/* nua_i_info of this dialog: answers it (200, 400, 415, 469) and emits
 * "dtmf" for a key press */
void gst_sip_call_handle_info (GstSipCall *call, const struct sip_s *sip);
/* nua_r_refer and nua_i_notify of this dialog: @substate from
 * NUTAG_SUBSTATE(), @event_id the id of the refer event (NUTAG_REFER_EVENT()
 * of nua_r_refer, the Event header of a NOTIFY), or NULL */
struct sip_s;
void gst_sip_call_handle_transfer_event (GstSipCall *call, gint event,
    gint status, const gchar *phrase, const struct sip_s *sip, gint substate,
    const gchar *event_id);

G_END_DECLS
#endif
