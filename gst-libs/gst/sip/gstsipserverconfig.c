/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/sip/gstsipserverconfig.h>
#include <gst/sip/gstsipsdp.h>
#include "gstsipkeyfile.h"

#include <gio/gio.h>
#include <stdlib.h>
#include <string.h>

static const gchar *server_keys[] = {"listen", "records", "max-calls", "launch",
    "default-office", "drain-timeout", "retry-after", "rtp-port-min",
    "rtp-port-max", "media-address", "record-audio", "stt-preload",
    "media-timeout", "session-expires", "external-address", "tls-port",
    "tls-dir", "tls-verify", "srtp", NULL};
static const gchar *office_keys[] = {"did", "script", "voice", "tts",
    "language", "transfer", "transfer-mode", "record-audio", "trunk", NULL};
static const gchar *trunk_keys[] = {"registrar", "proxy", "username",
    "password", "realm", "from-user", "from-domain", "allow", "expires",
    "transport", "qualify", "register-retry", "srtp", NULL};
static const gchar *record_audio_values[] = {"off", "wav", "ogg", NULL};

static void
office_free (gpointer data)
{
  GstSipOfficeConfig *o = data;

  g_free (o->name);
  g_strfreev (o->dids);
  g_free (o->script);
  g_free (o->voice);
  g_free (o->tts_backend);
  g_free (o->language);
  g_free (o->transfer);
  g_free (o->record_audio);
  g_free (o->trunk);
  g_free (o);
}

GstSipServerConfig *
gst_sip_server_config_ref (GstSipServerConfig *config)
{
  g_atomic_int_inc (&config->refcount);
  return config;
}

void
gst_sip_server_config_unref (GstSipServerConfig *config)
{
  if (config == NULL || !g_atomic_int_dec_and_test (&config->refcount))
    return;
  g_free (config->filename);
  g_free (config->listen);
  g_free (config->records);
  g_free (config->launch);
  g_free (config->default_office);
  g_free (config->media_address);
  g_free (config->external_address);
  g_free (config->tls_dir);
  g_free (config->record_audio);
  g_ptr_array_unref (config->offices);
  g_ptr_array_unref (config->trunks);
  g_free (config);
}

typedef struct
{
  GstSipKeyFile *keys;
  GstSipServerConfig *config;
  gchar *dir; /* where relative paths start */
  GHashTable *dids; /* digits -> line */
  GError **error;
} Loader;

/* FALSE, with @ld's error set to "FILE:LINE: message" */
#define fail(ld, line, ...) \
  gst_sip_key_file_fail ((ld)->keys, (ld)->error, (line), __VA_ARGS__)

static guint
line_of (Loader *ld, const gchar *group, const gchar *key)
{
  return gst_sip_key_file_line (ld->keys, group, key);
}

static gboolean
check_keys (Loader *ld, const gchar *group, const gchar **known)
{
  GstSipKeyGroup *g = gst_sip_key_file_get_group (ld->keys, group);
  guint i;

  for (i = 0; i < g->key_order->len; i++) {
    const gchar *key = g_ptr_array_index (g->key_order, i);

    if (!g_strv_contains (known, key)) {
      gchar *list = g_strjoinv (", ", (gchar **) known);
      gboolean ok = fail (ld, line_of (ld, group, key),
          "unknown key \"%s\" in [%s] (known: %s)", key, group, list);
      g_free (list);
      return ok;
    }
  }
  return TRUE;
}

/* NULL when absent; an empty value is an error */
static gboolean
get_string (Loader *ld, const gchar *group, const gchar *key, gchar **out)
{
  gchar *v = g_key_file_get_string (ld->keys->kf, group, key, NULL);

  *out = NULL;
  if (v == NULL)
    return TRUE;
  g_strstrip (v);
  if (*v == '\0') {
    g_free (v);
    return fail (ld, line_of (ld, group, key), "%s needs a value", key);
  }
  *out = v;
  return TRUE;
}

