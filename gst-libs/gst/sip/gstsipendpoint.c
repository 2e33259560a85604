/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/sip/gstsipendpoint.h>
#include <gst/sip/gstsipcall.h>
#include <gst/sip/gstsiptrunk.h>

#include <string.h>
#include <gio/gio.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/su_glib.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/su_uniqueid.h>
#include <sofia-sip/nua.h>
#include <sofia-sip/nta_tag.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/url.h>

GST_DEBUG_CATEGORY_STATIC (gst_sip_endpoint_debug);
#define GST_CAT_DEFAULT gst_sip_endpoint_debug
GST_DEBUG_CATEGORY_STATIC (sofia_debug);

/* What we answer ourselves: NUA would otherwise advertise (and half
 * handle) PRACK, REFER and SUBSCRIBE. NOTIFY is for the implicit
 * subscription of a REFER we send (a transfer); NUA answers one that
 * matches no subscription of ours with 481, and an incoming REFER still
 * gets 405. UPDATE (RFC 3311) is answered by the call (NUTAG_APPL_METHOD),
 * since NUA without its SDP engine would answer an offer with no answer.
 * INFO (key presses, DTMF) is answered by the call too. Session timers
 * (RFC 4028) are NUA's. */
#define ALLOWED_METHODS \
  "INVITE, ACK, BYE, CANCEL, OPTIONS, NOTIFY, UPDATE, INFO"
#define SUPPORTED_EXTENSIONS "timer"

struct _GstSipEndpoint
{
  GstObject parent;

  gchar *bind_url;
  gchar *tls_url; /* sips: bind URL, NULL: no TLS */
  gchar *tls_dir;
  gboolean tls_verify;
  gchar *tls_contact; /* for calls over TLS to a sip: URI */
  gchar *contact_user;
  gchar *host; /* without brackets */
  gboolean ipv6;
  gchar *user_agent;

  GThread *thread;
  GMainContext *context;
  GMainLoop *loop;
  su_root_t *root;
  nua_t *nua;

  /* startup and shutdown handshake with the thread */
  GMutex lock;
  GCond cond;
  gboolean started;
  gboolean stopped;
  gchar *start_error;

  /* endpoint thread only */
  GList *calls;
  GList *trunks; /* owned */
  gboolean shutting_down;

  /* RFC 4028, set before the thread starts */
  guint session_expires;
  guint min_se;
};

enum
{
  SIGNAL_INCOMING_CALL,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (GstSipEndpoint, gst_sip_endpoint, GST_TYPE_OBJECT);

static void
gst_sip_endpoint_finalize (GObject *object)
{
  GstSipEndpoint *self = GST_SIP_ENDPOINT (object);

  g_free (self->bind_url);
  g_free (self->tls_url);
  g_free (self->tls_dir);
  g_free (self->tls_contact);
  g_free (self->contact_user);
  g_free (self->host);
  g_free (self->user_agent);
  g_free (self->start_error);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  if (self->loop)
    g_main_loop_unref (self->loop);
  if (self->context)
    g_main_context_unref (self->context);
  G_OBJECT_CLASS (gst_sip_endpoint_parent_class)->finalize (object);
}

static void
gst_sip_endpoint_class_init (GstSipEndpointClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);

  gobject_class->finalize = gst_sip_endpoint_finalize;

  /* Emitted on the endpoint thread for a new INVITE. The handler answers or
   * rejects the call with gst_sip_call_respond(); a call left unanswered by
   * every handler gets 480. */
  signals[SIGNAL_INCOMING_CALL] = g_signal_new ("incoming-call",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 1, GST_TYPE_SIP_CALL);

  GST_DEBUG_CATEGORY_INIT (
      gst_sip_endpoint_debug, "sipendpoint", 0, "SIP endpoint (sofia-sip NUA)");
}

static void
gst_sip_endpoint_init (GstSipEndpoint *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
}

static GstSipCall *
find_call (GstSipEndpoint *self, nua_handle_t *nh)
{
  GList *l;

  for (l = self->calls; l; l = l->next) {
    GstSipCall *call = l->data;
    if (nua_handle_magic (nh) == (nua_hmagic_t *) call)
      return call;
  }
  return NULL;
}

