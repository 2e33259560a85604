/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/sip/gstsipcall.h>
#include <gst/sip/gstsipdtmf.h>
#include <gst/sip/gstsiptrunk.h>

#include <string.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/nua.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/url.h>

GST_DEBUG_CATEGORY_STATIC (gst_sip_call_debug);
#define GST_CAT_DEFAULT gst_sip_call_debug

typedef enum
{
  OFFER_IN_INVITE, /* answered in the INVITE's response */
  OFFER_IN_UPDATE, /* answered in the UPDATE's response */
  OFFER_IN_2XX, /* the 2xx of our own offerless re-INVITE: answered in ACK */
} OfferSource;

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
  gchar *trunk; /* the trunk it came in on, or NULL */
  gchar *contact; /* our Contact in responses, NULL: NUA's */
  gchar *offer;
  gsize offer_len;
  guint final_status;
  gint end_status;
  gchar *end_reason;
  gboolean local_hangup;
  gchar *hangup_reason; /* why we hung up, when not "local-hangup" */

  /* outgoing calls */
  gboolean outgoing;
  gchar *route;
  GstSipTrunk *auth_trunk; /* whose credentials answer challenges */
  gboolean credentials_sent;
  gchar *replaces_uri; /* once answered: the far end's Contact with our
                        * dialog as Replaces (RFC 3891) */

  /* Offer/answer inside the dialog (RFC 3264 8, RFC 3311). A "reoffer"
   * handler answers through gst_sip_call_respond(); where the answer goes
   * depends on where the offer came from. */
  OfferSource offer_source;
  gboolean reinvite_pending; /* a re-INVITE of the far end awaits our answer */
  msg_t *update_request; /* the UPDATE whose offer is being answered */
  gboolean
      answer_in_ack; /* our 2xx carried an offer: the answer is in the ACK */
  gboolean reinvite_sent; /* our own re-INVITE (a session refresh) is out */

  /* Blind transfer (REFER). transfer_busy is taken atomically by the thread
   * that asks for a transfer and released after the final report; the rest
   * belongs to the endpoint thread. */
  gint transfer_busy;
  gboolean transfer_active;
  gchar *transfer_event_id; /* "id" of the refer event NOTIFYs must carry */
  gint transfer_last_status; /* last sipfrag status seen */
  GSource *transfer_timer;
};

