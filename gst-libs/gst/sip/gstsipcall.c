/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/sip/gstsipcall.h>

#include <sofia-sip/nua.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

GST_DEBUG_CATEGORY_STATIC (gst_sip_call_debug);
#define GST_CAT_DEFAULT gst_sip_call_debug

struct _GstSipCall
{
  GstObject parent;

  GstSipEndpoint *endpoint;
  nua_handle_t *nh;

  /* written on the endpoint thread only; read there or after the call has
   * ended */
  GstSipCallState state;
  gchar *call_id;
  gchar *from;
  gchar *to;
  gchar *request_uri;
  gchar *offer;
  gsize offer_len;
  guint final_status;
  gint end_status;
  gchar *end_reason;
  gboolean local_hangup;
};

enum
{
  SIGNAL_STATE_CHANGED,
  SIGNAL_REOFFER,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (GstSipCall, gst_sip_call, GST_TYPE_OBJECT);

static void
gst_sip_call_finalize (GObject *object)
{
  GstSipCall *self = GST_SIP_CALL (object);

  /* The NUA handle is released on the endpoint thread when the dialog
   * terminates, or by nua_destroy() at shutdown. */
  g_free (self->call_id);
  g_free (self->from);
  g_free (self->to);
  g_free (self->request_uri);
  g_free (self->offer);
  g_free (self->end_reason);
  gst_object_unref (self->endpoint);
  G_OBJECT_CLASS (gst_sip_call_parent_class)->finalize (object);
}

static void
gst_sip_call_class_init (GstSipCallClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);

  gobject_class->finalize = gst_sip_call_finalize;