/* The URI of a From or To header, e.g. "sip:+19195550100@example.com" */
static gchar *
address_uri (const sip_addr_t *a)
{
  char buf[1024];

  if (a == NULL || url_e (buf, sizeof (buf), a->a_url) < 0)
    return g_strdup ("");
  buf[sizeof (buf) - 1] = '\0';
  return g_strdup (buf);
}

/* Content negotiation of RFC 3261 21.4.14 / 21.4.7: answered before the
 * application sees the call. Returns TRUE when a response was sent. */
static gboolean
reject_unacceptable_invite (nua_handle_t *nh, const sip_t *sip)
{
  if (sip->sip_payload && sip->sip_payload->pl_len > 0) {
    const sip_content_type_t *ct = sip->sip_content_type;

    if (ct == NULL || ct->c_type == NULL ||
        g_ascii_strcasecmp (ct->c_type, "application/sdp") != 0) {
      nua_respond (nh, SIP_415_UNSUPPORTED_MEDIA,
          SIPTAG_ACCEPT_STR ("application/sdp"), TAG_END ());
      return TRUE;
    }
  }
  if (sip->sip_accept) {
    const sip_accept_t *a;
    gboolean sdp_ok = FALSE;

    for (a = sip->sip_accept; a; a = a->ac_next) {
      if (a->ac_type == NULL ||
          g_ascii_strcasecmp (a->ac_type, "application/sdp") == 0 ||
          g_ascii_strcasecmp (a->ac_type, "application/*") == 0 ||
          g_ascii_strcasecmp (a->ac_type, "*/*") == 0)
        sdp_ok = TRUE;
    }
    if (!sdp_ok) {
      nua_respond (nh, SIP_406_NOT_ACCEPTABLE,
          SIPTAG_ACCEPT_STR ("application/sdp"), TAG_END ());
      return TRUE;
    }
  }
  return FALSE;
}

/* The address a request came from, or NULL */
static GInetAddress *
request_source (GstSipEndpoint *self)
{
  msg_t *msg = nua_current_request (self->nua);
  su_addrinfo_t *ai = msg ? msg_addrinfo (msg) : NULL;
  GSocketAddress *sa;
  GInetAddress *address = NULL;

  if (ai == NULL || ai->ai_addr == NULL)
    return NULL;
  sa = g_socket_address_new_from_native (ai->ai_addr, ai->ai_addrlen);
  if (G_IS_INET_SOCKET_ADDRESS (sa))
    address = g_object_ref (
        g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (sa)));
  g_clear_object (&sa);
  return address;
}

/* With trunks, a new INVITE or OPTIONS is taken only when a trunk's policy
 * takes it (docs/server.md, "Trunks"); otherwise it gets 401 (a trunk
 * that authenticates its peer) or 403, with no dialog and no media port.
 * Returns the trunk, or NULL when a response went out. */
static GstSipTrunk *
admit_request (GstSipEndpoint *self, nua_handle_t *nh, const gchar *method,
    const sip_t *sip, gboolean *no_trunks)
{
  GInetAddress *source;
  GstSipTrunk *challenger = NULL;
  GList *l;

  *no_trunks = self->trunks == NULL;
  if (self->trunks == NULL)
    return NULL;
  source = request_source (self);
  for (l = self->trunks; l && source; l = l->next) {
    switch (gst_sip_trunk_check_request (l->data, method, sip, source)) {
      case GST_SIP_TRUNK_ACCEPT:
        g_object_unref (source);
        return l->data;
      case GST_SIP_TRUNK_CHALLENGE:
        if (challenger == NULL)
          challenger = l->data;
        break;
      case GST_SIP_TRUNK_NOT_MINE:
        break;
    }
  }
  if (challenger && strcmp (method, "ACK") != 0) {
    GST_INFO_OBJECT (self, "%s from %s: challenged for trunk %s", method,
        source ? "?" : "?", GST_OBJECT_NAME (challenger));
    gst_sip_trunk_challenge (challenger, nh, FALSE);
  } else {
    gchar *who = source ? g_inet_address_to_string (source) : g_strdup ("?");
    GST_WARNING_OBJECT (
        self, "%s from %s: no trunk takes it: 403", method, who);
    g_free (who);
    nua_respond (
        nh, SIP_403_FORBIDDEN, NUTAG_WITH_THIS (self->nua), TAG_END ());
  }
  g_clear_object (&source);
  return NULL;
}

