/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/sip/gstsiptrunk.h>

#include <stdlib.h>
#include <string.h>
#include <sofia-sip/auth_digest.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nua.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/url.h>

GST_DEBUG_CATEGORY_STATIC (gst_sip_trunk_debug);
#define GST_CAT_DEFAULT gst_sip_trunk_debug

/* How long an OPTIONS probe may go unanswered before the trunk is down.
 * The SIP transaction itself would wait 32 s (timer F). */
#define QUALIFY_TIMEOUT_MS 4000
/* How long a nonce of our inbound challenge stays good. */
#define NONCE_LIFETIME_S 300

/* ---------------------------------------------------------------------- */
/* allow lists */

gboolean
gst_sip_cidr_parse (const gchar *text, GstSipCidr *cidr)
{
  const gchar *slash = strchr (text, '/');
  gchar *host = slash ? g_strndup (text, slash - text) : g_strdup (text);
  GInetAddress *address = g_inet_address_new_from_string (g_strstrip (host));
  guint max;

  g_free (host);
  if (address == NULL)
    return FALSE;
  memset (cidr, 0, sizeof (*cidr));
  cidr->family = g_inet_address_get_family (address);
  max = g_inet_address_get_native_size (address) * 8;
  memcpy (cidr->bytes, g_inet_address_to_bytes (address), max / 8);
  g_object_unref (address);
  cidr->prefix = max;
  if (slash) {
    gchar *end;
    guint64 prefix = g_ascii_strtoull (slash + 1, &end, 10);

    if (end == slash + 1 || *end != '\0' || prefix > max)
      return FALSE;
    cidr->prefix = prefix;
  }
  return TRUE;
}