static gboolean
get_uint (Loader *ld, const gchar *group, const gchar *key, guint min,
    guint max, guint *out)
{
  gchar *v, *end;
  guint64 n;

  if (!get_string (ld, group, key, &v))
    return FALSE;
  if (v == NULL)
    return TRUE;
  n = g_ascii_strtoull (v, &end, 10);
  if (*end != '\0' || end == v || n < min || n > max) {
    fail (ld, line_of (ld, group, key),
        "%s must be a whole number from %u to %u, not \"%s\"", key, min, max,
        v);
    g_free (v);
    return FALSE;
  }
  g_free (v);
  *out = (guint) n;
  return TRUE;
}

/* true or false; @out keeps its value when the key is absent */
static gboolean
get_boolean (Loader *ld, const gchar *group, const gchar *key, gboolean *out)
{
  gchar *v;

  if (!get_string (ld, group, key, &v))
    return FALSE;
  if (v == NULL)
    return TRUE;
  if (strcmp (v, "true") != 0 && strcmp (v, "false") != 0) {
    fail (ld, line_of (ld, group, key), "%s is true or false, not \"%s\"", key,
        v);
    g_free (v);
    return FALSE;
  }
  *out = strcmp (v, "true") == 0;
  g_free (v);
  return TRUE;
}

/* srtp: off, optional or required (GstSipSrtpPolicy); @out keeps its
 * value when the key is absent */
static gboolean
get_srtp (Loader *ld, const gchar *group, gint *out)
{
  GEnumClass *klass;
  GEnumValue *value;
  gchar *v;

  if (!get_string (ld, group, "srtp", &v))
    return FALSE;
  if (v == NULL)
    return TRUE;
  klass = g_type_class_ref (GST_TYPE_SIP_SRTP_POLICY);
  value = g_enum_get_value_by_nick (klass, v);
  if (value)
    *out = value->value;
  g_type_class_unref (klass);
  if (value == NULL) {
    fail (ld, line_of (ld, group, "srtp"),
        "srtp is off, optional or required, not \"%s\"", v);
    g_free (v);
    return FALSE;
  }
  g_free (v);
  return TRUE;
}

/* record-audio: off, wav or ogg; @out keeps its value when the key is
 * absent */
static gboolean
get_record_audio (Loader *ld, const gchar *group, gchar **out)
{
  gchar *v;

  if (!get_string (ld, group, "record-audio", &v))
    return FALSE;
  if (v == NULL)
    return TRUE;
  if (!g_strv_contains (record_audio_values, v)) {
    fail (ld, line_of (ld, group, "record-audio"),
        "record-audio is off, wav or ogg, not \"%s\"", v);
    g_free (v);
    return FALSE;
  }
  g_free (*out);
  *out = v;
  return TRUE;
}

static gchar *
absolute_path (Loader *ld, const gchar *path)
{
  if (g_path_is_absolute (path))
    return g_strdup (path);
  return g_build_filename (ld->dir, path, NULL);
}

/* "127.0.0.1:5060", "[::1]:5060"; numeric hosts only: sofia-sip binds to
 * what it is given. */
static gboolean
valid_listen (const gchar *listen)
{
  const gchar *colon;
  gchar *host, *end;
  GInetAddress *addr;
  guint64 port;

  if (listen[0] == '[') {
    const gchar *close = strchr (listen, ']');
    if (close == NULL || close[1] != ':')
      return FALSE;
    host = g_strndup (listen + 1, close - listen - 1);
    colon = close + 1;
  } else {
    colon = strrchr (listen, ':');
    if (colon == NULL)
      return FALSE;
    host = g_strndup (listen, colon - listen);
  }
  addr = g_inet_address_new_from_string (host);
  g_free (host);
  if (addr == NULL)
    return FALSE;
  g_object_unref (addr);
  port = g_ascii_strtoull (colon + 1, &end, 10);
  return *end == '\0' && end != colon + 1 && port > 0 && port < 65536;
}

/* Whether @launch names the element @factory (a whole word, not part of
 * another name or of a property value) */