static void
handle_new_invite (GstSipEndpoint *self, nua_handle_t *nh, const sip_t *sip)
{
  GstSipCall *call;
  GstSipTrunk *trunk;
  gboolean no_trunks;
  gchar *from, *to, *request_uri = NULL;
  const gchar *sdp = NULL;
  gsize sdp_len = 0;

  if (self->shutting_down) {
    nua_respond (nh, SIP_503_SERVICE_UNAVAILABLE, TAG_END ());
    nua_handle_destroy (nh);
    return;
  }
  trunk = admit_request (self, nh, "INVITE", sip, &no_trunks);
  if (trunk == NULL && !no_trunks) {
    nua_handle_destroy (nh);
    return;
  }
  if (reject_unacceptable_invite (nh, sip)) {
    nua_handle_destroy (nh);
    return;
  }

  from = address_uri (sip->sip_from);
  to = address_uri (sip->sip_to);
  if (sip->sip_request)
    request_uri = url_as_string (NULL, sip->sip_request->rq_url);
  if (sip->sip_payload) {
    sdp = sip->sip_payload->pl_data;
    sdp_len = sip->sip_payload->pl_len;
  }
  call = gst_sip_call_new_incoming (self, nh,
      sip->sip_call_id ? sip->sip_call_id->i_id : "", from, to, request_uri,
      sdp, sdp_len);
  g_free (from);
  g_free (to);
  su_free (NULL, request_uri);
  if (trunk)
    gst_sip_call_set_trunk (call, GST_OBJECT_NAME (trunk));
  /* Over TLS to a sip: URI: NUA would name its sips: URL in our Contact,
   * which phones without sips: support (libre, so baresip) cannot send
   * their ACK and BYE to. A sips: Request-URI keeps the sips: Contact
   * (RFC 3261 8.1.1.8). */
  if (self->tls_contact && sip->sip_via && sip->sip_via->v_protocol &&
      g_ascii_strcasecmp (sip->sip_via->v_protocol, sip_transport_tls) == 0 &&
      sip->sip_request && sip->sip_request->rq_url->url_type == url_sip)
    gst_sip_call_set_contact (call, self->tls_contact);

  nua_handle_bind (nh, (nua_hmagic_t *) call);
  self->calls = g_list_prepend (self->calls, call);
  gst_sip_call_note_peer_allow (call, sip);

  g_signal_emit (self, signals[SIGNAL_INCOMING_CALL], 0, call);
  if (gst_sip_call_get_state (call) == GST_SIP_CALL_STATE_INCOMING) {
    GST_INFO_OBJECT (
        self, "nobody took call %s", gst_sip_call_get_call_id (call));
    gst_sip_call_respond (call, 480, "Temporarily Unavailable", NULL, NULL);
  }
}

void
gst_sip_endpoint_add_call (GstSipEndpoint *self, GstSipCall *call)
{
  g_assert (gst_sip_endpoint_in_thread (self));
  self->calls = g_list_prepend (self->calls, gst_object_ref (call));
}

struct nua_s *
gst_sip_endpoint_get_nua (GstSipEndpoint *self)
{
  return self->shutting_down ? NULL : self->nua;
}

void
gst_sip_endpoint_call_finished (GstSipEndpoint *self, GstSipCall *call)
{
  GList *l = g_list_find (self->calls, call);

  if (l == NULL)
    return;
  self->calls = g_list_delete_link (self->calls, l);
  gst_object_unref (call);
}

static void
finish_shutdown (GstSipEndpoint *self)
{
  GST_DEBUG_OBJECT (self, "NUA shut down");
  while (self->trunks) {
    gst_sip_trunk_detach (self->trunks->data);
    gst_object_unref (self->trunks->data);
    self->trunks = g_list_delete_link (self->trunks, self->trunks);
  }
  while (self->calls) {
    gst_sip_call_detach (self->calls->data);
    gst_sip_endpoint_call_finished (self, self->calls->data);
  }
  nua_destroy (self->nua);
  self->nua = NULL;
  g_main_loop_quit (self->loop);
}