gboolean
gst_sip_cidr_contains (const GstSipCidr *cidr, GInetAddress *address)
{
  const guint8 *bytes = g_inet_address_to_bytes (address);
  GSocketFamily family = g_inet_address_get_family (address);
  static const guint8 v4_mapped[12] = {
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  guint full, rest;

  /* a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d */
  if (family == G_SOCKET_FAMILY_IPV6 && cidr->family == G_SOCKET_FAMILY_IPV4 &&
      memcmp (bytes, v4_mapped, sizeof (v4_mapped)) == 0) {
    bytes += 12;
    family = G_SOCKET_FAMILY_IPV4;
  }
  if (family != cidr->family)
    return FALSE;
  full = cidr->prefix / 8;
  rest = cidr->prefix % 8;
  if (memcmp (bytes, cidr->bytes, full) != 0)
    return FALSE;
  if (rest) {
    guint8 mask = (guint8) (0xff << (8 - rest));
    if ((bytes[full] & mask) != (cidr->bytes[full] & mask))
      return FALSE;
  }
  return TRUE;
}

GstSipTrunkConfig *
gst_sip_trunk_config_new (const gchar *name)
{
  GstSipTrunkConfig *c = g_new0 (GstSipTrunkConfig, 1);

  c->name = g_strdup (name);
  c->expires = GST_SIP_TRUNK_DEFAULT_EXPIRES;
  c->transport = g_strdup ("udp");
  c->qualify = GST_SIP_TRUNK_DEFAULT_QUALIFY;
  c->register_retry = GST_SIP_TRUNK_DEFAULT_REGISTER_RETRY;
  c->srtp = -1;
  return c;
}

GstSipTrunkConfig *
gst_sip_trunk_config_copy (const GstSipTrunkConfig *config)
{
  GstSipTrunkConfig *c = g_memdup2 (config, sizeof (*config));

  c->name = g_strdup (config->name);
  c->registrar = g_strdup (config->registrar);
  c->proxy = g_strdup (config->proxy);
  c->username = g_strdup (config->username);
  c->password = g_strdup (config->password);
  c->realm = g_strdup (config->realm);
  c->from_user = g_strdup (config->from_user);
  c->from_domain = g_strdup (config->from_domain);
  c->transport = g_strdup (config->transport);
  if (config->allow) {
    c->allow = g_array_sized_new (
        FALSE, FALSE, sizeof (GstSipCidr), config->allow->len);
    g_array_append_vals (c->allow, config->allow->data, config->allow->len);
  }
  return c;
}

void
gst_sip_trunk_config_free (GstSipTrunkConfig *c)
{
  if (c == NULL)
    return;
  g_free (c->name);
  g_free (c->registrar);
  g_free (c->proxy);
  g_free (c->username);
  g_free (c->password);
  g_free (c->realm);
  g_free (c->from_user);
  g_free (c->from_domain);
  g_free (c->transport);
  if (c->allow)
    g_array_unref (c->allow);
  g_free (c);
}

gboolean
gst_sip_trunk_config_allows (
    const GstSipTrunkConfig *config, GInetAddress *address)
{
  guint i;

  for (i = 0; config->allow && i < config->allow->len; i++)
    if (gst_sip_cidr_contains (
            &g_array_index (config->allow, GstSipCidr, i), address))
      return TRUE;
  return FALSE;
}

const gchar *
gst_sip_registration_state_name (GstSipRegistrationState state)
{
  static const gchar *names[] = {
      "none", "registering", "registered", "failed", "unregistered"};

  return state < G_N_ELEMENTS (names) ? names[state] : "?";
}

/* ---------------------------------------------------------------------- */

struct _GstSipTrunk
{
  GstObject parent;

  GstSipEndpoint *endpoint; /* not owned: the endpoint owns us */
  GstSipTrunkConfig *config;
  gchar *aor; /* sip:user@domain, in To and From of REGISTER */
  gchar *registrar; /* with ;transport= when not UDP */
  gchar *route; /* "<next hop;lr>", once it is resolved; object lock */
  gchar *qualify_target;
  gchar *realm; /* of our inbound challenge */
  guint8 nonce_key[32];

  /* endpoint thread */
  nua_t *nua;
  nua_handle_t *register_nh;
  gboolean credentials_sent; /* for the challenge being answered */
  guint retry_seconds; /* the back-off of the next failure */
  GSource *retry_timer;
  nua_handle_t *qualify_nh;
  GSource *qualify_timer;
  GSource *qualify_timeout;
  gboolean qualified; /* a probe has had its answer once */
  GPtrArray *peers; /* (element-type GInetAddress) registrar's, proxy's */
  GCancellable *resolving;
  /* where our requests go: the proxy's (else the registrar's) address as
   * we resolved it, "sip:192.0.2.5:5060;transport=udp"; NULL until then */
  gchar *next_hop;
  gboolean resolving_hop;
  gboolean register_after_hop; /* a REGISTER waits for the next hop */

  /* GST_OBJECT_LOCK: read from any thread */
  GstSipRegistrationState registration;
  gboolean up;
};

enum
{
  SIGNAL_REGISTRATION_STATE,
  SIGNAL_QUALIFY_STATE,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (GstSipTrunk, gst_sip_trunk, GST_TYPE_OBJECT);

static void
gst_sip_trunk_finalize (GObject *object)
{
  GstSipTrunk *self = GST_SIP_TRUNK (object);

  g_assert (self->register_nh == NULL && self->qualify_nh == NULL);
  gst_sip_trunk_config_free (self->config);
  g_free (self->aor);
  g_free (self->registrar);
  g_free (self->route);
  g_free (self->qualify_target);
  g_free (self->next_hop);
  g_free (self->realm);
  g_ptr_array_unref (self->peers);
  G_OBJECT_CLASS (gst_sip_trunk_parent_class)->finalize (object);
}

static void
gst_sip_trunk_class_init (GstSipTrunkClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);

  gobject_class->finalize = gst_sip_trunk_finalize;

  signals[SIGNAL_REGISTRATION_STATE] = g_signal_new ("registration-state",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 4, G_TYPE_INT, G_TYPE_INT, G_TYPE_STRING, G_TYPE_UINT);
  signals[SIGNAL_QUALIFY_STATE] = g_signal_new ("qualify-state",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 3, G_TYPE_BOOLEAN, G_TYPE_INT, G_TYPE_STRING);

  GST_DEBUG_CATEGORY_INIT (gst_sip_trunk_debug, "siptrunk", 0,
      "SIP trunk: registration, qualify, inbound policy");
}

static void
gst_sip_trunk_init (GstSipTrunk *self)
{
  self->peers = g_ptr_array_new_with_free_func (g_object_unref);
  self->up = TRUE;
}

/* The host of a sip: URI, without brackets, or NULL */
static gchar *
uri_host (const gchar *uri)
{
  su_home_t home[1] = {SU_HOME_INIT (home)};
  url_t *url = uri ? url_make (home, uri) : NULL;
  gchar *host = NULL;

  if (url && url->url_host) {
    const gchar *h = url->url_host;
    gsize len = strlen (h);

    if (h[0] == '[' && len > 2)
      host = g_strndup (h + 1, len - 2);
    else
      host = g_strdup (h);
  }
  su_home_deinit (home);
  return host;
}

/* "sip:host" + ";transport=tcp" unless the URI has one */
static gchar *
with_transport (const gchar *uri, const gchar *transport)
{
  if (g_strcmp0 (transport, "udp") == 0 || strstr (uri, "transport="))
    return g_strdup (uri);
  return g_strdup_printf ("%s;transport=%s", uri, transport);
}

GstSipTrunk *
gst_sip_trunk_new (GstSipEndpoint *endpoint, const GstSipTrunkConfig *config)
{
  GstSipTrunk *self = g_object_new (GST_TYPE_SIP_TRUNK, NULL);
  const GstSipTrunkConfig *c;
  const gchar *user, *target;
  gchar *domain;

  gst_object_ref_sink (self);
  gst_object_set_name (GST_OBJECT (self), config->name);
  self->endpoint = endpoint;
  self->config = gst_sip_trunk_config_copy (config);
  c = self->config;
  self->retry_seconds = c->register_retry;

  user = c->from_user ? c->from_user : c->username;
  target = c->registrar ? c->registrar : c->proxy;
  domain = c->from_domain ? g_strdup (c->from_domain) : uri_host (target);
  if (user && domain)
    self->aor =
        g_strdup_printf ("sip:%s@%s%s%s", user, strchr (domain, ':') ? "[" : "",
            domain, strchr (domain, ':') ? "]" : "");
  g_free (domain);
  if (c->registrar)
    self->registrar = with_transport (c->registrar, c->transport);
  if (target && c->qualify > 0)
    self->qualify_target = with_transport (target, c->transport);
  self->realm =
      g_strdup (c->realm ? c->realm : gst_sip_endpoint_get_host (endpoint));
  for (guint i = 0; i < G_N_ELEMENTS (self->nonce_key); i += 4) {
    guint32 r = g_random_int ();
    memcpy (self->nonce_key + i, &r, 4);
  }

  gst_sip_endpoint_add_trunk (endpoint, self);
  return self;
}

const GstSipTrunkConfig *
gst_sip_trunk_get_config (GstSipTrunk *self)
{
  return self->config;
}

GstSipRegistrationState
gst_sip_trunk_get_registration_state (GstSipTrunk *self)
{
  GstSipRegistrationState state;

  GST_OBJECT_LOCK (self);
  state = self->registration;
  GST_OBJECT_UNLOCK (self);
  return state;
}

gboolean
gst_sip_trunk_is_up (GstSipTrunk *self)
{
  gboolean up;

  GST_OBJECT_LOCK (self);
  up = self->up;
  GST_OBJECT_UNLOCK (self);
  return up;
}

static void
clear_source (GSource **source)
{
  if (*source) {
    g_source_destroy (*source);
    g_source_unref (*source);
    *source = NULL;
  }
}

/* ---------------------------------------------------------------------- */
/* registration */

static void
set_registration (GstSipTrunk *self, GstSipRegistrationState state, gint status,
    const gchar *phrase, guint retry)
{
  GstSipRegistrationState old;

  GST_OBJECT_LOCK (self);
  old = self->registration;
  self->registration = state;
  GST_OBJECT_UNLOCK (self);
  if (old == state && state != GST_SIP_REGISTRATION_FAILED)
    return;
  if (state == GST_SIP_REGISTRATION_FAILED)
    GST_WARNING_OBJECT (self, "registration at %s failed: %d %s; retry in %u s",
        self->registrar, status, phrase ? phrase : "", retry);
  else
    GST_INFO_OBJECT (self, "registration at %s: %s (%d %s)", self->registrar,
        gst_sip_registration_state_name (state), status, phrase ? phrase : "");
  g_signal_emit (self, signals[SIGNAL_REGISTRATION_STATE], 0, (gint) state,
      status, phrase, retry);
}

static gboolean send_register (gpointer data);
static gboolean retry_register (gpointer data);

static void
forget_register_handle (GstSipTrunk *self)
{
  if (self->register_nh) {
    nua_handle_bind (self->register_nh, NULL);
    nua_handle_destroy (self->register_nh);
    self->register_nh = NULL;
  }
}

static void
schedule_retry (
    GstSipTrunk *self, gint status, const gchar *phrase, guint retry_after)
{
  guint wait = MAX (self->retry_seconds, retry_after);

  forget_register_handle (self);
  clear_source (&self->retry_timer);
  self->retry_timer = gst_sip_endpoint_add_timeout (
      self->endpoint, wait * 1000, retry_register, self, NULL);
  self->retry_seconds =
      MIN (self->retry_seconds * 2, GST_SIP_TRUNK_MAX_REGISTER_RETRY);
  set_registration (self, GST_SIP_REGISTRATION_FAILED, status, phrase, wait);
}

static gboolean
send_register (gpointer data)
{
  GstSipTrunk *self = data;
  gchar *expires;

  clear_source (&self->retry_timer);
  if (self->nua == NULL)
    return G_SOURCE_REMOVE;
  forget_register_handle (self);
  self->credentials_sent = FALSE;
  if (self->next_hop == NULL) {
    self->register_after_hop = TRUE;
    return G_SOURCE_REMOVE;
  }
  self->register_nh = nua_handle (self->nua, (nua_hmagic_t *) self,
      SIPTAG_TO_STR (self->aor), SIPTAG_FROM_STR (self->aor),
      NUTAG_INITIAL_ROUTE_STR (self->route), TAG_END ());
  expires = g_strdup_printf ("%u", self->config->expires);
  /* The outbound options would add OPTIONS keepalives, STUN-like contact
   * checks and +sip.instance: plain RFC 3261 registration is what trunks
   * expect; qualify does the keepalive. */
  nua_register (self->register_nh, NUTAG_REGISTRAR (self->registrar),
      NUTAG_M_USERNAME (self->config->username), SIPTAG_EXPIRES_STR (expires),
      NUTAG_OUTBOUND ("no-options-keepalive, no-validate, no-natify"),
      NUTAG_KEEPALIVE (0), TAG_END ());
  g_free (expires);
  set_registration (self, GST_SIP_REGISTRATION_REGISTERING, 0, NULL, 0);
  return G_SOURCE_REMOVE;
}

/* The realm and whether MD5 is offered, of the first Digest challenge we
 * can answer; NULL realm when there is none. */
static gchar *
digest_challenge_realm (
    const sip_t *sip, gint status, gboolean *stale, gchar **algorithm)
{
  const msg_auth_t *au =
      status == 407 ? sip->sip_proxy_authenticate : sip->sip_www_authenticate;
  su_home_t home[1] = {SU_HOME_INIT (home)};
  gchar *realm = NULL;

  *stale = FALSE;
  *algorithm = NULL;
  for (; au; au = au->au_next) {
    auth_challenge_t ac[1] = {{sizeof (ac)}};

    if (au->au_scheme == NULL || g_ascii_strcasecmp (au->au_scheme, "Digest"))
      continue;
    if (auth_digest_challenge_get (home, ac, au->au_params) < 0)
      continue;
    if (!ac->ac_md5) {
      if (*algorithm == NULL && ac->ac_algorithm)
        *algorithm = g_strdup (ac->ac_algorithm);
      continue;
    }
    realm = g_strdup (ac->ac_realm ? ac->ac_realm : "");
    *stale = ac->ac_stale;
    break;
  }
  su_home_deinit (home);
  return realm;
}

static void
authenticate (GstSipTrunk *self, nua_handle_t *nh, const gchar *realm)
{
  /* sofia-sip splits "scheme:"realm":user:password" at the first ':' after
   * the quoted realm and the user: the password is the rest */
  gchar *credentials = g_strdup_printf ("Digest:\"%s\":%s:%s", realm,
      self->config->username, self->config->password);

  nua_authenticate (nh, NUTAG_AUTH (credentials), TAG_END ());
  g_free (credentials);
}

gboolean
gst_sip_trunk_answer_challenge (
    GstSipTrunk *self, nua_handle_t *nh, gint status, const sip_t *sip)
{
  const GstSipTrunkConfig *c = self->config;
  gboolean stale, ok = FALSE;
  gchar *algorithm = NULL, *realm;

  if (c->username == NULL || c->password == NULL || nh == NULL)
    return FALSE;
  realm = digest_challenge_realm (sip, status, &stale, &algorithm);
  if (realm == NULL)
    GST_WARNING_OBJECT (self, "cannot answer a %d: %s", status,
        algorithm ? "only a digest algorithm other than MD5 is offered"
                  : "no Digest challenge");
  else if (c->realm && g_strcmp0 (c->realm, realm) != 0)
    GST_WARNING_OBJECT (
        self, "challenged for realm \"%s\", not \"%s\"", realm, c->realm);
  else
    ok = TRUE;
  if (ok)
    authenticate (self, nh, realm);
  g_free (realm);
  g_free (algorithm);
  return ok;
}

gboolean
gst_sip_trunk_outbound (GstSipTrunk *self, const gchar *number,
    const gchar *caller_id, gchar **request_uri, gchar **from, gchar **route,
    GError **error)
{
  const GstSipTrunkConfig *c = self->config;
  const gchar *target = c->proxy ? c->proxy : c->registrar;
  su_home_t home[1] = {SU_HOME_INIT (home)};
  url_t *url;
  gchar *domain, *carrier;
  const gchar *user;

  GST_OBJECT_LOCK (self);
  *route = g_strdup (self->route);
  GST_OBJECT_UNLOCK (self);
  if (*route == NULL) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_WRITE,
        "trunk %s has no address to send to yet (%s)", c->name,
        target ? "its proxy or registrar is not resolved"
               : "it has no proxy or registrar");
    return FALSE;
  }
  /* the carrier's domain, as the registrar (else the proxy) names it */
  url = url_make (home, c->registrar ? c->registrar : c->proxy);
  carrier = g_strdup_printf ("%s%s%s", url->url_host, url->url_port ? ":" : "",
      url->url_port ? url->url_port : "");
  su_home_deinit (home);
  domain = c->from_domain ? g_strdup (c->from_domain) : g_strdup (carrier);
  user = c->from_user ? c->from_user : caller_id ? caller_id : c->username;
  *request_uri = g_strdup_printf ("sip:%s@%s", number, carrier);
  *from = g_strdup_printf ("<sip:%s@%s>", user ? user : "anonymous", domain);
  g_free (carrier);
  g_free (domain);
  return TRUE;
}

