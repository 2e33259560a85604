/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/sip/gstsipsdp.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/sdp.h>

GQuark
gst_sip_sdp_error_quark (void)
{
  return g_quark_from_static_string ("gst-sip-sdp-error-quark");
}

void
gst_sip_codec_free (GstSipCodec *codec)
{
  if (codec == NULL)
    return;
  g_free (codec->encoding_name);
  g_free (codec->fmtp);
  g_free (codec);
}

GstSipCodec *
gst_sip_codec_copy (const GstSipCodec *codec)
{
  GstSipCodec *copy = g_memdup2 (codec, sizeof (*codec));

  copy->encoding_name = g_strdup (codec->encoding_name);
  copy->fmtp = g_strdup (codec->fmtp);
  return copy;
}

GType
gst_sip_srtp_policy_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
      {GST_SIP_SRTP_OFF, "Plain RTP only: RTP/SAVP offers get 488", "off"},
      {GST_SIP_SRTP_OPTIONAL,
          "SRTP when the far end offers it (RTP/SAVP), else plain RTP",
          "optional"},
      {GST_SIP_SRTP_REQUIRED,
          "SRTP only: RTP/AVP offers get 488, our offers are RTP/SAVP",
          "required"},
      {0, NULL, NULL},
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (
        &type, g_enum_register_static ("GstSipSrtpPolicy", values));
  return type;
}

void
gst_sip_crypto_free (GstSipCrypto *crypto)
{
  if (crypto == NULL)
    return;
  g_free (crypto->suite);
  if (crypto->key_params) {
    /* our own key: do not leave it in freed memory */
    memset (crypto->key_params, 0, strlen (crypto->key_params));
    g_free (crypto->key_params);
  }
  g_free (crypto->session_params);
  g_free (crypto);
}

GstSipCrypto *
gst_sip_crypto_copy (const GstSipCrypto *crypto)
{
  GstSipCrypto *copy = g_new0 (GstSipCrypto, 1);

  copy->tag = crypto->tag;
  copy->suite = g_strdup (crypto->suite);
  copy->key_params = g_strdup (crypto->key_params);
  copy->session_params = g_strdup (crypto->session_params);
  return copy;
}

static const struct
{
  const gchar *name;
  gsize key_len; /* master key + master salt, bytes */
} crypto_suites[] = {
    {"AES_CM_128_HMAC_SHA1_80", 30},
    {"AES_CM_128_HMAC_SHA1_32", 30},
    {"AES_256_CM_HMAC_SHA1_80", 46},
    {"AES_256_CM_HMAC_SHA1_32", 46},
};

static gsize
suite_key_len (const gchar *suite)
{
  for (guint i = 0; suite && i < G_N_ELEMENTS (crypto_suites); i++)
    if (strcmp (suite, crypto_suites[i].name) == 0)
      return crypto_suites[i].key_len;
  return 0;
}

gboolean
gst_sip_crypto_suite_supported (const gchar *suite)
{
  return suite_key_len (suite) > 0;
}

GstSipCrypto *
gst_sip_crypto_new_random (guint tag, const gchar *suite)
{
  gsize len = suite_key_len (suite), got = 0;
  guint8 raw[46];
  GstSipCrypto *crypto;
  gchar *b64;

  if (len == 0)
    return NULL;
  while (got < len) {
    gssize n = getrandom (raw + got, len - got, 0);

    if (n < 0 && errno == EINTR)
      continue;
    /* no entropy (never on Linux >= 3.17): no key rather than a weak one */
    g_return_val_if_fail (n > 0, NULL);
    got += n;
  }
  b64 = g_base64_encode (raw, len);
  memset (raw, 0, sizeof (raw));
  crypto = g_new0 (GstSipCrypto, 1);
  crypto->tag = tag;
  crypto->suite = g_strdup (suite);
  crypto->key_params = g_strconcat ("inline:", b64, NULL);
  memset (b64, 0, strlen (b64));
  g_free (b64);
  return crypto;
}

gchar *
gst_sip_crypto_to_key (const GstSipCrypto *crypto)
{
  return g_strdup_printf ("%s %s", crypto->suite, crypto->key_params);
}

