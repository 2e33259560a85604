/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_CALL_H__
#define __GST_SIP_CALL_H__

#include <gst/gst.h>
#include <gst/sip/gstsipendpoint.h>

G_BEGIN_DECLS

/* One dialog: the server side of an INVITE, on a GstSipEndpoint. */

#define GST_TYPE_SIP_CALL (gst_sip_call_get_type ())
G_DECLARE_FINAL_TYPE (GstSipCall, gst_sip_call, GST, SIP_CALL, GstObject)

typedef enum
{
  GST_SIP_CALL_STATE_INCOMING,
  GST_SIP_CALL_STATE_RINGING,
  GST_SIP_CALL_STATE_ANSWERED,
  GST_SIP_CALL_STATE_CONFIRMED,
  GST_SIP_CALL_STATE_ENDED,
} GstSipCallState;

const gchar *gst_sip_call_state_name (GstSipCallState state);

GstSipCallState gst_sip_call_get_state (GstSipCall *call);
const gchar *gst_sip_call_get_call_id (GstSipCall *call);
const gchar *gst_sip_call_get_from (GstSipCall *call);
const gchar *gst_sip_call_get_to (GstSipCall *call);
/* The Request-URI of the initial INVITE, e.g. "sip:+19195550100@10.0.0.5" */
const gchar *gst_sip_call_get_request_uri (GstSipCall *call);
/* The SDP offer of the INVITE (or re-INVITE) being handled, or NULL */
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
void gst_sip_call_reject (GstSipCall *call, guint status, const gchar *phrase,
    guint retry_after);
void gst_sip_call_hangup (GstSipCall *call);

/* For GstSipEndpoint */
GstSipCall *gst_sip_call_new_incoming (GstSipEndpoint *endpoint,
    struct nua_handle_s *nh, const gchar *call_id, const gchar *from,
    const gchar *to, const gchar *request_uri, const gchar *sdp,
    gsize sdp_len);
void gst_sip_call_set_offer (GstSipCall *call, const gchar *sdp, gsize sdp_len);
/* at endpoint shutdown: NUA frees the handle */
void gst_sip_call_detach (GstSipCall *call);
void gst_sip_call_handle_event (GstSipCall *call, gint event, gint status,
    const gchar *phrase, gint callstate);

G_END_DECLS
#endif