static guint
retry_after_of (const sip_t *sip)
{
  return sip && sip->sip_retry_after ? sip->sip_retry_after->af_delta : 0;
}

static void
handle_register_response (
    GstSipTrunk *self, gint status, const gchar *phrase, const sip_t *sip)
{
  const GstSipTrunkConfig *c = self->config;

  if (status < 200)
    return;
  if (status < 300) {
    self->retry_seconds = c->register_retry;
    self->credentials_sent = FALSE;
    set_registration (self, GST_SIP_REGISTRATION_REGISTERED, status, phrase, 0);
    return;
  }
  if ((status == 401 || status == 407) && sip) {
    gboolean stale;
    gchar *algorithm, *realm;

    realm = digest_challenge_realm (sip, status, &stale, &algorithm);
    if (realm == NULL) {
      gchar *why = algorithm
          ? g_strdup_printf ("registrar asks for %s digest only, "
                             "which is not supported (MD5 is)",
                algorithm)
          : g_strdup ("no Digest challenge in the response");
      schedule_retry (self, status, why, 0);
      g_free (why);
      g_free (algorithm);
      return;
    }
    g_free (algorithm);
    if (c->username == NULL || c->password == NULL) {
      schedule_retry (self, status,
          "the registrar asks for credentials and "
          "the trunk has no username/password",
          0);
    } else if (c->realm && g_strcmp0 (c->realm, realm) != 0) {
      gchar *why = g_strdup_printf (
          "the registrar's realm is \"%s\", the trunk's realm \"%s\"", realm,
          c->realm);
      schedule_retry (self, status, why, 0);
      g_free (why);
    } else if (self->credentials_sent && !stale) {
      /* the same credentials again would fail again: wait and back off */
      schedule_retry (self, status,
          "credentials rejected (wrong username or "
          "password?)",
          0);
    } else {
      self->credentials_sent = TRUE;
      authenticate (self, self->register_nh, realm);
    }
    g_free (realm);
    return;
  }
  schedule_retry (self, status, phrase, retry_after_of (sip));
}