static void
nua_callback (nua_event_t event, int status, char const *phrase, nua_t *nua,
    nua_magic_t *magic, nua_handle_t *nh, nua_hmagic_t *hmagic,
    sip_t const *sip, tagi_t tags[])
{
  GstSipEndpoint *self = GST_SIP_ENDPOINT (magic);
  GstSipCall *call = hmagic ? find_call (self, nh) : NULL;
  gint callstate = -1;

  GST_LOG_OBJECT (self, "event %s status %d %s", nua_event_name (event), status,
      phrase ? phrase : "");

  if (hmagic && call == NULL) {
    GList *l;

    for (l = self->trunks; l; l = l->next) {
      if (gst_sip_trunk_owns_handle (l->data, nh)) {
        gst_sip_trunk_handle_event (l->data, event, status, phrase, nh, sip);
        return;
      }
    }
  }

  switch (event) {
    case nua_r_shutdown:
      if (status >= 200)
        finish_shutdown (self);
      return;
    case nua_i_invite:
      if (call) {
        /* re-INVITE in an existing dialog */
        const sip_payload_t *pl = sip ? sip->sip_payload : NULL;
        gst_sip_call_set_offer (
            call, pl ? pl->pl_data : NULL, pl ? pl->pl_len : 0);
        gst_sip_call_handle_event (call, event, status, phrase, -1, sip);
      } else if (sip) {
        handle_new_invite (self, nh, sip);
      }
      return;
    case nua_i_update:
      if (call == NULL) {
        /* NUA matched it to a dialog that is no call of ours */
        nua_respond (
            nh, SIP_481_NO_TRANSACTION, NUTAG_WITH_THIS (nua), TAG_END ());
        return;
      }
      break;
    case nua_i_options:
      /* we answer OPTIONS ourselves so that trunk policy applies */
      if (call == NULL && sip) {
        gboolean no_trunks;

        if (admit_request (self, nh, "OPTIONS", sip, &no_trunks) || no_trunks)
          nua_respond (nh, SIP_200_OK, NUTAG_WITH_THIS (nua), TAG_END ());
        nua_handle_destroy (nh);
        return;
      }
      break;
    case nua_i_info:
      /* answered here (NUTAG_APPL_METHOD): key presses (DTMF) */
      if (call && sip) {
        gst_sip_call_handle_info (call, sip);
        return;
      }
      if (sip)
        nua_respond (
            nh, SIP_481_NO_TRANSACTION, NUTAG_WITH_THIS (nua), TAG_END ());
      break;
    case nua_i_state:
      tl_gets (tags, NUTAG_CALLSTATE_REF (callstate), TAG_END ());
      break;
    case nua_r_refer:
    case nua_i_notify:
      if (call) {
        sip_event_t const *refer_event = NULL;
        gint substate = -1;

        tl_gets (tags, NUTAG_SUBSTATE_REF (substate),
            NUTAG_REFER_EVENT_REF (refer_event), TAG_END ());
        if (event == nua_i_notify && sip && sip->sip_event)
          refer_event = sip->sip_event;
        gst_sip_call_handle_transfer_event (call, event, status, phrase, sip,
            substate, refer_event ? refer_event->o_id : NULL);
        return;
      }
      break;
    default:
      break;
  }

  if (call) {
    gst_sip_call_handle_event (call, event, status, phrase, callstate, sip);
    return;
  }

  /* Requests outside any call that NUA has already answered (OPTIONS,
   * MESSAGE, REGISTER ...) leave a handle nobody else will destroy. */
  if (nh && hmagic == NULL && event != nua_i_invite &&
      ((event >= nua_i_error && event <= nua_i_method) ||
          event == nua_i_register))
    nua_handle_destroy (nh);
}