static gboolean
launch_has_element (const gchar *launch, const gchar *factory)
{
  gsize n = strlen (factory);
  const gchar *p;

  for (p = strstr (launch, factory); p; p = strstr (p + 1, factory)) {
    gboolean starts = p == launch || g_ascii_isspace (p[-1]) || p[-1] == '!';
    gboolean ends = p[n] == '\0' || g_ascii_isspace (p[n]) || p[n] == '!';

    if (starts && ends)
      return TRUE;
  }
  return FALSE;
}

static gboolean
load_server (Loader *ld)
{
  GstSipServerConfig *c = ld->config;
  const gchar *g = "server";
  gchar *records = NULL;

  if (gst_sip_key_file_get_group (ld->keys, g) == NULL)
    return TRUE;
  if (!check_keys (ld, g, server_keys))
    return FALSE;
  if (!get_string (ld, g, "listen", &c->listen))
    return FALSE;
  if (c->listen && !valid_listen (c->listen))
    return fail (ld, line_of (ld, g, "listen"),
        "listen must be a numeric HOST:PORT (IPv6 as [::1]:5060), not \"%s\"",
        c->listen);
  if (!get_string (ld, g, "records", &records))
    return FALSE;
  if (records) {
    g_free (c->records);
    c->records = absolute_path (ld, records);
    g_free (records);
  }
  if (!get_string (ld, g, "launch", &c->launch) ||
      !get_string (ld, g, "default-office", &c->default_office) ||
      !get_string (ld, g, "media-address", &c->media_address) ||
      !get_string (ld, g, "external-address", &c->external_address) ||
      !get_record_audio (ld, g, &c->record_audio) ||
      !get_uint (ld, g, "max-calls", 1, 10000, &c->max_calls) ||
      !get_uint (ld, g, "drain-timeout", 0, 86400, &c->drain_timeout) ||
      !get_uint (ld, g, "media-timeout", 0, 86400, &c->media_timeout) ||
      !get_uint (ld, g, "session-expires", 0, 86400, &c->session_expires) ||
      !get_uint (ld, g, "retry-after", 0, 86400, &c->retry_after) ||
      !get_uint (ld, g, "rtp-port-min", 1024, 65534, &c->rtp_port_min) ||
      !get_uint (ld, g, "rtp-port-max", 1025, 65535, &c->rtp_port_max) ||
      !get_uint (ld, g, "stt-preload", 0, 10000, &c->stt_preload) ||
      !get_uint (ld, g, "tls-port", 0, 65535, &c->tls_port) ||
      !get_boolean (ld, g, "tls-verify", &c->tls_verify) ||
      !get_srtp (ld, g, &c->srtp))
    return FALSE;
  if (!get_string (ld, g, "tls-dir", &records))
    return FALSE;
  if (records) {
    c->tls_dir = absolute_path (ld, records);
    g_free (records);
  }
  if (c->tls_port > 0 && c->tls_dir == NULL)
    return fail (ld, line_of (ld, g, "tls-port"),
        "tls-port needs tls-dir: the directory with agent.pem (our key and "
        "certificate) and cafile.pem");
  if (c->tls_dir) {
    gchar *agent = g_build_filename (c->tls_dir, "agent.pem", NULL);
    gboolean found = g_file_test (agent, G_FILE_TEST_IS_REGULAR);

    g_free (agent);
    if (!found)
      return fail (ld, line_of (ld, g, "tls-dir"),
          "tls-dir %s has no agent.pem (our private key and certificate "
          "chain, PEM)",
          c->tls_dir);
  }
  if (c->external_address && !g_hostname_is_ip_address (c->external_address))
    return fail (ld, line_of (ld, g, "external-address"),
        "external-address must be an IP address, not '%s'",
        c->external_address);
  if (c->rtp_port_max <= c->rtp_port_min)
    return fail (ld, line_of (ld, g, "rtp-port-max"),
        "rtp-port-max (%u) must be above rtp-port-min (%u)", c->rtp_port_max,
        c->rtp_port_min);
  if (c->launch && !strstr (c->launch, "sipsrc") &&
      !strstr (c->launch, "sipsink"))
    return fail (ld, line_of (ld, g, "launch"),
        "launch has no sipsrc or sipsink: nothing would carry the call's "
        "audio");
  if (c->launch && launch_has_element (c->launch, "spanplc"))
    return fail (ld, line_of (ld, g, "launch"),
        "launch has spanplc, which crashes the whole server on a loss of zero "
        "length (rtpjitterbuffer reports those when packets are reordered "
        "and lost): use sipplc");
  return TRUE;
}