/* ---------------------------------------------------------------------- */
/* the next hop
 *
 * We resolve the proxy's (else the registrar's) host ourselves, with
 * GResolver: RFC 3263 SRV (_sip._udp, _sip._tcp, _sips._tcp) when the URI
 * has no port,
 * else A/AAAA, and give sofia-sip the address as a loose route (a Route
 * header, RFC 3261 16.12) while the Request-URI keeps the name. sofia-sip 1.12.11's own resolver spins at
 * 100% CPU on the SIP thread, answering nothing, when the name server is
 * unreachable (connect() fails with ENETUNREACH, and it retries at once,
 * forever): a network that is not up yet at boot would take every call
 * down with it. */

typedef struct
{
  GstSipTrunk *trunk;
  gchar *host; /* the name to resolve */
  guint port;
} HopLookup;

static void
hop_lookup_free (HopLookup *h)
{
  gst_object_unref (h->trunk);
  g_free (h->host);
  g_free (h);
}

static void
add_peer (GstSipTrunk *self, GInetAddress *address)
{
  for (guint i = 0; i < self->peers->len; i++)
    if (g_inet_address_equal (g_ptr_array_index (self->peers, i), address))
      return;
  g_ptr_array_add (self->peers, g_object_ref (address));
}

static void set_up (
    GstSipTrunk *self, gboolean up, gint status, const gchar *phrase);