enum
{
  SIGNAL_STATE_CHANGED,
  SIGNAL_REOFFER,
  SIGNAL_TRANSFER_PROGRESS,
  SIGNAL_ANSWER,
  SIGNAL_DTMF,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (GstSipCall, gst_sip_call, GST_TYPE_OBJECT);

static void set_state (
    GstSipCall *self, GstSipCallState state, gint status, const gchar *reason);

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
  g_free (self->trunk);
  g_free (self->contact);
  g_free (self->offer);
  g_free (self->end_reason);
  g_free (self->transfer_event_id);
  g_free (self->route);
  g_free (self->hangup_reason);
  g_free (self->replaces_uri);
  if (self->update_request)
    msg_destroy (self->update_request);
  if (self->auth_trunk)
    gst_object_unref (self->auth_trunk);
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
  /* An offer inside the dialog, on the endpoint thread: a re-INVITE (its
   * offer is gst_sip_call_get_remote_sdp(), NULL for an offerless one:
   * answer with an offer of ours, the far end answers in its ACK and
   * "answer" follows), an UPDATE with SDP, or the 2xx of a session-refresh
   * re-INVITE of ours that went without SDP. The handler answers at once
   * with gst_sip_call_respond(); the call puts the answer where it belongs
   * (the response, or the ACK). */
  signals[SIGNAL_REOFFER] = g_signal_new ("reoffer", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /* The ACK brought the far end's answer to the offer we put in a 2xx
   * (delayed offer, RFC 3261 13.2.1): gst_sip_call_get_remote_sdp(), or
   * NULL when the ACK had none (RFC 3261 13.3.1.4: hang up). On the
   * endpoint thread. */
  signals[SIGNAL_ANSWER] = g_signal_new ("answer", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  /**
   * GstSipCall::transfer-progress:
   * @call: the call
   * @state: a #GstSipTransferState
   * @status: the SIP status behind @state: of the REFER's response
   *   (accepted, or failed when refused), of the NOTIFY's sipfrag
   *   (progress, succeeded, failed), 408 when no final sipfrag came within
   *   the timeout, 0 when there was none (a transfer that could not start)
   * @reason: the reason phrase that came with @status, or what went wrong
   *
   * Each step of a transfer started with gst_sip_call_refer(), on the
   * endpoint thread: `requested`, then `accepted` and `progress` reports,
   * and exactly one final `succeeded` or `failed`. After `succeeded` the
   * call is hung up with BYE (RFC 5589 section 6: the transferor ends its
   * dialog with the transferee); after `failed` it stays up, unless it had
   * ended. A new transfer can be asked for once the final report has been
   * emitted.
   */
  signals[SIGNAL_TRANSFER_PROGRESS] = g_signal_new ("transfer-progress",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 3, G_TYPE_INT, G_TYPE_INT, G_TYPE_STRING);

  /**
   * GstSipCall::dtmf:
   * @call: the call
   * @number: the key, 0-15 (0-9, 10 = '*', 11 = '#', 12-15 = A-D)
   * @duration_ms: how long the key was held as the request says, -1 when
   *   it does not
   * @method: how it came: %GST_SIP_DTMF_METHOD_INFO
   *
   * A key press the far end sent in a SIP INFO within the call
   * (`application/dtmf-relay` or `application/dtmf`), on the endpoint
   * thread, after the INFO was answered 200.
   */
  signals[SIGNAL_DTMF] =
      g_signal_new ("dtmf", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
          NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_INT, G_TYPE_INT, G_TYPE_INT);

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
      "incoming", "ringing", "answered", "confirmed", "ended", "calling"};
  return state <= GST_SIP_CALL_STATE_CALLING ? names[state] : "unknown";
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

gboolean
gst_sip_uri_has_numeric_host (const gchar *uri)
{
  const gchar *at, *h;
  gchar *host;
  gboolean numeric;

  if (uri == NULL || !g_str_has_prefix (uri, "sip:"))
    return FALSE;
  at = strchr (uri, '@');
  h = at ? at + 1 : uri + 4;
  if (*h == '[')
    host = g_strndup (h + 1, strcspn (h + 1, "]"));
  else
    host = g_strndup (h, strcspn (h, ":;?>"));
  numeric = g_hostname_is_ip_address (host);
  g_free (host);
  return numeric;
}

GstSipCall *
gst_sip_call_new_outgoing (GstSipEndpoint *endpoint, const gchar *request_uri,
    const gchar *from, const gchar *route, GstSipTrunk *trunk)
{
  GstSipCall *self = g_object_new (GST_TYPE_SIP_CALL, NULL);
  gchar *uuid = g_uuid_string_random ();

  gst_object_ref_sink (self);
  self->endpoint = gst_object_ref (endpoint);
  self->outgoing = TRUE;
  self->call_id = g_strdup_printf ("%s@gst-sip-agent", uuid);
  g_free (uuid);
  self->from = g_strdup (from);
  self->to = g_strdup (request_uri);
  self->request_uri = g_strdup (request_uri);
  self->route = g_strdup (route);
  self->auth_trunk = trunk ? gst_object_ref (trunk) : NULL;
  if (trunk)
    self->trunk = g_strdup (gst_sip_trunk_get_config (trunk)->name);
  self->state = GST_SIP_CALL_STATE_CALLING;
  return self;
}

const gchar *
gst_sip_call_get_replaces_uri (GstSipCall *self)
{
  return self->replaces_uri;
}

gboolean
gst_sip_call_is_outgoing (GstSipCall *self)
{
  return self->outgoing;
}

typedef struct
{
  GstSipCall *call;
  gchar *sdp;
} Invite;

static void
invite_free (gpointer data)
{
  Invite *inv = data;

  gst_object_unref (inv->call);
  g_free (inv->sdp);
  g_free (inv);
}

static gboolean
do_invite (gpointer data)
{
  Invite *inv = data;
  GstSipCall *self = inv->call;
  struct nua_s *nua = gst_sip_endpoint_get_nua (self->endpoint);

  if (self->state != GST_SIP_CALL_STATE_CALLING || self->nh || nua == NULL) {
    if (nua == NULL)
      set_state (self, GST_SIP_CALL_STATE_ENDED, 503, "shutdown");
    return G_SOURCE_REMOVE;
  }
  self->nh = nua_handle (nua, (nua_hmagic_t *) self,
      NUTAG_URL (self->request_uri), SIPTAG_TO_STR (self->request_uri),
      SIPTAG_FROM_STR (self->from), SIPTAG_CALL_ID_STR (self->call_id),
      TAG_IF (self->route, NUTAG_INITIAL_ROUTE_STR (self->route)), TAG_END ());
  gst_sip_endpoint_add_call (self->endpoint, self);
  GST_INFO_OBJECT (
      self, "call %s: INVITE %s", self->call_id, self->request_uri);
  nua_invite (self->nh, SIPTAG_CONTENT_TYPE_STR ("application/sdp"),
      SIPTAG_PAYLOAD_STR (inv->sdp), TAG_END ());
  return G_SOURCE_REMOVE;
}

void
gst_sip_call_invite (GstSipCall *self, const gchar *sdp)
{
  Invite *inv = g_new0 (Invite, 1);

  g_return_if_fail (self->outgoing);
  inv->call = gst_object_ref (self);
  inv->sdp = g_strdup (sdp);
  gst_sip_endpoint_invoke (self->endpoint, do_invite, inv, invite_free);
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
gst_sip_call_get_trunk (GstSipCall *self)
{
  return self->trunk;
}

void
gst_sip_call_set_contact (GstSipCall *self, const gchar *contact)
{
  g_free (self->contact);
  self->contact = g_strdup (contact);
}

void
gst_sip_call_set_trunk (GstSipCall *self, const gchar *trunk)
{
  g_free (self->trunk);
  self->trunk = g_strdup (trunk);
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

static void transfer_report (GstSipCall *self, GstSipTransferState state,
    gint status, const gchar *reason);

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
    /* The transfer's outcome goes out before `ended`, while listeners
     * still take this for their call; the state already says it is over,
     * so nobody resumes talking into it. */
    if (self->transfer_active)
      transfer_report (self, GST_SIP_TRANSFER_FAILED,
          self->transfer_last_status,
          "the call ended before the transfer completed");
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

/* RFC 3261 13.2.2.4: an offer in a 2xx is answered in the ACK; one we
 * cannot take is still ACKed, then the call is hung up. */
static void
ack_with_answer (GstSipCall *self, const Response *r)
{
  self->offer_source = OFFER_IN_INVITE;
  if (r->status >= 200 && r->status < 300 && r->sdp) {
    nua_ack (self->nh, SIPTAG_CONTENT_TYPE_STR ("application/sdp"),
        SIPTAG_PAYLOAD_STR (r->sdp), TAG_END ());
    return;
  }
  GST_WARNING_OBJECT (self,
      "call %s: cannot answer the offer in the 2xx "
      "of our re-INVITE (%u %s): hanging up",
      self->call_id, r->status, r->warning ? r->warning : "");
  nua_ack (self->nh, TAG_END ());
  self->local_hangup = TRUE;
  g_free (self->hangup_reason);
  self->hangup_reason = g_strdup ("error");
  nua_bye (self->nh,
      SIPTAG_REASON_STR ("SIP;cause=488;text=\"Not Acceptable "
                         "Here\""),
      TAG_END ());
}

static gboolean
do_respond (gpointer data)
{
  Response *r = data;
  GstSipCall *self = r->call;
  gchar *warning = NULL;
  gchar retry_after[16];
  gboolean initial = self->state < GST_SIP_CALL_STATE_ANSWERED;
  msg_t *update = NULL;

  if (self->state == GST_SIP_CALL_STATE_ENDED || self->nh == NULL)
    return G_SOURCE_REMOVE;
  if (!initial && self->offer_source == OFFER_IN_2XX) {
    ack_with_answer (self, r);
    return G_SOURCE_REMOVE;
  }
  if (!initial && self->offer_source == OFFER_IN_UPDATE) {
    update = self->update_request;
    self->update_request = NULL;
    self->offer_source = OFFER_IN_INVITE;
    if (update == NULL)
      return G_SOURCE_REMOVE;
  } else if (!initial) {
    /* A re-INVITE in a confirmed call is answered without a state change,
     * once. */
    if (!self->reinvite_pending)
      return G_SOURCE_REMOVE;
    if (r->status >= 200)
      self->reinvite_pending = FALSE;
  }
  /* Our 2xx carries the offer when the INVITE had none: its answer comes
   * in the ACK (RFC 3261 13.2.1) */
  if (update == NULL && r->status >= 200 && r->status < 300 && r->sdp &&
      self->offer == NULL)
    self->answer_in_ack = TRUE;

  if (r->warning)
    warning = g_strdup_printf ("399 gst-sip-agent \"%s\"", r->warning);
  g_snprintf (retry_after, sizeof (retry_after), "%u", r->retry_after);
  /* NUA keeps the phrase pointer past this call: intern it. Without
   * NUTAG_WITH() it answers the INVITE. */
  nua_respond (self->nh, r->status,
      r->phrase ? g_intern_string (r->phrase) : sip_status_phrase (r->status),
      TAG_IF (update, NUTAG_WITH (update)),
      TAG_IF (r->sdp, SIPTAG_CONTENT_TYPE_STR ("application/sdp")),
      TAG_IF (r->sdp, SIPTAG_PAYLOAD_STR (r->sdp)),
      TAG_IF (warning, SIPTAG_WARNING_STR (warning)),
      TAG_IF (r->retry_after, SIPTAG_RETRY_AFTER_STR (retry_after)),
      TAG_IF (
          self->contact && r->status < 300, SIPTAG_CONTACT_STR (self->contact)),
      TAG_END ());
  g_free (warning);
  if (update)
    msg_destroy (update);

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

/* the end reason of a call we ended */
static const gchar *
local_reason (GstSipCall *self)
{
  return self->hangup_reason ? self->hangup_reason : "local-hangup";
}

static void
hang_up (GstSipCall *self)
{
  if (self->outgoing &&
      (self->state == GST_SIP_CALL_STATE_CALLING ||
          self->state == GST_SIP_CALL_STATE_RINGING)) {
    self->local_hangup = TRUE;
    if (self->nh)
      nua_cancel (self->nh, TAG_END ());
    else
      set_state (self, GST_SIP_CALL_STATE_ENDED, 487, local_reason (self));
    return;
  }
  switch (self->state) {
    case GST_SIP_CALL_STATE_INCOMING:
    case GST_SIP_CALL_STATE_RINGING:
      self->local_hangup = TRUE;
      nua_respond (self->nh, SIP_480_TEMPORARILY_UNAVAILABLE, TAG_END ());
      set_state (self, GST_SIP_CALL_STATE_ENDED, 480, local_reason (self));
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
}

static gboolean
do_hangup (gpointer data)
{
  hang_up (data);
  return G_SOURCE_REMOVE;
}

void
gst_sip_call_hangup (GstSipCall *self)
{
  gst_sip_endpoint_invoke (
      self->endpoint, do_hangup, gst_object_ref (self), gst_object_unref);
}

typedef struct
{
  GstSipCall *call;
  gchar *reason;
} Hangup;

static void
hangup_free (gpointer data)
{
  Hangup *h = data;

  gst_object_unref (h->call);
  g_free (h->reason);
  g_free (h);
}

static gboolean
do_hangup_full (gpointer data)
{
  Hangup *h = data;

  if (!h->call->local_hangup && h->call->state != GST_SIP_CALL_STATE_ENDED) {
    g_free (h->call->hangup_reason);
    h->call->hangup_reason = g_strdup (h->reason);
  }
  hang_up (h->call);
  return G_SOURCE_REMOVE;
}

void
gst_sip_call_hangup_full (GstSipCall *self, const gchar *reason)
{
  Hangup *h = g_new0 (Hangup, 1);

  h->call = gst_object_ref (self);
  h->reason = g_strdup (reason);
  gst_sip_endpoint_invoke (self->endpoint, do_hangup_full, h, hangup_free);
}

/* ---- blind transfer: REFER (RFC 3515) ---- */

const gchar *
gst_sip_transfer_state_name (GstSipTransferState state)
{
  static const gchar *names[] = {
      "requested", "accepted", "progress", "succeeded", "failed"};
  return state <= GST_SIP_TRANSFER_FAILED ? names[state] : "unknown";
}

static void
stop_transfer_timer (GstSipCall *self)
{
  if (self->transfer_timer) {
    g_source_destroy (self->transfer_timer);
    g_source_unref (self->transfer_timer);
    self->transfer_timer = NULL;
  }
}

/* Endpoint thread. */
static void
transfer_report (GstSipCall *self, GstSipTransferState state, gint status,
    const gchar *reason)
{
  gboolean final =
      state == GST_SIP_TRANSFER_SUCCEEDED || state == GST_SIP_TRANSFER_FAILED;

  GST_INFO_OBJECT (self, "call %s: transfer %s (%d %s)", self->call_id,
      gst_sip_transfer_state_name (state), status, reason ? reason : "");
  if (final) {
    stop_transfer_timer (self);
    self->transfer_active = FALSE;
    g_clear_pointer (&self->transfer_event_id, g_free);
  }
  g_signal_emit (self, signals[SIGNAL_TRANSFER_PROGRESS], 0, (gint) state,
      status, reason ? reason : "");
  /* Only now: a handler of the final report must not see its transfer
   * replaced while other handlers still hear about it. */
  if (final)
    g_atomic_int_set (&self->transfer_busy, 0);
}

static gboolean
transfer_timed_out (gpointer data)
{
  GstSipCall *self = data;

  if (!self->transfer_active)
    return G_SOURCE_REMOVE;
  transfer_report (self, GST_SIP_TRANSFER_FAILED, 408,
      "no final NOTIFY before the transfer timeout");
  return G_SOURCE_REMOVE;
}

typedef struct
{
  GstSipCall *call;
  gchar *target;
  guint timeout_ms;
} Refer;

static void
refer_free (gpointer data)
{
  Refer *r = data;

  gst_object_unref (r->call);
  g_free (r->target);
  g_free (r);
}

static gboolean
do_refer (gpointer data)
{
  Refer *r = data;
  GstSipCall *self = r->call;
  gchar *refer_to, *referred_by;

  if (self->nh == NULL || self->local_hangup ||
      (self->state != GST_SIP_CALL_STATE_ANSWERED &&
          self->state != GST_SIP_CALL_STATE_CONFIRMED)) {
    transfer_report (
        self, GST_SIP_TRANSFER_FAILED, 0, "no established call to transfer");
    return G_SOURCE_REMOVE;
  }

  self->transfer_active = TRUE;
  self->transfer_last_status = 0;
  g_clear_pointer (&self->transfer_event_id, g_free);
  /* The target goes out as given (a tel: URI stays tel:, which carriers such
   * as Twilio need); the angle brackets keep a URI's own parameters
   * (";transport=tcp") from being read as header parameters. */
  refer_to = strchr (r->target, '<') ? g_strdup (r->target)
                                     : g_strdup_printf ("<%s>", r->target);
  /* RFC 3892: who asks for the transfer, the identity the caller called. */
  referred_by = g_strdup_printf ("<%s>", self->to);
  GST_INFO_OBJECT (self, "call %s: REFER to %s (timeout %u ms)", self->call_id,
      refer_to, r->timeout_ms);
  /* NUA copies the tags; NOTIFYs are answered 200 by NUA itself once they
   * match the REFER's implicit subscription. */
  nua_refer (self->nh, SIPTAG_REFER_TO_STR (refer_to),
      SIPTAG_REFERRED_BY_STR (referred_by), TAG_END ());
  g_free (refer_to);
  g_free (referred_by);

  /* NUA waits for NOTIFYs as long as the subscription lives, which for a
   * REFER is as long as the far end wants: our own deadline ends it. */
  stop_transfer_timer (self);
  self->transfer_timer =
      gst_sip_endpoint_add_timeout (self->endpoint, r->timeout_ms,
          transfer_timed_out, gst_object_ref (self), gst_object_unref);
  transfer_report (self, GST_SIP_TRANSFER_REQUESTED, 0, "REFER sent");
  return G_SOURCE_REMOVE;
}

/**
 * gst_sip_call_refer_full:
 * @call: an answered call
 * @target: where to transfer the caller: a `sip:`, `sips:` or `tel:` URI,
 *   sent as the Refer-To exactly as given
 * @timeout_ms: how long to wait for the final outcome (a final sipfrag in a
 *   NOTIFY) after sending the REFER; then the transfer fails with 408
 *
 * Starts a blind transfer (RFC 3515): an in-dialog REFER with Refer-To
 * @target and Referred-By the URI the caller called (the To of the INVITE).
 * Progress comes back through #GstSipCall::transfer-progress; on success the
 * call is hung up, on failure it stays up. Thread-safe: the REFER is sent
 * from the endpoint thread.
 *
 * Returns: %TRUE when the transfer was started (its outcome follows as
 * signals), %FALSE when another transfer of this call is still in
 * progress: one at a time.
 */
gboolean
gst_sip_call_refer_full (
    GstSipCall *self, const gchar *target, guint timeout_ms)
{
  Refer *r;

  g_return_val_if_fail (GST_IS_SIP_CALL (self), FALSE);
  g_return_val_if_fail (target != NULL && *target != '\0', FALSE);

  if (!g_atomic_int_compare_and_exchange (&self->transfer_busy, 0, 1)) {
    GST_WARNING_OBJECT (
        self, "call %s: a transfer is already in progress", self->call_id);
    return FALSE;
  }
  r = g_new0 (Refer, 1);
  r->call = gst_object_ref (self);
  r->target = g_strdup (target);
  r->timeout_ms = timeout_ms;
  gst_sip_endpoint_invoke (self->endpoint, do_refer, r, refer_free);
  return TRUE;
}

/**
 * gst_sip_call_refer:
 * @call: an answered call
 * @target: a `sip:`, `sips:` or `tel:` URI
 *
 * gst_sip_call_refer_full() with the default timeout,
 * %GST_SIP_CALL_TRANSFER_TIMEOUT_DEFAULT (30 s).
 *
 * Returns: %FALSE when another transfer is in progress.
 */
gboolean
gst_sip_call_refer (GstSipCall *self, const gchar *target)
{
  return gst_sip_call_refer_full (
      self, target, GST_SIP_CALL_TRANSFER_TIMEOUT_DEFAULT);
}

/* A message/sipfrag body (RFC 3420) holding a status line, as NOTIFYs of a
 * REFER carry it: "SIP/2.0 180 Ringing". */
static gboolean
parse_sipfrag (const sip_t *sip, gint *status, gchar **phrase)
{
  const sip_content_type_t *ct = sip->sip_content_type;
  const gchar *p, *end, *eol;
  gint code = 0, i;

  if (ct == NULL || ct->c_type == NULL ||
      g_ascii_strcasecmp (ct->c_type, "message/sipfrag") != 0 ||
      sip->sip_payload == NULL)
    return FALSE;
  p = sip->sip_payload->pl_data;
  end = p + sip->sip_payload->pl_len;
  while (p < end && g_ascii_isspace (*p))
    p++;
  if (end - p < 11 || g_ascii_strncasecmp (p, "SIP/2.0 ", 8) != 0)
    return FALSE;
  p += 8;
  for (i = 0; i < 3; i++) {
    if (!g_ascii_isdigit (p[i]))
      return FALSE;
    code = code * 10 + (p[i] - '0');
  }
  p += 3;
  if (p < end && *p != ' ' && *p != '\r' && *p != '\n')
    return FALSE;
  while (p < end && *p == ' ')
    p++;
  for (eol = p; eol < end && *eol != '\r' && *eol != '\n'; eol++)
    ;
  *status = code;
  *phrase = g_strndup (p, eol - p);
  return code >= 100 && code < 700;
}

static void
handle_notify (GstSipCall *self, gint status, const gchar *phrase,
    const sip_t *sip, gint substate, const gchar *event_id)
{
  gint frag = 0;
  gchar *frag_phrase = NULL, *reason;

  if (!self->transfer_active) {
    GST_DEBUG_OBJECT (self, "NOTIFY (%d) with no transfer in progress", status);
    return;
  }
  if (event_id && self->transfer_event_id &&
      g_ascii_strcasecmp (event_id, self->transfer_event_id) != 0) {
    GST_INFO_OBJECT (self, "NOTIFY for an earlier REFER (id %s, ours %s)",
        event_id, self->transfer_event_id);
    return;
  }
  if (sip == NULL) {
    /* NUA's own report: the subscription failed or timed out */
    transfer_report (self, GST_SIP_TRANSFER_FAILED, status, phrase);
    return;
  }
  if (parse_sipfrag (sip, &frag, &frag_phrase))
    self->transfer_last_status = frag;
  else
    GST_WARNING_OBJECT (self, "NOTIFY without a message/sipfrag status line");

  if (frag >= 200 && frag < 300) {
    transfer_report (self, GST_SIP_TRANSFER_SUCCEEDED, frag, frag_phrase);
    /* RFC 5589 section 6: the transferee is with the target now; the
     * transferor ends its own dialog. */
    hang_up (self);
  } else if (frag >= 300) {
    transfer_report (self, GST_SIP_TRANSFER_FAILED, frag, frag_phrase);
  } else if (substate == nua_substate_terminated) {
    const sip_subscription_state_t *ss = sip->sip_subscription_state;

    reason = g_strdup_printf ("the subscription ended (%s) without a final "
                              "response",
        ss && ss->ss_reason ? ss->ss_reason : "no reason given");
    transfer_report (
        self, GST_SIP_TRANSFER_FAILED, self->transfer_last_status, reason);
    g_free (reason);
  } else if (frag > 0) {
    transfer_report (self, GST_SIP_TRANSFER_PROGRESS, frag, frag_phrase);
  }
  g_free (frag_phrase);
}

/* Endpoint thread: NUA events of this dialog. */
void
gst_sip_call_detach (GstSipCall *self)
{
  self->nh = NULL;
  set_state (self, GST_SIP_CALL_STATE_ENDED, 503, "shutdown");
}

/* What a final response to our INVITE means, as the call's end reason */
static const gchar *
failure_reason (gint status)
{
  switch (status) {
    case 486:
    case 600:
      return "busy";
    case 603:
      return "declined";
    case 408:
    case 480:
    case 487:
      return "no-answer";
    case 404:
    case 484:
    case 604:
      return "not-found";
    default:
      return "failed";
  }
}

/* "sip:attorney@192.0.2.7:5060?Replaces=<call-id>%3Bto-tag%3D..." for a
 * REFER that hands our dialog with the far end over to someone else
 * (attended transfer, RFC 5589 section 7) */
static gchar *
make_replaces_uri (GstSipCall *self, const sip_t *sip)
{
  su_home_t home[1] = {SU_HOME_INIT (home)};
  sip_replaces_t *replaces = nua_handle_make_replaces (self->nh, home, 0);
  gchar *contact = url_as_string (home, sip->sip_contact->m_url);
  gchar *query, *uri = NULL;

  if (replaces && contact) {
    query =
        sip_headers_as_url_query (home, SIPTAG_REPLACES (replaces), TAG_END ());
    if (query)
      uri = g_strdup_printf ("%s?%s", contact, query);
  }
  su_home_deinit (home);
  return uri;
}

static void
handle_invite_response (
    GstSipCall *self, gint status, const gchar *phrase, const sip_t *sip)
{
  if (status < 180)
    return;
  if (status < 300 && sip && sip->sip_payload && sip->sip_payload->pl_len)
    gst_sip_call_set_offer (
        self, sip->sip_payload->pl_data, sip->sip_payload->pl_len);
  if (status < 200) {
    set_state (self, GST_SIP_CALL_STATE_RINGING, status, NULL);
    return;
  }
  if (status < 300) {
    self->final_status = status;
    if (sip && sip->sip_contact && self->nh)
      self->replaces_uri = make_replaces_uri (self, sip);
    gst_sip_call_note_peer_allow (self, sip);
    /* NUTAG_AUTOACK is off (answers can come in ACKs): we ACK */
    nua_ack (self->nh, TAG_END ());
    set_state (self, GST_SIP_CALL_STATE_ANSWERED, status, NULL);
    set_state (self, GST_SIP_CALL_STATE_CONFIRMED, status, NULL);
    return;
  }
  if ((status == 401 || status == 407) && sip && self->auth_trunk &&
      !self->credentials_sent && !self->local_hangup &&
      gst_sip_trunk_answer_challenge (
          self->auth_trunk, self->nh, status, sip)) {
    self->credentials_sent = TRUE;
    return;
  }
  self->final_status = status;
  set_state (self, GST_SIP_CALL_STATE_ENDED, status,
      self->local_hangup ? local_reason (self) : failure_reason (status));
}

void
gst_sip_call_note_peer_allow (GstSipCall *self, const sip_t *sip)
{
  /* RFC 4028 9: refresh with UPDATE when the far end takes it; NUA
   * otherwise refreshes with a re-INVITE */
  if (self->nh && sip && SIP_IS_ALLOWED (sip->sip_allow, sip_method_update))
    nua_set_hparams (self->nh, NUTAG_UPDATE_REFRESH (1), TAG_END ());
}

/* Emits "reoffer" for the offer in gst_sip_call_get_remote_sdp(); the
 * handler is expected to answer at once (it runs on this thread). */
static gboolean
emit_reoffer (GstSipCall *self, OfferSource source)
{
  self->offer_source = source;
  g_signal_emit (self, signals[SIGNAL_REOFFER], 0);
  if (self->offer_source == source) {
    /* nobody answered */
    self->offer_source = OFFER_IN_INVITE;
    return FALSE;
  }
  return TRUE;
}

static void
handle_reinvite (GstSipCall *self)
{
  GST_INFO_OBJECT (self, "re-INVITE in call %s (%s)", self->call_id,
      self->offer ? "offer" : "no offer");
  if (self->reinvite_sent) {
    /* RFC 3261 14.2: glare with our own re-INVITE (a session refresh) */
    nua_respond (self->nh, SIP_491_REQUEST_PENDING, TAG_END ());
    return;
  }
  self->reinvite_pending = TRUE;
  if (!emit_reoffer (self, OFFER_IN_INVITE) && self->reinvite_pending) {
    self->reinvite_pending = FALSE;
    nua_respond (self->nh, SIP_500_INTERNAL_SERVER_ERROR, TAG_END ());
  }
}

/* RFC 3311: an UPDATE with SDP is an offer; one without refreshes the
 * session (RFC 4028) and needs only a 200. NUA adds Session-Expires. */
static void
handle_update (GstSipCall *self, nua_t *nua, const sip_t *sip)
{
  msg_t *request = nua_current_request (nua);
  const sip_payload_t *pl = sip ? sip->sip_payload : NULL;

  if (pl == NULL || pl->pl_len == 0) {
    GST_DEBUG_OBJECT (self, "UPDATE without SDP in call %s", self->call_id);
    nua_respond (self->nh, SIP_200_OK, NUTAG_WITH (request), TAG_END ());
    return;
  }
  GST_INFO_OBJECT (self, "UPDATE with an offer in call %s", self->call_id);
  if (self->reinvite_sent || self->reinvite_pending || self->answer_in_ack) {
    /* RFC 3311 5.2: an offer of ours, or one we have not answered, is
     * outstanding */
    if (self->reinvite_sent)
      nua_respond (
          self->nh, SIP_491_REQUEST_PENDING, NUTAG_WITH (request), TAG_END ());
    else
      nua_respond (self->nh, 500, "Overlapping Offer/Answer",
          NUTAG_WITH (request), SIPTAG_RETRY_AFTER_STR ("2"), TAG_END ());
    return;
  }
  gst_sip_call_set_offer (self, pl->pl_data, pl->pl_len);
  self->update_request = msg_ref_create (request);
  if (!emit_reoffer (self, OFFER_IN_UPDATE) && self->update_request) {
    nua_respond (self->nh, SIP_500_INTERNAL_SERVER_ERROR,
        NUTAG_WITH (self->update_request), TAG_END ());
    msg_destroy (self->update_request);
    self->update_request = NULL;
  }
}

static void
handle_ack (GstSipCall *self, const sip_t *sip)
{
  const sip_payload_t *pl = sip ? sip->sip_payload : NULL;

  if (self->answer_in_ack) {
    self->answer_in_ack = FALSE;
    gst_sip_call_set_offer (self, pl ? pl->pl_data : NULL, pl ? pl->pl_len : 0);
    GST_INFO_OBJECT (self, "call %s: ACK %s", self->call_id,
        self->offer ? "with the answer" : "without the answer we offered for");
    g_signal_emit (self, signals[SIGNAL_ANSWER], 0);
  }
  set_state (self, GST_SIP_CALL_STATE_CONFIRMED, 200, NULL);
}

/* The final response to a re-INVITE of ours: NUA's session refresh. With
 * NUTAG_AUTOACK off every 2xx is ACKed here; an incoming call's refresh
 * goes without SDP, so its 2xx holds an offer, answered in the ACK. */
static void
handle_reinvite_response (GstSipCall *self, gint status, const sip_t *sip)
{
  const sip_payload_t *pl = sip ? sip->sip_payload : NULL;

  if (status < 200)
    return;
  self->reinvite_sent = FALSE;
  if (status >= 300) {
    GST_INFO_OBJECT (
        self, "call %s: our re-INVITE got %d", self->call_id, status);
    return;
  }
  if (!self->outgoing && pl && pl->pl_len) {
    gst_sip_call_set_offer (self, pl->pl_data, pl->pl_len);
    if (emit_reoffer (self, OFFER_IN_2XX))
      return;
  }
  nua_ack (self->nh, TAG_END ());
}

void
gst_sip_call_handle_event (GstSipCall *self, gint event, gint status,
    const gchar *phrase, gint callstate, const sip_t *sip)
{
  switch (event) {
    case nua_r_invite:
      if (self->outgoing &&
          (self->state == GST_SIP_CALL_STATE_CALLING ||
              self->state == GST_SIP_CALL_STATE_RINGING))
        handle_invite_response (self, status, phrase, sip);
      else
        handle_reinvite_response (self, status, sip);
      break;
    case nua_i_invite:
      handle_reinvite (self);
      break;
    case nua_i_update:
      handle_update (self, gst_sip_endpoint_get_nua (self->endpoint), sip);
      break;
    case nua_i_ack:
      handle_ack (self, sip);
      break;
    case nua_i_cancel:
      self->final_status = 487;
      set_state (self, GST_SIP_CALL_STATE_ENDED, 487, "cancelled");
      break;
    case nua_i_bye:
      set_state (self, GST_SIP_CALL_STATE_ENDED, 200, "remote-hangup");
      break;
    case nua_r_bye:
      if (!self->local_hangup &&
          !gst_sip_endpoint_is_shutting_down (self->endpoint)) {
        /* a BYE NUA sent by itself: the far end was to refresh the
         * session and did not (RFC 4028 10) */
        GST_INFO_OBJECT (self, "call %s: session expired", self->call_id);
        self->local_hangup = TRUE;
        g_free (self->hangup_reason);
        self->hangup_reason = g_strdup ("session-expired");
      }
      break;
    case nua_i_state:
      if (callstate == nua_callstate_calling &&
          self->state == GST_SIP_CALL_STATE_CONFIRMED) {
        /* NUA sent a re-INVITE of its own: a session refresh */
        GST_DEBUG_OBJECT (
            self, "call %s: session refresh re-INVITE sent", self->call_id);
        self->reinvite_sent = TRUE;
      }
      if (callstate == nua_callstate_terminated) {
        /* BYE answered, or an answered INVITE never ACKed, or our BYE
         * timed out */
        set_state (self, GST_SIP_CALL_STATE_ENDED,
            self->local_hangup ? 200 : (status >= 300 ? status : 200),
            self->local_hangup ? local_reason (self)
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

/* RFC 6086 section 4.2.2: an INFO for an Info Package we never said we
 * take (we announce none) gets 469. */
static gboolean
has_info_package (const sip_t *sip)
{
  const sip_unknown_t *u;

  for (u = sip->sip_unknown; u; u = u->un_next) {
    if (u->un_name && g_ascii_strcasecmp (u->un_name, "Info-Package") == 0)
      return TRUE;
  }
  return FALSE;
}

void
gst_sip_call_handle_info (GstSipCall *self, const sip_t *sip)
{
  nua_t *nua = gst_sip_endpoint_get_nua (self->endpoint);
  const sip_payload_t *pl = sip->sip_payload;
  const gchar *type =
      sip->sip_content_type ? sip->sip_content_type->c_type : NULL;
  const gchar *why = NULL;
  gint number = -1, duration_ms = -1;
  guint status;

  if (has_info_package (sip)) {
    GST_INFO_OBJECT (self, "INFO for an Info Package: 469");
    nua_respond (
        self->nh, 469, "Bad Info Package", NUTAG_WITH_THIS (nua), TAG_END ());
    return;
  }
  if (pl == NULL || pl->pl_len == 0) {
    /* a body-less INFO (some use it to probe the dialog): nothing to do */
    nua_respond (self->nh, SIP_200_OK, NUTAG_WITH_THIS (nua), TAG_END ());
    return;
  }
  status = gst_sip_dtmf_parse_info (
      type, pl->pl_data, pl->pl_len, &number, &duration_ms, &why);
  if (status == 415) {
    GST_INFO_OBJECT (self, "INFO with %s: 415", type ? type : "no type");
    nua_respond (self->nh, SIP_415_UNSUPPORTED_MEDIA, NUTAG_WITH_THIS (nua),
        SIPTAG_ACCEPT_STR (GST_SIP_DTMF_INFO_ACCEPT), TAG_END ());
    return;
  }
  if (status != 200) {
    gchar *warning = g_strdup_printf ("399 gst-sip-agent \"%s\"", why);

    GST_INFO_OBJECT (self, "malformed DTMF INFO: %s", why);
    nua_respond (self->nh, 400, "Bad DTMF Body", NUTAG_WITH_THIS (nua),
        SIPTAG_WARNING_STR (warning), TAG_END ());
    g_free (warning);
    return;
  }
  nua_respond (self->nh, SIP_200_OK, NUTAG_WITH_THIS (nua), TAG_END ());
  GST_INFO_OBJECT (self, "INFO key %c (%d ms)",
      gst_sip_dtmf_char_from_number (number), duration_ms);
  g_signal_emit (self, signals[SIGNAL_DTMF], 0, number, duration_ms,
      GST_SIP_DTMF_METHOD_INFO);
}

void
gst_sip_call_handle_transfer_event (GstSipCall *self, gint event, gint status,
    const gchar *phrase, const sip_t *sip, gint substate, const gchar *event_id)
{
  if (event == nua_i_notify) {
    handle_notify (self, status, phrase, sip, substate, event_id);
    return;
  }
  if (event != nua_r_refer || !self->transfer_active)
    return;
  if (status < 200) {
    /* NUA's own 100 names the event ("refer;id=CSEQ") of the REFER's
     * implicit subscription */
    if (event_id) {
      g_free (self->transfer_event_id);
      self->transfer_event_id = g_strdup (event_id);
    }
    return;
  }
  if (status < 300)
    transfer_report (self, GST_SIP_TRANSFER_ACCEPTED, status, phrase);
  else
    transfer_report (self, GST_SIP_TRANSFER_FAILED, status, phrase);
}