/* One inline key of the suite's length, without MKI ("|1:4") */
static gboolean
crypto_usable (const GstSipCrypto *c)
{
  const gchar *key;
  gsize expected = suite_key_len (c->suite), len = 0;
  guchar *raw;
  gchar *b64;
  gboolean ok;

  if (expected == 0 || c->session_params ||
      !g_str_has_prefix (c->key_params, "inline:") ||
      strchr (c->key_params, ';'))
    return FALSE;
  key = c->key_params + 7;
  if (strchr (key, ':'))
    return FALSE;
  b64 = g_strndup (key, strcspn (key, "|"));
  raw = g_base64_decode (b64, &len);
  ok = len == expected;
  g_free (raw);
  g_free (b64);
  return ok;
}

const GstSipCrypto *
gst_sip_sdp_choose_crypto (const GstSipSdpOffer *offer)
{
  for (guint i = 0; i < offer->cryptos->len; i++) {
    const GstSipCrypto *c = g_ptr_array_index (offer->cryptos, i);

    if (crypto_usable (c))
      return c;
  }
  return NULL;
}

/* "1 AES_CM_128_HMAC_SHA1_80 inline:KEY|2^20 [session params]" */
static GstSipCrypto *
parse_crypto (const gchar *value)
{
  gchar **parts;
  GstSipCrypto *c = NULL;
  gchar *end;
  guint64 tag;

  if (value == NULL)
    return NULL;
  parts = g_strsplit_set (value, " \t", 4);
  if (g_strv_length (parts) >= 3) {
    tag = g_ascii_strtoull (parts[0], &end, 10);
    if (*end == '\0' && end != parts[0] && tag <= 999999999) {
      c = g_new0 (GstSipCrypto, 1);
      c->tag = tag;
      c->suite = g_strdup (parts[1]);
      c->key_params = g_strdup (parts[2]);
      if (parts[3] && *parts[3])
        c->session_params = g_strdup (parts[3]);
    }
  }
  g_strfreev (parts);
  return c;
}

void
gst_sip_sdp_offer_free (GstSipSdpOffer *offer)
{
  if (offer == NULL)
    return;
  g_free (offer->address);
  g_free (offer->origin);
  g_ptr_array_unref (offer->cryptos);
  g_ptr_array_unref (offer->codecs);
  g_ptr_array_unref (offer->media_lines);
  g_free (offer);
}

/* RFC 3551 static payload types that carry no rtpmap line in most offers. */
static gboolean
static_payload (gint pt, const gchar **name, gint *rate)
{
  switch (pt) {
    case 0:
      *name = "PCMU";
      *rate = 8000;
      return TRUE;
    case 3:
      *name = "GSM";
      *rate = 8000;
      return TRUE;
    case 8:
      *name = "PCMA";
      *rate = 8000;
      return TRUE;
    case 9:
      *name = "G722";
      *rate = 8000;
      return TRUE;
    case 18:
      *name = "G729";
      *rate = 8000;
      return TRUE;
    default:
      return FALSE;
  }
}

/* sofia-sip refuses a whole SDP over one "a=rtpmap:31 LPC" without a clock
 * rate (RFC 4475's esc01 and longreq carry one). Such a line says nothing
 * we could use; drop it and let the payload type stand on its own. Returns
 * NULL when there is nothing to drop. */
static gchar *
strip_rtpmaps_without_rate (const gchar *sdp, gsize len)
{
  gchar *copy = g_strndup (sdp, len);
  gchar **lines = g_strsplit (copy, "\n", -1);
  GString *out = g_string_sized_new (len);
  gboolean dropped = FALSE;
  guint i;

  for (i = 0; lines[i]; i++) {
    const gchar *line = lines[i];

    if (g_ascii_strncasecmp (line, "a=rtpmap:", 9) == 0 &&
        strchr (line, '/') == NULL) {
      dropped = TRUE;
      continue;
    }
    g_string_append (out, line);
    if (lines[i + 1])
      g_string_append_c (out, '\n');
  }
  g_strfreev (lines);
  g_free (copy);
  if (!dropped) {
    g_string_free (out, TRUE);
    return NULL;
  }
  return g_string_free (out, FALSE);
}

static const sdp_connection_t *
media_connection (const sdp_session_t *session, const sdp_media_t *m)
{
  return m->m_connections ? m->m_connections : session->sdp_connection;
}