static gboolean send_probe (gpointer data);

static void
next_hop_ready (GstSipTrunk *self, const gchar *error)
{
  self->resolving_hop = FALSE;
  if (error) {
    GST_WARNING_OBJECT (self, "%s", error);
    if (self->registrar && self->register_after_hop) {
      self->register_after_hop = FALSE;
      schedule_retry (self, 0, error, 0);
    }
    if (self->qualify_target)
      set_up (self, FALSE, 0, error);
    return;
  }
  GST_INFO_OBJECT (self, "requests go to %s", self->next_hop);
  if (self->register_after_hop) {
    self->register_after_hop = FALSE;
    send_register (self);
  }
  if (self->qualify_target && self->qualify_nh == NULL)
    send_probe (self);
}

static void
hop_addresses (GObject *source, GAsyncResult *result, gpointer data)
{
  HopLookup *h = data;
  GstSipTrunk *self = h->trunk;
  GError *err = NULL;
  GList *addresses, *l;
  GInetAddress *chosen = NULL;

  addresses =
      g_resolver_lookup_by_name_finish (G_RESOLVER (source), result, &err);
  if (self->nua == NULL) {
    /* detached */
  } else if (addresses == NULL) {
    /* GLib's message repeats the name in quotes: keep the reason */
    const gchar *reason = err ? strrchr (err->message, ':') : NULL;
    gchar *why = g_strdup_printf ("cannot resolve %s: %s", h->host,
        reason    ? reason + 2
            : err ? err->message
                  : "no address");
    next_hop_ready (self, why);
    g_free (why);
  } else {
    GSocketFamily family = gst_sip_endpoint_is_ipv6 (self->endpoint)
        ? G_SOCKET_FAMILY_IPV6
        : G_SOCKET_FAMILY_IPV4;

    /* the first address our socket can reach; every one is a peer */
    for (l = addresses; l; l = l->next) {
      add_peer (self, l->data);
      if (chosen == NULL && g_inet_address_get_family (l->data) == family)
        chosen = l->data;
    }
    if (chosen == NULL) {
      gchar *why = g_strdup_printf ("%s has no IPv%c address", h->host,
          family == G_SOCKET_FAMILY_IPV6 ? '6' : '4');
      next_hop_ready (self, why);
      g_free (why);
    } else {
      gchar *ip = g_inet_address_to_string (chosen);

      g_free (self->next_hop);
      self->next_hop = g_strdup_printf ("sip:%s%s%s:%u;transport=%s",
          family == G_SOCKET_FAMILY_IPV6 ? "[" : "", ip,
          family == G_SOCKET_FAMILY_IPV6 ? "]" : "", h->port,
          self->config->transport);
      g_free (ip);
      GST_OBJECT_LOCK (self);
      g_free (self->route);
      self->route = g_strdup_printf ("<%s;lr>", self->next_hop);
      GST_OBJECT_UNLOCK (self);
      next_hop_ready (self, NULL);
    }
  }
  g_clear_error (&err);
  if (addresses)
    g_resolver_free_addresses (addresses);
  hop_lookup_free (h);
}