static gpointer
endpoint_thread (gpointer data)
{
  GstSipEndpoint *self = data;
  GSource *source;

  g_main_context_push_thread_default (self->context);

  /* The thread that creates a su_root owns it: create it here. */
  self->root = su_glib_root_create ((su_root_magic_t *) self);
  if (self->root == NULL) {
    g_mutex_lock (&self->lock);
    self->start_error = g_strdup ("could not create the sofia-sip root");
    self->started = TRUE;
    g_cond_broadcast (&self->cond);
    g_mutex_unlock (&self->lock);
    g_main_context_pop_thread_default (self->context);
    return NULL;
  }
  source = su_glib_root_gsource (self->root);
  g_source_attach (source, self->context);
  /* Run the SIP stack on this thread too, instead of a clone thread that
   * NUA would start: one thread per endpoint, no hop per message. */
  su_root_threading (self->root, 0);

  self->nua = nua_create (self->root, nua_callback, (nua_magic_t *) self,
      NUTAG_URL (self->bind_url),
      /* TLS: sofia-sip reads agent.pem and cafile.pem from tls_dir; the
       * policy verifies servers we connect to, not our clients */
      TAG_IF (self->tls_url, NUTAG_SIPS_URL (self->tls_url)),
      TAG_IF (self->tls_url, TPTAG_CERTIFICATE (self->tls_dir)),
      TAG_IF (self->tls_url,
          TPTAG_TLS_VERIFY_POLICY (
              self->tls_verify ? TPTLS_VERIFY_OUTGOING : TPTLS_VERIFY_NONE)),
      TAG_IF (self->contact_user, NUTAG_M_USERNAME (self->contact_user)),
      NUTAG_MEDIA_ENABLE (0), NUTAG_AUTOANSWER (0),
      /* RFC 3581: our requests ask for the port they came from, so that
       * responses find us behind NAT (answering, NTA always honours it) */
      NTATAG_CLIENT_RPORT (1),
      /* an answer may have to go in the ACK (delayed offer) */
      NUTAG_AUTOACK (0), NUTAG_ENABLEMESSAGE (0),
      NUTAG_APPL_METHOD ("OPTIONS, UPDATE, INFO"),
      NUTAG_SESSION_TIMER (self->session_expires), NUTAG_MIN_SE (self->min_se),
      NUTAG_SESSION_REFRESHER (nua_any_refresher),
      SIPTAG_ALLOW_STR (ALLOWED_METHODS),
      SIPTAG_SUPPORTED_STR (SUPPORTED_EXTENSIONS),
      SIPTAG_ACCEPT_STR ("application/sdp"),
      SIPTAG_USER_AGENT_STR (self->user_agent), TAG_END ());

  g_mutex_lock (&self->lock);
  if (self->nua == NULL)
    self->start_error =
        g_strdup_printf ("could not bind SIP to %s", self->bind_url);
  self->started = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);

  if (self->nua)
    g_main_loop_run (self->loop);

  /* The GSource goes first (telepathy-rakia's order): destroying the root
   * with its source still attached leaves su_source's lock held. */
  g_source_destroy (source);
  su_root_destroy (self->root);
  self->root = NULL;
  /* Let the destroyed source's last dispatch run. */
  while (g_main_context_iteration (self->context, FALSE))
    ;
  g_main_context_pop_thread_default (self->context);
  return NULL;
}

/* "sip:agent@[::1]:5060;transport=tcp" -> bind "sip:[::1]:5060;transport=tcp",
 * contact user "agent", host "::1" */