GstSipSdpOffer *
gst_sip_sdp_offer_parse (const gchar *sdp, gsize len, GError **error)
{
  su_home_t home[1] = {SU_HOME_INIT (home)};
  sdp_parser_t *parser;
  sdp_session_t *session;
  const sdp_media_t *m;
  GstSipSdpOffer *offer = NULL;
  guint index = 0;
  gboolean found = FALSE;

  if (sdp == NULL || len == 0 || len > G_MAXSSIZE) {
    g_set_error (
        error, GST_SIP_SDP_ERROR, GST_SIP_SDP_ERROR_PARSE, "empty SDP body");
    return NULL;
  }

  parser = sdp_parse (home, sdp, (issize_t) len, sdp_f_c_missing);
  session = sdp_session (parser);
  if (session == NULL) {
    gchar *stripped = strip_rtpmaps_without_rate (sdp, len);

    if (stripped) {
      sdp_parser_free (parser);
      /* the parser copies the text: stripped can go at once */
      parser = sdp_parse (home, stripped, strlen (stripped), sdp_f_c_missing);
      session = sdp_session (parser);
      g_free (stripped);
    }
  }
  if (session == NULL) {
    g_set_error (error, GST_SIP_SDP_ERROR, GST_SIP_SDP_ERROR_PARSE,
        "SDP does not parse: %s", sdp_parsing_error (parser));
    sdp_parser_free (parser);
    su_home_deinit (home);
    return NULL;
  }

  offer = g_new0 (GstSipSdpOffer, 1);
  offer->codecs =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_sip_codec_free);
  offer->media_lines = g_ptr_array_new_with_free_func (g_free);
  offer->cryptos =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_sip_crypto_free);
  offer->telephone_event_pt = -1;
  if (session->sdp_origin) {
    offer->session_id = session->sdp_origin->o_id;
    offer->session_version = session->sdp_origin->o_version;
    offer->origin = g_strdup_printf ("%s %" G_GUINT64_FORMAT,
        session->sdp_origin->o_username ? session->sdp_origin->o_username : "-",
        (guint64) session->sdp_origin->o_id);
  }

  for (m = session->sdp_media; m; m = m->m_next, index++) {
    const sdp_connection_t *c = media_connection (session, m);
    const sdp_rtpmap_t *rm;
    const sdp_attribute_t *a;
    gchar *first_format;

    if (m->m_rtpmaps)
      first_format = g_strdup_printf ("%u", m->m_rtpmaps->rm_pt);
    else if (m->m_format && m->m_format->l_text)
      first_format = g_strdup (m->m_format->l_text);
    else
      first_format = g_strdup ("0");
    g_ptr_array_add (offer->media_lines,
        g_strdup_printf ("%s 0 %s %s",
            m->m_type_name ? m->m_type_name : "audio",
            m->m_proto_name ? m->m_proto_name : "RTP/AVP", first_format));
    g_free (first_format);

    if (found || m->m_type != sdp_media_audio ||
        (m->m_proto != sdp_proto_rtp && m->m_proto != sdp_proto_srtp) ||
        m->m_port == 0 || m->m_port > 65535 || c == NULL ||
        c->c_address == NULL ||
        (c->c_addrtype != sdp_addr_ip4 && c->c_addrtype != sdp_addr_ip6))
      continue;

    /* For RTP media sofia's parser turns the m= format list into rtpmap
     * entries, in offer order, filling in the RFC 3551 static ones. */
    for (rm = m->m_rtpmaps; rm; rm = rm->rm_next) {
      const gchar *name = rm->rm_encoding;
      gint rate = rm->rm_rate;
      GstSipCodec *codec;

      if (rm->rm_any)
        continue;
      if (name == NULL && !static_payload (rm->rm_pt, &name, &rate))
        continue;
      if (g_ascii_strcasecmp (name, "telephone-event") == 0) {
        if (offer->telephone_event_pt < 0) {
          offer->telephone_event_pt = rm->rm_pt;
          offer->telephone_event_rate = rate ? rate : 8000;
        }
        continue;
      }
      codec = g_new0 (GstSipCodec, 1);
      codec->pt = rm->rm_pt;
      codec->encoding_name = g_ascii_strup (name, -1);
      codec->clock_rate = rate ? rate : 8000;
      codec->channels = rm->rm_params ? atoi (rm->rm_params) : 1;
      if (codec->channels <= 0)
        codec->channels = 1;
      codec->fmtp = g_strdup (rm->rm_fmtp);
      g_ptr_array_add (offer->codecs, codec);
    }

    /* SDES (RFC 4568): the keys the far end will send with */
    offer->secure = m->m_proto == sdp_proto_srtp;
    for (a = m->m_attributes; a; a = a->a_next) {
      GstSipCrypto *crypto;

      if (a->a_name && g_ascii_strcasecmp (a->a_name, "crypto") == 0 &&
          (crypto = parse_crypto (a->a_value)))
        g_ptr_array_add (offer->cryptos, crypto);
    }

    offer->address = g_strdup (c->c_address);
    offer->port = m->m_port;
    offer->direction = m->m_mode;
    offer->audio_index = index;
    found = TRUE;
  }

  sdp_parser_free (parser);
  su_home_deinit (home);

  if (!found) {
    g_set_error (error, GST_SIP_SDP_ERROR, GST_SIP_SDP_ERROR_NO_AUDIO,
        "no RTP/AVP or RTP/SAVP audio stream with an address in the offer");
    gst_sip_sdp_offer_free (offer);
    return NULL;
  }
  return offer;
}