static void
lookup_addresses (HopLookup *h)
{
  GResolver *resolver = g_resolver_get_default ();

  g_resolver_lookup_by_name_async (
      resolver, h->host, h->trunk->resolving, hop_addresses, h);
  g_object_unref (resolver);
}

static void
hop_service (GObject *source, GAsyncResult *result, gpointer data)
{
  HopLookup *h = data;
  GList *targets;

  targets =
      g_resolver_lookup_service_finish (G_RESOLVER (source), result, NULL);
  if (h->trunk->nua == NULL) {
    g_resolver_free_targets (targets);
    hop_lookup_free (h);
    return;
  }
  if (targets) {
    /* GResolver sorts them by priority and weight (RFC 2782) */
    GSrvTarget *first = targets->data;

    GST_DEBUG_OBJECT (h->trunk, "SRV %s -> %s:%u", h->host,
        g_srv_target_get_hostname (first), g_srv_target_get_port (first));
    g_free (h->host);
    h->host = g_strdup (g_srv_target_get_hostname (first));
    h->port = g_srv_target_get_port (first);
    g_resolver_free_targets (targets);
  }
  lookup_addresses (h);
}

static void
resolve_next_hop (GstSipTrunk *self)
{
  const gchar *target =
      self->config->proxy ? self->config->proxy : self->config->registrar;
  su_home_t home[1] = {SU_HOME_INIT (home)};
  url_t *url = target ? url_make (home, target) : NULL;
  HopLookup *h;
  const gchar *transport = self->config->transport;

  if (url == NULL || url->url_host == NULL) {
    su_home_deinit (home);
    return;
  }
  self->resolving_hop = TRUE;
  if (self->resolving == NULL)
    self->resolving = g_cancellable_new ();
  h = g_new0 (HopLookup, 1);
  h->trunk = gst_object_ref (self);
  h->host = uri_host (target);
  h->port = url->url_port              ? (guint) atoi (url->url_port)
      : strcmp (transport, "tls") == 0 ? 5061
                                       : 5060;
  if (url->url_port || g_hostname_is_ip_address (h->host)) {
    lookup_addresses (h);
  } else {
    GResolver *resolver = g_resolver_get_default ();

    /* RFC 3263 4.1: _sips._tcp for TLS */
    g_resolver_lookup_service_async (resolver,
        strcmp (transport, "tls") == 0 ? "sips" : "sip",
        strcmp (transport, "udp") == 0 ? "udp" : "tcp", h->host,
        self->resolving, hop_service, h);
    g_object_unref (resolver);
  }
  su_home_deinit (home);
}

/* After a failure: resolve again (the carrier may have moved), then
 * REGISTER. */
static gboolean
retry_register (gpointer data)
{
  GstSipTrunk *self = data;

  clear_source (&self->retry_timer);
  if (self->nua == NULL)
    return G_SOURCE_REMOVE;
  forget_register_handle (self);
  self->register_after_hop = TRUE;
  set_registration (self, GST_SIP_REGISTRATION_REGISTERING, 0, NULL, 0);
  if (!self->resolving_hop)
    resolve_next_hop (self);
  return G_SOURCE_REMOVE;
}

/* ---------------------------------------------------------------------- */
/* qualify */

static void
set_up (GstSipTrunk *self, gboolean up, gint status, const gchar *phrase)
{
  gboolean was_up, first = !self->qualified;

  self->qualified = TRUE;
  GST_OBJECT_LOCK (self);
  was_up = self->up;
  self->up = up;
  GST_OBJECT_UNLOCK (self);
  if (was_up == up && !first)
    return;
  if (up)
    GST_INFO_OBJECT (self, "trunk %s is up (%d %s)", self->qualify_target,
        status, phrase ? phrase : "");
  else
    GST_WARNING_OBJECT (self, "trunk %s is down (%d %s)", self->qualify_target,
        status, phrase ? phrase : "");
  g_signal_emit (self, signals[SIGNAL_QUALIFY_STATE], 0, up, status, phrase);

  /* Back from down: a registrar that restarted has forgotten us, and the
   * back-off may still have long to run. */
  if (up && !was_up && self->registrar &&
      gst_sip_trunk_get_registration_state (self) !=
          GST_SIP_REGISTRATION_REGISTERING) {
    self->retry_seconds = self->config->register_retry;
    send_register (self);
  }
}

static void
end_probe (GstSipTrunk *self)
{
  clear_source (&self->qualify_timeout);
  if (self->qualify_nh) {
    nua_handle_bind (self->qualify_nh, NULL);
    nua_handle_destroy (self->qualify_nh);
    self->qualify_nh = NULL;
  }
}

static gboolean
probe_timed_out (gpointer data)
{
  GstSipTrunk *self = data;

  end_probe (self);
  set_up (self, FALSE, 408, "no answer to OPTIONS");
  return G_SOURCE_REMOVE;
}