/* The digits of a telephone number ("+1 (919) 555-0100" -> "19195550100"),
 * or NULL when it has anything else. */
static gchar *
number_digits (const gchar *number)
{
  GString *s = g_string_new (NULL);
  const gchar *p = number;

  if (*p == '+')
    p++;
  for (; *p; p++) {
    if (g_ascii_isdigit (*p))
      g_string_append_c (s, *p);
    else if (!strchr (" -.()", *p))
      return (g_string_free (s, TRUE), NULL);
  }
  if (s->len == 0)
    return (g_string_free (s, TRUE), NULL);
  return g_string_free (s, FALSE);
}

static gboolean
load_dids (Loader *ld, const gchar *group, GstSipOfficeConfig *o)
{
  guint line = line_of (ld, group, "did"), i;
  gsize n;
  gchar **list;

  list = g_key_file_get_string_list (ld->keys->kf, group, "did", &n, NULL);
  if (list == NULL || n == 0) {
    g_strfreev (list);
    return fail (ld, line ? line : line_of (ld, group, NULL),
        "[%s] needs did = the office's number(s) in E.164, e.g. +19195550100",
        group);
  }
  for (i = 0; i < n; i++) {
    gchar *did = g_strstrip (list[i]), *digits = number_digits (did);
    guint prev;

    if (did[0] != '+' || digits == NULL || strlen (digits) < 7 ||
        strlen (digits) > 15 || digits[0] == '0') {
      g_free (digits);
      fail (ld, line,
          "\"%s\" is not an E.164 number (+, country code, 7 to 15 digits)",
          did);
      g_strfreev (list);
      return FALSE;
    }
    if ((prev = GPOINTER_TO_UINT (g_hash_table_lookup (ld->dids, digits)))) {
      fail (ld, line, "%s is already an office's number (line %u)", did, prev);
      g_free (digits);
      g_strfreev (list);
      return FALSE;
    }
    g_hash_table_insert (ld->dids, digits, GUINT_TO_POINTER (line));
    g_free (list[i]);
    list[i] = g_strconcat ("+", digits, NULL);
  }
  o->dids = list;
  return TRUE;
}

static gboolean
load_office (Loader *ld, const gchar *group)
{
  GstSipOfficeConfig *o = g_new0 (GstSipOfficeConfig, 1);
  gchar *script = NULL, *mode = NULL;

  o->name = g_strdup (group + strlen ("office "));
  g_strstrip (o->name);
  o->line = line_of (ld, group, NULL);
  o->record_audio = g_strdup (ld->config->record_audio);
  g_ptr_array_add (ld->config->offices, o);
  if (*o->name == '\0' || strchr (o->name, ' '))
    return fail (ld, o->line, "office names are one word: [office NAME]");
  if (!check_keys (ld, group, office_keys) || !load_dids (ld, group, o))
    return FALSE;
  if (!get_string (ld, group, "script", &script) ||
      !get_string (ld, group, "voice", &o->voice) ||
      !get_string (ld, group, "tts", &o->tts_backend) ||
      !get_string (ld, group, "language", &o->language) ||
      !get_string (ld, group, "transfer", &o->transfer) ||
      !get_string (ld, group, "trunk", &o->trunk) ||
      !get_record_audio (ld, group, &o->record_audio))
    return FALSE;
  if (script) {
    o->script = absolute_path (ld, script);
    g_free (script);
    if (!g_file_test (o->script, G_FILE_TEST_IS_REGULAR))
      return fail (
          ld, line_of (ld, group, "script"), "no script file %s", o->script);
  }
  if (o->tts_backend && g_strcmp0 (o->tts_backend, "flite") != 0 &&
      g_strcmp0 (o->tts_backend, "espeak") != 0)
    return fail (ld, line_of (ld, group, "tts"),
        "tts is flite or espeak, not \"%s\"", o->tts_backend);
  if (o->language == NULL)
    o->language = g_strdup ("en");
  /* flite speaks English only: another language means espeak-ng, whose
   * voices are named by language. */
  if (!g_str_has_prefix (o->language, "en")) {
    if (g_strcmp0 (o->tts_backend, "flite") == 0)
      return fail (ld, line_of (ld, group, "tts"),
          "flite speaks English only; language %s needs tts = espeak",
          o->language);
    if (o->tts_backend == NULL)
      o->tts_backend = g_strdup ("espeak");
    if (o->voice == NULL)
      o->voice = g_strdup (o->language);
  }
  if (!get_string (ld, group, "transfer-mode", &mode))
    return FALSE;
  if (mode && strcmp (mode, "blind") != 0 && strcmp (mode, "attended") != 0) {
    fail (ld, line_of (ld, group, "transfer-mode"),
        "transfer-mode is blind or attended, not \"%s\"", mode);
    g_free (mode);
    return FALSE;
  }
  o->attended_transfer = g_strcmp0 (mode, "attended") == 0;
  g_free (mode);
  if (o->transfer && !g_str_has_prefix (o->transfer, "sip:") &&
      !g_str_has_prefix (o->transfer, "sips:") &&
      !g_str_has_prefix (o->transfer, "tel:"))
    return fail (ld, line_of (ld, group, "transfer"),
        "transfer must be a sip:, sips: or tel: URI, not \"%s\"", o->transfer);
  return TRUE;
}

