/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsipsrtp.h"

#include <string.h>
#include <gio/gio.h>
#include <srtp2/srtp.h>

G_STATIC_ASSERT (SRTP_MAX_TRAILER_LEN <= GST_SIP_SRTP_MAX_TRAILER);

struct _GstSipSrtp
{
  srtp_t session;
};

typedef struct
{
  const gchar *name;
  void (*rtp_policy) (srtp_crypto_policy_t *p);
  void (*rtcp_policy) (srtp_crypto_policy_t *p);
  gsize key_len; /* master key + salt */
} Suite;

/* libsrtp defines the first as a macro for the default policy */
static void
policy_128_80 (srtp_crypto_policy_t *p)
{
  srtp_crypto_policy_set_rtp_default (p);
}

/* RFC 4568 6.2 and RFC 6188 (AES-256); SRTCP always carries the 80-bit
 * tag (RFC 4568 6.2.1). */
static const Suite suites[] = {
    {"AES_CM_128_HMAC_SHA1_80", policy_128_80, policy_128_80, 30},
    {"AES_CM_128_HMAC_SHA1_32", srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32,
        policy_128_80, 30},
    {"AES_256_CM_HMAC_SHA1_80", srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80,
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80, 46},
    {"AES_256_CM_HMAC_SHA1_32", srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32,
        srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80, 46},
};

static void
srtp_init_once (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done)) {
    srtp_init ();
    g_once_init_leave (&done, 1);
  }
}

GstSipSrtp *
gst_sip_srtp_new (const gchar *key, gboolean outbound, GError **error)
{
  const Suite *suite = NULL;
  srtp_policy_t policy;
  GstSipSrtp *self;
  gchar **parts = NULL;
  guchar *raw = NULL;
  gsize raw_len = 0;
  const gchar *inline_key;
  gchar *b64 = NULL, *copy;
  srtp_err_status_t err;
  guint i;

  srtp_init_once ();
  if (key) {
    copy = g_strstrip (g_strdup (key));
    parts = g_strsplit_set (copy, " \t", 2);
    g_free (copy);
  }
  if (parts == NULL || parts[0] == NULL || parts[1] == NULL)
    goto bad_key;
  for (i = 0; i < G_N_ELEMENTS (suites); i++)
    if (g_ascii_strcasecmp (parts[0], suites[i].name) == 0)
      suite = &suites[i];
  if (suite == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
        "unsupported SRTP crypto suite '%s'", parts[0]);
    g_strfreev (parts);
    return NULL;
  }
  inline_key = g_strstrip (parts[1]);
  if (!g_str_has_prefix (inline_key, "inline:"))
    goto bad_key;
  inline_key += 7;
  /* "|2^31" (lifetime) may follow; "|1:4" (an MKI) we do not do */
  b64 = g_strndup (inline_key, strcspn (inline_key, "|"));
  if (strchr (inline_key, ':')) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
        "SRTP keys with an MKI are not supported");
    goto fail;
  }
  raw = g_base64_decode (b64, &raw_len);
  if (raw_len != suite->key_len)
    goto bad_key;

  memset (&policy, 0, sizeof (policy));
  suite->rtp_policy (&policy.rtp);
  suite->rtcp_policy (&policy.rtcp);
  policy.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
  policy.key = raw;
  policy.window_size = 128;
  policy.next = NULL;
  self = g_new0 (GstSipSrtp, 1);
  err = srtp_create (&self->session, &policy);
  /* libsrtp has expanded the key into its own state */
  memset (raw, 0, raw_len);
  g_free (raw);
  g_free (b64);
  g_strfreev (parts);
  if (err != srtp_err_status_ok) {
    g_free (self);
    g_set_error (
        error, G_IO_ERROR, G_IO_ERROR_FAILED, "srtp_create failed (%d)", err);
    return NULL;
  }
  return self;

bad_key:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
      "SRTP key is not \"SUITE inline:BASE64\" with a key of the suite's "
      "length");
fail:
  if (raw) {
    memset (raw, 0, raw_len);
    g_free (raw);
  }
  g_free (b64);
  g_strfreev (parts);
  return NULL;
}

void
gst_sip_srtp_free (GstSipSrtp *self)
{
  if (self == NULL)
    return;
  srtp_dealloc (self->session);
  g_free (self);
}

gint
gst_sip_srtp_unprotect (GstSipSrtp *self, guint8 *data, gint len)
{
  if (srtp_unprotect (self->session, data, &len) != srtp_err_status_ok)
    return -1;
  return len;
}

gint
gst_sip_srtp_protect (GstSipSrtp *self, guint8 *data, gint len)
{
  if (srtp_protect (self->session, data, &len) != srtp_err_status_ok)
    return -1;
  return len;
}

gboolean
gst_sip_srtp_follow_key (GstSipSrtp **srtp, gchar **active_key,
    const gchar *key, gboolean new_call, gboolean outbound, GError **error)
{
  if (!new_call && g_strcmp0 (key, *active_key) == 0)
    return TRUE;
  g_clear_pointer (srtp, gst_sip_srtp_free);
  gst_sip_srtp_key_free (*active_key);
  *active_key = g_strdup (key);
  if (*active_key == NULL)
    return TRUE;
  *srtp = gst_sip_srtp_new (*active_key, outbound, error);
  return *srtp != NULL;
}

gint
gst_sip_srtp_unprotect_rtcp (GstSipSrtp *self, guint8 *data, gint len)
{
  if (srtp_unprotect_rtcp (self->session, data, &len) != srtp_err_status_ok)
    return -1;
  return len;
}

gint
gst_sip_srtp_protect_rtcp (GstSipSrtp *self, guint8 *data, gint len)
{
  if (srtp_protect_rtcp (self->session, data, &len) != srtp_err_status_ok)
    return -1;
  return len;
}