static gboolean
parse_local_uri (GstSipEndpoint *self, const gchar *local_uri,
    const gchar *external_address, guint tls_port, GError **error)
{
  su_home_t home[1] = {SU_HOME_INIT (home)};
  url_t *url = url_make (home, local_uri);
  gboolean ok = FALSE;

  if (url == NULL || (url->url_type != url_sip && url->url_type != url_sips) ||
      url->url_host == NULL) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "local-uri '%s' is not a sip: URI with a host", local_uri);
    goto out;
  }
  self->contact_user = g_strdup (url->url_user);
  self->ipv6 = url->url_host[0] == '[';
  if (self->ipv6)
    self->host = g_strndup (url->url_host + 1, strlen (url->url_host) - 2);
  else
    self->host = g_strdup (url->url_host);
  if (external_address && !g_hostname_is_ip_address (external_address)) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "external address '%s' is not an IP address", external_address);
    goto out;
  }
  if (external_address) {
    /* NTA binds to maddr and names the URL's host in Contact and Via; a
     * maddr other than the wildcard would be named too (nta.c), so the
     * stack listens on every local address of the family. */
    gboolean v6 = strchr (external_address, ':') != NULL;

    self->bind_url = g_strdup_printf ("%s:%s%s%s%s%s;maddr=%s%s%s",
        url->url_type == url_sips ? "sips" : "sip", v6 ? "[" : "",
        external_address, v6 ? "]" : "", url->url_port ? ":" : "",
        url->url_port ? url->url_port : "", v6 ? "[::]" : "0.0.0.0",
        url->url_params ? ";" : "", url->url_params ? url->url_params : "");
  } else {
    self->bind_url = g_strdup_printf ("%s:%s%s%s%s%s",
        url->url_type == url_sips ? "sips" : "sip", url->url_host,
        url->url_port ? ":" : "", url->url_port ? url->url_port : "",
        url->url_params ? ";" : "", url->url_params ? url->url_params : "");
  }
  if (tls_port > 0) {
    /* The same host (or external address and maddr) on the TLS port */
    gboolean v6 = external_address && strchr (external_address, ':');
    gchar *host = external_address ? g_strdup_printf ("%s%s%s", v6 ? "[" : "",
                                         external_address, v6 ? "]" : "")
                                   : g_strdup (url->url_host);

    if (external_address)
      self->tls_url = g_strdup_printf (
          "sips:%s:%u;maddr=%s", host, tls_port, v6 ? "[::]" : "0.0.0.0");
    else
      self->tls_url = g_strdup_printf ("sips:%s:%u", host, tls_port);
    self->tls_contact = g_strdup_printf ("<sip:%s%s%s:%u;transport=tls>",
        url->url_user ? url->url_user : "", url->url_user ? "@" : "", host,
        tls_port);
    g_free (host);
  }
  ok = TRUE;
out:
  su_home_deinit (home);
  return ok;
}

/* su_init() sets up sofia-sip's per-process state (clock, sockets,
 * thread-local data); once per process, before any root exists. */
/* sofia-sip's own log (SU_DEBUG, NUA_DEBUG ...) goes to stderr; send it to
 * the GStreamer debug log instead: GST_DEBUG=sofia:5. */
static void
sofia_logger (void *stream, char const *fmt, va_list args)
{
  gchar *msg = g_strdup_vprintf (fmt, args);

  g_strchomp (msg);
  if (*msg)
    GST_CAT_DEBUG (sofia_debug, "%s", msg);
  g_free (msg);
}

void
gst_sip_agent_init (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done)) {
    GST_DEBUG_CATEGORY_INIT (
        sofia_debug, "sofia", 0, "sofia-sip's own log messages");
    su_log_redirect (su_log_default, sofia_logger, NULL);
    su_init ();
    /* sofia-sip 1.12's su_uniqueid.c deletes its pthread key at exit even
     * when it never created one, and then deletes key 0, which is GLib's:
     * a program that links us without ever using sofia's random numbers
     * aborted at exit in g_private_set(). Using them once creates the key. */
    (void) su_random ();
    g_once_init_leave (&done, 1);
  }
}

GstSipEndpoint *
gst_sip_endpoint_new (
    const gchar *local_uri, const gchar *user_agent, GError **error)
{
  return gst_sip_endpoint_new_full (local_uri, user_agent, NULL, error);
}