/* "sip:host[:port][;params]": what sofia-sip can send to */
static gboolean
get_sip_uri (Loader *ld, const gchar *group, const gchar *key, gchar **out)
{
  if (!get_string (ld, group, key, out))
    return FALSE;
  if (*out == NULL)
    return TRUE;
  if (g_str_has_prefix (*out, "sips:"))
    return fail (ld, line_of (ld, group, key),
        "%s %s needs SIP over TLS, which this version does not have yet", key,
        *out);
  if (!g_str_has_prefix (*out, "sip:") || (*out)[4] == '\0' ||
      strpbrk (*out, " \t<>\"") != NULL)
    return fail (ld, line_of (ld, group, key),
        "%s must be a sip: URI such as sip:sip.example.com, not \"%s\"", key,
        *out);
  return TRUE;
}

static gboolean
load_allow (Loader *ld, const gchar *group, GstSipTrunkConfig *t)
{
  guint line = line_of (ld, group, "allow"), i;
  gsize n;
  gchar **list;

  list = g_key_file_get_string_list (ld->keys->kf, group, "allow", &n, NULL);
  if (list == NULL)
    return TRUE;
  t->allow = g_array_new (FALSE, FALSE, sizeof (GstSipCidr));
  for (i = 0; i < n; i++) {
    GstSipCidr cidr;

    g_strstrip (list[i]);
    if (!gst_sip_cidr_parse (list[i], &cidr)) {
      fail (ld, line,
          "allow: \"%s\" is not an address or address block such as "
          "192.0.2.0/24 or 2001:db8::/32",
          list[i]);
      g_strfreev (list);
      return FALSE;
    }
    g_array_append_val (t->allow, cidr);
  }
  g_strfreev (list);
  if (t->allow->len == 0)
    return fail (ld, line, "allow needs at least one address block");
  return TRUE;
}