static gboolean
send_probe (gpointer data)
{
  GstSipTrunk *self = data;

  if (self->nua == NULL || self->qualify_nh)
    return G_SOURCE_CONTINUE;
  if (self->next_hop == NULL) {
    if (!self->resolving_hop)
      resolve_next_hop (self);
    return G_SOURCE_CONTINUE;
  }
  self->qualify_nh = nua_handle (self->nua, (nua_hmagic_t *) self,
      NUTAG_URL (self->qualify_target), SIPTAG_TO_STR (self->qualify_target),
      NUTAG_INITIAL_ROUTE_STR (self->route),
      TAG_IF (self->aor, SIPTAG_FROM_STR (self->aor)), TAG_END ());
  nua_options (self->qualify_nh, TAG_END ());
  self->qualify_timeout = gst_sip_endpoint_add_timeout (self->endpoint,
      MIN (QUALIFY_TIMEOUT_MS, self->config->qualify * 1000), probe_timed_out,
      self, NULL);
  return G_SOURCE_CONTINUE;
}

static void
handle_probe_response (GstSipTrunk *self, gint status, const gchar *phrase)
{
  if (status < 200)
    return;
  end_probe (self);
  /* Any answer shows the peer is there (a 404 or 405 too); 408 and 503
   * are what our own stack reports for no answer or a transport error. */
  set_up (self, status != 408 && status != 503, status, phrase);
}

/* ---------------------------------------------------------------------- */
/* inbound policy */

static void
resolved (GObject *source, GAsyncResult *result, gpointer data)
{
  GstSipTrunk *self = data;
  GList *addresses, *l;
  GError *error = NULL;

  addresses =
      g_resolver_lookup_by_name_finish (G_RESOLVER (source), result, &error);
  if (addresses == NULL) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      GST_WARNING_OBJECT (
          self, "cannot resolve the trunk's hosts: %s", error->message);
    g_error_free (error);
  } else {
    for (l = addresses; l; l = l->next)
      add_peer (self, l->data);
    g_resolver_free_addresses (addresses);
  }
  gst_object_unref (self);
}

/* Requests on a trunk with no allow list are taken from its registrar
 * and proxy, the hosts the carrier delivers our calls from. */
static void
resolve_peers (GstSipTrunk *self)
{
  const gchar *uris[] = {self->config->registrar, self->config->proxy};
  GResolver *resolver = g_resolver_get_default ();

  for (guint i = 0; i < G_N_ELEMENTS (uris); i++) {
    gchar *host = uri_host (uris[i]);

    if (host)
      g_resolver_lookup_by_name_async (
          resolver, host, self->resolving, resolved, gst_object_ref (self));
    g_free (host);
  }
  g_object_unref (resolver);
}

static gboolean
is_peer (GstSipTrunk *self, GInetAddress *source)
{
  for (guint i = 0; i < self->peers->len; i++) {
    GInetAddress *peer = g_ptr_array_index (self->peers, i);
    GstSipCidr cidr;
    gchar *s = g_inet_address_to_string (peer);
    gboolean ok = gst_sip_cidr_parse (s, &cidr);

    g_free (s);
    if (ok && gst_sip_cidr_contains (&cidr, source))
      return TRUE;
  }
  return FALSE;
}

/* nonce = "<unix time hex>.<hex HMAC-SHA256 of it>": checked without
 * remembering anything */
static gchar *
make_nonce (GstSipTrunk *self, gint64 now)
{
  gchar *stamp = g_strdup_printf ("%" G_GINT64_MODIFIER "x", now);
  gchar *mac = g_compute_hmac_for_string (
      G_CHECKSUM_SHA256, self->nonce_key, sizeof (self->nonce_key), stamp, -1);
  gchar *nonce = g_strdup_printf ("%s.%s", stamp, mac);

  g_free (stamp);
  g_free (mac);
  return nonce;
}

/* 1: good, 0: bad, -1: good but too old (stale) */
static gint
check_nonce (GstSipTrunk *self, const gchar *nonce)
{
  const gchar *dot = nonce ? strchr (nonce, '.') : NULL;
  gchar *end, *expected;
  gint64 stamp, now = g_get_real_time () / G_USEC_PER_SEC;
  gint ok;

  if (dot == NULL)
    return 0;
  stamp = g_ascii_strtoll (nonce, &end, 16);
  if (end != dot)
    return 0;
  expected = make_nonce (self, stamp);
  ok = strcmp (expected, nonce) == 0;
  g_free (expected);
  if (!ok)
    return 0;
  return (now - stamp > NONCE_LIFETIME_S || stamp > now + 5) ? -1 : 1;
}

/* TRUE when @sip carries our trunk's valid credentials; *stale when they
 * were good but for an expired nonce */