GstCaps *
gst_sip_codec_to_caps (const GstSipCodec *codec)
{
  return gst_caps_new_simple ("application/x-rtp", "media", G_TYPE_STRING,
      "audio", "clock-rate", G_TYPE_INT, codec->clock_rate, "encoding-name",
      G_TYPE_STRING, codec->encoding_name, "payload", G_TYPE_INT, codec->pt,
      NULL);
}

static const gchar *
direction_attribute (GstSipDirection offered)
{
  /* RFC 3264 6.1: answer sendonly with recvonly and the reverse. */
  switch (offered) {
    case GST_SIP_DIRECTION_SENDONLY:
      return "recvonly";
    case GST_SIP_DIRECTION_RECVONLY:
      return "sendonly";
    case GST_SIP_DIRECTION_INACTIVE:
      return "inactive";
    default:
      return "sendrecv";
  }
}

gchar *
gst_sip_sdp_build_answer (const GstSipSdpOffer *offer, const GstSipCodec *codec,
    gboolean with_telephone_event, const gchar *local_address, gint local_port,
    guint64 session_id, guint64 session_version, gint ptime)
{
  return gst_sip_sdp_build_answer_full (offer, codec, with_telephone_event,
      local_address, local_port, session_id, session_version, ptime, NULL);
}

gchar *
gst_sip_sdp_build_answer_full (const GstSipSdpOffer *offer,
    const GstSipCodec *codec, gboolean with_telephone_event,
    const gchar *local_address, gint local_port, guint64 session_id,
    guint64 session_version, gint ptime, const GstSipCrypto *crypto)
{
  GString *s = g_string_new (NULL);
  const gchar *ip = strchr (local_address, ':') ? "IP6" : "IP4";
  guint i;

  g_string_append_printf (s,
      "v=0\r\n"
      "o=- %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " IN %s %s\r\n"
      "s=gst-sip-agent\r\n"
      "c=IN %s %s\r\n"
      "t=0 0\r\n",
      session_id, session_version, ip, local_address, ip, local_address);

  /* RFC 3264 6: one m= line per offered line, in order; the ones we do
   * not take are rejected with port 0. */
  for (i = 0; i < offer->media_lines->len; i++) {
    const gchar *line = g_ptr_array_index (offer->media_lines, i);

    if (i != offer->audio_index) {
      g_string_append_printf (s, "m=%s\r\n", line);
      continue;
    }
    g_string_append_printf (s, "m=audio %d %s %d", local_port,
        crypto ? "RTP/SAVP" : "RTP/AVP", codec->pt);
    if (with_telephone_event)
      g_string_append_printf (s, " %d", offer->telephone_event_pt);
    g_string_append (s, "\r\n");
    if (codec->channels > 1)
      g_string_append_printf (s, "a=rtpmap:%d %s/%d/%d\r\n", codec->pt,
          codec->encoding_name, codec->clock_rate, codec->channels);
    else
      g_string_append_printf (s, "a=rtpmap:%d %s/%d\r\n", codec->pt,
          codec->encoding_name, codec->clock_rate);
    if (with_telephone_event) {
      g_string_append_printf (s, "a=rtpmap:%d telephone-event/%d\r\n",
          offer->telephone_event_pt, offer->telephone_event_rate);
      g_string_append_printf (
          s, "a=fmtp:%d 0-15\r\n", offer->telephone_event_pt);
    }
    if (ptime > 0)
      g_string_append_printf (s, "a=ptime:%d\r\n", ptime);
    g_string_append_printf (
        s, "a=%s\r\n", direction_attribute (offer->direction));
    if (crypto)
      g_string_append_printf (s, "a=crypto:%u %s %s\r\n", crypto->tag,
          crypto->suite, crypto->key_params);
  }
  return g_string_free (s, FALSE);
}