static gboolean
load_trunk (Loader *ld, const gchar *group)
{
  GstSipTrunkConfig *t;
  gchar *name = g_strstrip (g_strdup (group + strlen ("trunk ")));
  guint line = line_of (ld, group, NULL);

  t = gst_sip_trunk_config_new (name);
  g_free (name);
  t->line = line;
  g_ptr_array_add (ld->config->trunks, t);
  if (*t->name == '\0' || strchr (t->name, ' '))
    return fail (ld, line, "trunk names are one word: [trunk NAME]");
  if (gst_sip_server_config_get_trunk (ld->config, t->name) != t)
    return fail (ld, line, "a second [trunk %s]", t->name);
  g_clear_pointer (&t->transport, g_free);
  if (!check_keys (ld, group, trunk_keys) ||
      !get_sip_uri (ld, group, "registrar", &t->registrar) ||
      !get_sip_uri (ld, group, "proxy", &t->proxy) ||
      !get_string (ld, group, "username", &t->username) ||
      !get_string (ld, group, "password", &t->password) ||
      !get_string (ld, group, "realm", &t->realm) ||
      !get_string (ld, group, "from-user", &t->from_user) ||
      !get_string (ld, group, "from-domain", &t->from_domain) ||
      !get_string (ld, group, "transport", &t->transport) ||
      !get_uint (ld, group, "expires", 10, 86400, &t->expires) ||
      !get_uint (ld, group, "qualify", 0, 3600, &t->qualify) ||
      !get_uint (ld, group, "register-retry", 1, 3600, &t->register_retry) ||
      !get_srtp (ld, group, &t->srtp) || !load_allow (ld, group, t))
    return FALSE;
  if (t->transport == NULL)
    t->transport = g_strdup ("udp");
  if (strcmp (t->transport, "udp") != 0 && strcmp (t->transport, "tcp") != 0 &&
      strcmp (t->transport, "tls") != 0)
    return fail (ld, line_of (ld, group, "transport"),
        "transport is udp, tcp or tls, not \"%s\"", t->transport);
  /* the stack has a TLS transport (our certificate, the CAs that sign the
   * carrier's) only with [server] tls-port and tls-dir */
  if (strcmp (t->transport, "tls") == 0 &&
      (ld->config->tls_port == 0 || ld->config->tls_dir == NULL))
    return fail (ld, line_of (ld, group, "transport"),
        "transport tls needs [server] tls-port and tls-dir (our certificate, "
        "and cafile.pem with the CA that signs the carrier's)");
  if (t->registrar && t->username == NULL)
    return fail (ld, line_of (ld, group, "registrar"),
        "[%s] registers, so it needs username (and usually password)", group);
  if ((t->username == NULL) != (t->password == NULL) && t->registrar == NULL)
    return fail (
        ld, line, "[%s] needs both username and password, or neither", group);
  if (!t->allow && !t->registrar && !t->proxy && !t->password)
    return fail (ld, line,
        "[%s] would take calls from anyone: give it allow (the carrier's "
        "addresses; allow = 0.0.0.0/0, ::/0 takes calls from anywhere), a "
        "registrar or proxy (calls come from there), or username and "
        "password (callers must authenticate)",
        group);
  return TRUE;
}

static gboolean
load_groups (Loader *ld)
{
  guint i;

  for (i = 0; i < ld->keys->groups->len; i++) {
    GstSipKeyGroup *g = g_ptr_array_index (ld->keys->groups, i);

    if (strcmp (g->name, "server") == 0)
      continue;
    if (g_str_has_prefix (g->name, "office ")) {
      if (!load_office (ld, g->name))
        return FALSE;
    } else if (g_str_has_prefix (g->name, "trunk ")) {
      if (!load_trunk (ld, g->name))
        return FALSE;
    } else {
      return fail (ld, g->line,
          "unknown group [%s]: expected [server], [trunk NAME] or "
          "[office NAME]",
          g->name);
    }
  }
  for (i = 0; i < ld->config->offices->len; i++) {
    GstSipOfficeConfig *o = g_ptr_array_index (ld->config->offices, i);
    gchar *group = g_strconcat ("office ", o->name, NULL);
    guint line = line_of (ld, group, "trunk");

    g_free (group);
    if (o->trunk && !gst_sip_server_config_get_trunk (ld->config, o->trunk))
      return fail (
          ld, line, "trunk %s is not a [trunk %s] group", o->trunk, o->trunk);
  }
  if (ld->config->offices->len == 0)
    return fail (ld, 1, "no [office NAME] group: no number would be answered");
  if (ld->config->default_office &&
      gst_sip_server_config_get_office (
          ld->config, ld->config->default_office) == NULL)
    return fail (ld, line_of (ld, "server", "default-office"),
        "default-office %s is not an [office %s] group",
        ld->config->default_office, ld->config->default_office);
  return TRUE;
}