static gboolean
check_credentials (
    GstSipTrunk *self, const gchar *method, const sip_t *sip, gboolean *stale)
{
  const GstSipTrunkConfig *c = self->config;
  const msg_auth_t *au;
  su_home_t home[1] = {SU_HOME_INIT (home)};
  gboolean ok = FALSE;

  *stale = FALSE;
  for (au = sip->sip_authorization; au && !ok; au = au->au_next) {
    auth_response_t ar[1] = {{sizeof (ar)}};
    auth_hexmd5_t ha1, response;
    gint nonce;

    if (au->au_scheme == NULL || g_ascii_strcasecmp (au->au_scheme, "Digest"))
      continue;
    if (auth_digest_response_get (home, ar, au->au_params) < 0 ||
        ar->ar_username == NULL || ar->ar_realm == NULL ||
        ar->ar_response == NULL || ar->ar_uri == NULL ||
        (ar->ar_algorithm && !ar->ar_md5))
      continue;
    if (g_strcmp0 (ar->ar_username, c->username) != 0 ||
        g_strcmp0 (ar->ar_realm, self->realm) != 0)
      continue;
    nonce = check_nonce (self, ar->ar_nonce);
    if (nonce == 0)
      continue;
    if (auth_digest_a1 (ar, ha1, c->password) < 0 ||
        auth_digest_response (ar, response, ha1, method, NULL, 0) < 0 ||
        g_ascii_strcasecmp (response, ar->ar_response) != 0)
      continue;
    if (nonce < 0)
      *stale = TRUE;
    else
      ok = TRUE;
  }
  su_home_deinit (home);
  return ok;
}

GstSipTrunkVerdict
gst_sip_trunk_check_request (GstSipTrunk *self, const gchar *method,
    const sip_t *sip, GInetAddress *source)
{
  const GstSipTrunkConfig *c = self->config;
  gboolean stale;

  if (c->allow)
    return gst_sip_trunk_config_allows (c, source) ? GST_SIP_TRUNK_ACCEPT
                                                   : GST_SIP_TRUNK_NOT_MINE;
  if (c->registrar || c->proxy)
    return is_peer (self, source) ? GST_SIP_TRUNK_ACCEPT
                                  : GST_SIP_TRUNK_NOT_MINE;
  if (c->username && c->password) {
    if (check_credentials (self, method, sip, &stale))
      return GST_SIP_TRUNK_ACCEPT;
    return GST_SIP_TRUNK_CHALLENGE;
  }
  /* no allow, no registrar, no credentials: documented as open */
  return GST_SIP_TRUNK_ACCEPT;
}

void
gst_sip_trunk_challenge (GstSipTrunk *self, nua_handle_t *nh, gboolean stale)
{
  gchar *nonce = make_nonce (self, g_get_real_time () / G_USEC_PER_SEC);
  gchar *challenge = g_strdup_printf (
      "Digest realm=\"%s\", nonce=\"%s\", algorithm=MD5, qop=\"auth\"%s",
      self->realm, nonce, stale ? ", stale=true" : "");

  nua_respond (nh, SIP_401_UNAUTHORIZED, NUTAG_WITH_THIS (self->nua),
      SIPTAG_WWW_AUTHENTICATE_STR (challenge), TAG_END ());
  g_free (challenge);
  g_free (nonce);
}

/* ---------------------------------------------------------------------- */

void
gst_sip_trunk_start (GstSipTrunk *self, nua_t *nua)
{
  self->nua = nua;
  self->resolving = g_cancellable_new ();
  if (!self->config->allow && (self->config->registrar || self->config->proxy))
    resolve_peers (self);
  if (self->registrar) {
    if (self->aor == NULL) {
      GST_WARNING_OBJECT (self, "no username: cannot register");
    } else {
      self->register_after_hop = TRUE;
      set_registration (self, GST_SIP_REGISTRATION_REGISTERING, 0, NULL, 0);
    }
  }
  if (self->config->registrar || self->config->proxy)
    resolve_next_hop (self);
  if (self->qualify_target) {
    self->qualify_timer = g_timeout_source_new_seconds (self->config->qualify);
    g_source_set_callback (self->qualify_timer, send_probe, self, NULL);
    g_source_attach (self->qualify_timer, g_main_context_get_thread_default ());
    send_probe (self);
  }
}

gboolean
gst_sip_trunk_owns_handle (GstSipTrunk *self, nua_handle_t *nh)
{
  return nh != NULL && (nh == self->register_nh || nh == self->qualify_nh);
}

void
gst_sip_trunk_handle_event (GstSipTrunk *self, gint event, gint status,
    const gchar *phrase, nua_handle_t *nh, const sip_t *sip)
{
  GST_LOG_OBJECT (
      self, "%s %d %s", nua_event_name (event), status, phrase ? phrase : "");
  switch (event) {
    case nua_r_register:
      if (nh == self->register_nh)
        handle_register_response (self, status, phrase, sip);
      break;
    case nua_r_unregister:
      if (nh == self->register_nh && status >= 200)
        set_registration (
            self, GST_SIP_REGISTRATION_UNREGISTERED, status, phrase, 0);
      break;
    case nua_r_options:
      if (nh == self->qualify_nh)
        handle_probe_response (self, status, phrase);
      break;
    default:
      break;
  }
}

void
gst_sip_trunk_detach (GstSipTrunk *self)
{
  clear_source (&self->retry_timer);
  clear_source (&self->qualify_timer);
  clear_source (&self->qualify_timeout);
  if (self->resolving) {
    g_cancellable_cancel (self->resolving);
    g_clear_object (&self->resolving);
  }
  /* NUA frees its handles with itself */
  self->register_nh = NULL;
  self->qualify_nh = NULL;
  self->nua = NULL;
}