  /* (state, SIP status, reason): emitted on the endpoint thread */
  signals[SIGNAL_STATE_CHANGED] = g_signal_new ("state-changed",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 3, G_TYPE_INT, G_TYPE_INT, G_TYPE_STRING);
  /* a re-INVITE arrived: the handler answers it with gst_sip_call_respond();
   * its offer is gst_sip_call_get_remote_sdp() */
  signals[SIGNAL_REOFFER] = g_signal_new ("reoffer", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  GST_DEBUG_CATEGORY_INIT (gst_sip_call_debug, "sipcall", 0, "SIP call");
}

static void
gst_sip_call_init (GstSipCall *self)
{
  self->end_status = 0;
}

const gchar *
gst_sip_call_state_name (GstSipCallState state)
{
  static const gchar *names[] = {
      "incoming", "ringing", "answered", "confirmed", "ended"};
  return state <= GST_SIP_CALL_STATE_ENDED ? names[state] : "unknown";
}

GstSipCall *
gst_sip_call_new_incoming (GstSipEndpoint *endpoint, nua_handle_t *nh,
    const gchar *call_id, const gchar *from, const gchar *to,
    const gchar *request_uri, const gchar *sdp, gsize sdp_len)
{
  GstSipCall *self = g_object_new (GST_TYPE_SIP_CALL, NULL);

  gst_object_ref_sink (self);
  self->endpoint = gst_object_ref (endpoint);
  self->nh = nh;
  self->call_id = g_strdup (call_id);
  self->from = g_strdup (from);
  self->to = g_strdup (to);
  self->request_uri = g_strdup (request_uri);
  self->state = GST_SIP_CALL_STATE_INCOMING;
  gst_sip_call_set_offer (self, sdp, sdp_len);
  return self;
}

void
gst_sip_call_set_offer (GstSipCall *self, const gchar *sdp, gsize len)
{
  g_free (self->offer);
  self->offer = sdp && len ? g_strndup (sdp, len) : NULL;
  self->offer_len = self->offer ? len : 0;
}

GstSipCallState
gst_sip_call_get_state (GstSipCall *self)
{
  return self->state;
}

const gchar *
gst_sip_call_get_call_id (GstSipCall *self)
{
  return self->call_id;
}

const gchar *
gst_sip_call_get_from (GstSipCall *self)
{
  return self->from;
}

const gchar *
gst_sip_call_get_to (GstSipCall *self)
{
  return self->to;
}

const gchar *
gst_sip_call_get_request_uri (GstSipCall *self)
{
  return self->request_uri;
}

const gchar *
gst_sip_call_get_remote_sdp (GstSipCall *self, gsize *len)
{
  if (len)
    *len = self->offer_len;
  return self->offer;
}

gint
gst_sip_call_get_end_status (GstSipCall *self)
{
  return self->end_status;
}

const gchar *
gst_sip_call_get_end_reason (GstSipCall *self)
{
  return self->end_reason;
}

GstSipEndpoint *
gst_sip_call_get_endpoint (GstSipCall *self)
{
  return self->endpoint;
}

static void
set_state (
    GstSipCall *self, GstSipCallState state, gint status, const gchar *reason)
{
  if (self->state == state || self->state == GST_SIP_CALL_STATE_ENDED)
    return;
  GST_INFO_OBJECT (self, "call %s: %s -> %s (%d %s)", self->call_id,
      gst_sip_call_state_name (self->state), gst_sip_call_state_name (state),
      status, reason ? reason : "");
  self->state = state;
  if (state == GST_SIP_CALL_STATE_ENDED) {
    self->end_status = status;
    g_free (self->end_reason);
    self->end_reason = g_strdup (reason);
  }
  g_signal_emit (
      self, signals[SIGNAL_STATE_CHANGED], 0, (gint) state, status, reason);
}

typedef struct
{
  GstSipCall *call;
  guint status;
  gchar *phrase;
  gchar *sdp;
  gchar *warning;
  guint retry_after;
} Response;

static void
response_free (gpointer data)
{
  Response *r = data;

  gst_object_unref (r->call);
  g_free (r->phrase);
  g_free (r->sdp);
  g_free (r->warning);
  g_free (r);
}

static gboolean
do_respond (gpointer data)
{
  Response *r = data;
  GstSipCall *self = r->call;
  gchar *warning = NULL;
  gchar retry_after[16];
  gboolean initial = self->state < GST_SIP_CALL_STATE_ANSWERED;

  if (self->state == GST_SIP_CALL_STATE_ENDED || self->nh == NULL)
    return G_SOURCE_REMOVE;
  /* A re-INVITE in a confirmed call is answered without a state change. */
  if (!initial && self->offer == NULL && r->sdp == NULL)
    return G_SOURCE_REMOVE;

  if (r->warning)
    warning = g_strdup_printf ("399 gst-sip-agent \"%s\"", r->warning);
  g_snprintf (retry_after, sizeof (retry_after), "%u", r->retry_after);
  /* NUA keeps the phrase pointer past this call: intern it. */
  nua_respond (self->nh, r->status,
      r->phrase ? g_intern_string (r->phrase) : sip_status_phrase (r->status),
      TAG_IF (r->sdp, SIPTAG_CONTENT_TYPE_STR ("application/sdp")),
      TAG_IF (r->sdp, SIPTAG_PAYLOAD_STR (r->sdp)),
      TAG_IF (warning, SIPTAG_WARNING_STR (warning)),
      TAG_IF (r->retry_after, SIPTAG_RETRY_AFTER_STR (retry_after)),
      TAG_END ());
  g_free (warning);

  if (!initial)
    return G_SOURCE_REMOVE;
  if (r->status >= 300) {
    self->final_status = r->status;
    set_state (self, GST_SIP_CALL_STATE_ENDED, r->status,
        r->status == 486 ? "busy" : "rejected");
  } else if (r->status >= 200) {
    self->final_status = r->status;
    set_state (self, GST_SIP_CALL_STATE_ANSWERED, r->status, NULL);
  } else if (r->status >= 180) {
    set_state (self, GST_SIP_CALL_STATE_RINGING, r->status, NULL);
  }
  return G_SOURCE_REMOVE;
}

void
gst_sip_call_respond (GstSipCall *self, guint status, const gchar *phrase,
    const gchar *sdp, const gchar *warning)
{
  Response *r = g_new0 (Response, 1);

  r->call = gst_object_ref (self);
  r->status = status;
  r->phrase = g_strdup (phrase);
  r->sdp = g_strdup (sdp);
  r->warning = g_strdup (warning);
  gst_sip_endpoint_invoke (self->endpoint, do_respond, r, response_free);
}

void
gst_sip_call_reject (
    GstSipCall *self, guint status, const gchar *phrase, guint retry_after)
{
  Response *r = g_new0 (Response, 1);

  g_return_if_fail (status >= 300);
  r->call = gst_object_ref (self);
  r->status = status;
  r->phrase = g_strdup (phrase);
  r->retry_after = retry_after;
  gst_sip_endpoint_invoke (self->endpoint, do_respond, r, response_free);
}

static gboolean
do_hangup (gpointer data)
{
  GstSipCall *self = data;

  switch (self->state) {
    case GST_SIP_CALL_STATE_INCOMING:
    case GST_SIP_CALL_STATE_RINGING:
      self->local_hangup = TRUE;
      nua_respond (self->nh, SIP_480_TEMPORARILY_UNAVAILABLE, TAG_END ());
      set_state (self, GST_SIP_CALL_STATE_ENDED, 480, "local-hangup");
      break;
    case GST_SIP_CALL_STATE_ANSWERED:
    case GST_SIP_CALL_STATE_CONFIRMED:
      if (!self->local_hangup) {
        self->local_hangup = TRUE;
        nua_bye (self->nh, TAG_END ());
      }
      break;
    default:
      break;
  }
  return G_SOURCE_REMOVE;
}

void
gst_sip_call_hangup (GstSipCall *self)
{
  gst_sip_endpoint_invoke (
      self->endpoint, do_hangup, gst_object_ref (self), gst_object_unref);
}

/* Endpoint thread: NUA events of this dialog. */
void
gst_sip_call_detach (GstSipCall *self)
{
  self->nh = NULL;
  set_state (self, GST_SIP_CALL_STATE_ENDED, 503, "shutdown");
}

void
gst_sip_call_handle_event (GstSipCall *self, gint event, gint status,
    const gchar *phrase, gint callstate)
{
  switch (event) {
    case nua_i_invite:
      GST_INFO_OBJECT (self, "re-INVITE in call %s", self->call_id);
      g_signal_emit (self, signals[SIGNAL_REOFFER], 0);
      break;
    case nua_i_ack:
      set_state (self, GST_SIP_CALL_STATE_CONFIRMED, 200, NULL);
      break;
    case nua_i_cancel:
      self->final_status = 487;
      set_state (self, GST_SIP_CALL_STATE_ENDED, 487, "cancelled");
      break;
    case nua_i_bye:
      set_state (self, GST_SIP_CALL_STATE_ENDED, 200, "remote-hangup");
      break;
    case nua_i_state:
      if (callstate == nua_callstate_terminated) {
        /* BYE answered, or an answered INVITE never ACKed, or our BYE
         * timed out */
        set_state (self, GST_SIP_CALL_STATE_ENDED,
            self->local_hangup ? 200 : (status >= 300 ? status : 200),
            self->local_hangup ? "local-hangup"
                               : (status >= 300 ? "error" : "remote-hangup"));
        nua_handle_bind (self->nh, NULL);
        nua_handle_destroy (self->nh);
        self->nh = NULL;
        /* drops the endpoint's reference: self may be gone after this */
        gst_sip_endpoint_call_finished (self->endpoint, self);
      }
      break;
    default:
      break;
  }
}