GstSipServerConfig *
gst_sip_server_config_load_data (
    const gchar *filename, const gchar *text, GError **error)
{
  Loader ld = {0};
  GstSipServerConfig *c = g_new0 (GstSipServerConfig, 1);
  gchar *abs = g_canonicalize_filename (filename, NULL);
  gboolean ok;

  c->refcount = 1;
  c->filename = g_strdup (filename);
  c->listen = g_strdup ("127.0.0.1:5060");
  c->records = g_strdup ("/var/lib/gst-sip-agent/records");
  c->max_calls = 30;
  c->drain_timeout = 30;
  c->media_timeout = 120;
  c->session_expires = GST_SIP_SESSION_EXPIRES_DEFAULT;
  c->tls_verify = TRUE;
  c->srtp = GST_SIP_SRTP_OPTIONAL;
  c->retry_after = 30;
  c->rtp_port_min = 10000;
  c->rtp_port_max = 20000;
  c->record_audio = g_strdup ("off");
  c->offices = g_ptr_array_new_with_free_func (office_free);
  c->trunks = g_ptr_array_new_with_free_func (
      (GDestroyNotify) gst_sip_trunk_config_free);

  ld.config = c;
  ld.error = error;
  ld.dir = g_path_get_dirname (abs);
  ld.dids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  ld.keys = gst_sip_key_file_load (filename, text, ',', error);
  ok = ld.keys && load_server (&ld) && load_groups (&ld);
  if (ok && c->launch == NULL)
    c->launch = g_strdup (GST_SIP_SERVER_DEFAULT_LAUNCH);
  gst_sip_key_file_free (ld.keys);
  g_hash_table_unref (ld.dids);
  g_free (ld.dir);
  g_free (abs);
  if (!ok) {
    gst_sip_server_config_unref (c);
    return NULL;
  }
  return c;
}

GstSipServerConfig *
gst_sip_server_config_load (const gchar *filename, GError **error)
{
  gchar *text;
  GError *err = NULL;
  GstSipServerConfig *c;

  if (!g_file_get_contents (filename, &text, NULL, &err)) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
        "%s:1: %s", filename, err->message);
    g_error_free (err);
    return NULL;
  }
  c = gst_sip_server_config_load_data (filename, text, error);
  g_free (text);
  return c;
}

const GstSipOfficeConfig *
gst_sip_server_config_get_office (
    const GstSipServerConfig *config, const gchar *name)
{
  guint i;

  for (i = 0; name && i < config->offices->len; i++) {
    GstSipOfficeConfig *o = g_ptr_array_index (config->offices, i);
    if (strcmp (o->name, name) == 0)
      return o;
  }
  return NULL;
}

const GstSipOfficeConfig *
gst_sip_server_config_find_office (
    const GstSipServerConfig *config, const gchar *number)
{
  gchar *digits = number ? number_digits (number) : NULL;
  gsize len;
  guint i, j;

  if (digits == NULL)
    return NULL;
  len = strlen (digits);
  for (i = 0; i < config->offices->len; i++) {
    GstSipOfficeConfig *o = g_ptr_array_index (config->offices, i);

    for (j = 0; o->dids[j]; j++) {
      const gchar *did = o->dids[j] + 1;
      gsize did_len = strlen (did);

      /* E.164, or national: the DID without its 1-3 digit country code,
       * as some carriers deliver it */
      if (strcmp (did, digits) == 0 ||
          (len >= 7 && did_len > len && did_len - len <= 3 &&
              strcmp (did + did_len - len, digits) == 0)) {
        g_free (digits);
        return o;
      }
    }
  }
  g_free (digits);
  return NULL;
}

const GstSipTrunkConfig *
gst_sip_server_config_get_trunk (
    const GstSipServerConfig *config, const gchar *name)
{
  guint i;

  for (i = 0; name && i < config->trunks->len; i++) {
    GstSipTrunkConfig *t = g_ptr_array_index (config->trunks, i);
    if (strcmp (t->name, name) == 0)
      return t;
  }
  return NULL;
}