GstSipEndpoint *
gst_sip_endpoint_new_full (const gchar *local_uri, const gchar *user_agent,
    const GstSipEndpointSettings *settings, GError **error)
{
  static const GstSipEndpointSettings defaults = GST_SIP_ENDPOINT_SETTINGS_INIT;
  GstSipEndpoint *self;

  gst_sip_agent_init ();
  if (settings == NULL)
    settings = &defaults;

  self = g_object_new (GST_TYPE_SIP_ENDPOINT, NULL);
  gst_object_ref_sink (self);
  if (settings->tls_port > 0) {
    gchar *agent = g_build_filename (
        settings->tls_dir ? settings->tls_dir : "", "agent.pem", NULL);
    gboolean ok = settings->tls_dir && g_file_test (agent, G_FILE_TEST_EXISTS);

    g_free (agent);
    if (!ok) {
      /* sofia-sip would start without TLS and say so only in its log */
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
          "TLS needs a certificate directory with agent.pem (tls-dir '%s')",
          settings->tls_dir ? settings->tls_dir : "(none)");
      gst_object_unref (self);
      return NULL;
    }
    self->tls_dir = g_strdup (settings->tls_dir);
    self->tls_verify = settings->tls_verify;
  }
  if (!parse_local_uri (self, local_uri, settings->external_address,
          settings->tls_port, error)) {
    gst_object_unref (self);
    return NULL;
  }
  self->user_agent = g_strdup (user_agent);
  self->session_expires = settings->session_expires;
  self->min_se = settings->session_expires
      ? MIN (settings->min_se, settings->session_expires)
      : settings->min_se;
  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);
  self->thread = g_thread_new ("sip-endpoint", endpoint_thread, self);

  g_mutex_lock (&self->lock);
  while (!self->started)
    g_cond_wait (&self->cond, &self->lock);
  g_mutex_unlock (&self->lock);

  if (self->start_error) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ_WRITE,
        "%s", self->start_error);
    g_thread_join (self->thread);
    self->thread = NULL;
    gst_object_unref (self);
    return NULL;
  }
  GST_INFO_OBJECT (self, "SIP endpoint on %s", self->bind_url);
  return self;
}

static gboolean
start_shutdown (gpointer data)
{
  GstSipEndpoint *self = data;

  self->shutting_down = TRUE;
  /* Ends calls with BYE/480 and waits for their transactions; the final
   * nua_r_shutdown quits the loop. */
  nua_shutdown (self->nua);
  return G_SOURCE_REMOVE;
}

void
gst_sip_endpoint_shutdown (GstSipEndpoint *self)
{
  if (self->thread == NULL)
    return;
  g_assert (!gst_sip_endpoint_in_thread (self));
  gst_sip_endpoint_invoke (self, start_shutdown, self, NULL);
  g_thread_join (self->thread);
  self->thread = NULL;
}

typedef struct
{
  GstSipEndpoint *endpoint;
  GstSipTrunk *trunk;
} TrunkStart;

static void
trunk_start_free (gpointer data)
{
  TrunkStart *ts = data;

  gst_object_unref (ts->endpoint);
  gst_object_unref (ts->trunk);
  g_free (ts);
}

static gboolean
start_trunk (gpointer data)
{
  TrunkStart *ts = data;
  GstSipEndpoint *self = ts->endpoint;

  if (self->nua == NULL || self->shutting_down)
    return G_SOURCE_REMOVE;
  self->trunks = g_list_append (self->trunks, gst_object_ref (ts->trunk));
  gst_sip_trunk_start (ts->trunk, self->nua);
  return G_SOURCE_REMOVE;
}

void
gst_sip_endpoint_add_trunk (GstSipEndpoint *self, GstSipTrunk *trunk)
{
  TrunkStart *ts = g_new (TrunkStart, 1);

  ts->endpoint = gst_object_ref (self);
  ts->trunk = gst_object_ref (trunk);
  gst_sip_endpoint_invoke (self, start_trunk, ts, trunk_start_free);
}

const gchar *
gst_sip_endpoint_get_host (GstSipEndpoint *self)
{
  return self->host;
}

gboolean
gst_sip_endpoint_is_ipv6 (GstSipEndpoint *self)
{
  return self->ipv6;
}

gboolean
gst_sip_endpoint_is_shutting_down (GstSipEndpoint *self)
{
  g_assert (gst_sip_endpoint_in_thread (self));
  return self->shutting_down;
}

gboolean
gst_sip_endpoint_in_thread (GstSipEndpoint *self)
{
  return g_main_context_is_owner (self->context);
}

void
gst_sip_endpoint_invoke (GstSipEndpoint *self, GSourceFunc func, gpointer data,
    GDestroyNotify notify)
{
  g_main_context_invoke_full (
      self->context, G_PRIORITY_DEFAULT, func, data, notify);
}

GSource *
gst_sip_endpoint_add_timeout (GstSipEndpoint *self, guint ms, GSourceFunc func,
    gpointer data, GDestroyNotify notify)
{
  GSource *source = g_timeout_source_new (ms);

  g_source_set_callback (source, func, data, notify);
  g_source_attach (source, self->context);
  return source;
}