/* The codecs we can offer, with their static payload types (RFC 3551):
 * what a pipeline accepts is picked from these. */
GPtrArray *
gst_sip_sdp_offerable_codecs (void)
{
  static const struct
  {
    gint pt;
    const gchar *name;
  } table[] = {{0, "PCMU"}, {8, "PCMA"}, {9, "G722"}};
  GPtrArray *codecs =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_sip_codec_free);

  for (guint i = 0; i < G_N_ELEMENTS (table); i++) {
    GstSipCodec *c = g_new0 (GstSipCodec, 1);

    c->pt = table[i].pt;
    c->encoding_name = g_strdup (table[i].name);
    /* G.722's RTP clock is 8000 by RFC 3551's mistake, kept forever */
    c->clock_rate = 8000;
    c->channels = 1;
    g_ptr_array_add (codecs, c);
  }
  return codecs;
}

gchar *
gst_sip_sdp_build_offer (const GPtrArray *codecs, gint telephone_event_pt,
    const gchar *local_address, gint local_port, guint64 session_id,
    guint64 session_version, gint ptime)
{
  return gst_sip_sdp_build_offer_full (codecs, telephone_event_pt,
      local_address, local_port, session_id, session_version, ptime, NULL);
}

gchar *
gst_sip_sdp_build_offer_full (const GPtrArray *codecs, gint telephone_event_pt,
    const gchar *local_address, gint local_port, guint64 session_id,
    guint64 session_version, gint ptime, const GPtrArray *cryptos)
{
  gboolean secure = cryptos && cryptos->len > 0;

  GString *s = g_string_new (NULL);
  const gchar *ip = strchr (local_address, ':') ? "IP6" : "IP4";
  guint i;

  g_string_append_printf (s,
      "v=0\r\n"
      "o=- %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " IN %s %s\r\n"
      "s=gst-sip-agent\r\n"
      "c=IN %s %s\r\n"
      "t=0 0\r\n"
      "m=audio %d %s",
      session_id, session_version, ip, local_address, ip, local_address,
      local_port, secure ? "RTP/SAVP" : "RTP/AVP");
  for (i = 0; i < codecs->len; i++)
    g_string_append_printf (
        s, " %d", ((GstSipCodec *) g_ptr_array_index (codecs, i))->pt);
  if (telephone_event_pt >= 0)
    g_string_append_printf (s, " %d", telephone_event_pt);
  g_string_append (s, "\r\n");
  for (i = 0; i < codecs->len; i++) {
    const GstSipCodec *c = g_ptr_array_index (codecs, i);

    g_string_append_printf (
        s, "a=rtpmap:%d %s/%d\r\n", c->pt, c->encoding_name, c->clock_rate);
  }
  if (telephone_event_pt >= 0)
    g_string_append_printf (s,
        "a=rtpmap:%d telephone-event/8000\r\n"
        "a=fmtp:%d 0-15\r\n",
        telephone_event_pt, telephone_event_pt);
  if (ptime > 0)
    g_string_append_printf (s, "a=ptime:%d\r\n", ptime);
  g_string_append (s, "a=sendrecv\r\n");
  for (i = 0; secure && i < cryptos->len; i++) {
    const GstSipCrypto *c = g_ptr_array_index (cryptos, i);

    g_string_append_printf (
        s, "a=crypto:%u %s %s\r\n", c->tag, c->suite, c->key_params);
  }
  return g_string_free (s, FALSE);
}
