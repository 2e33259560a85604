/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/sip/gstsipsdp.h>

#include <stdlib.h>
#include <string.h>
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

void
gst_sip_sdp_offer_free (GstSipSdpOffer *offer)
{
  if (offer == NULL)
    return;
  g_free (offer->address);
  g_free (offer->origin);
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

    if (found || m->m_type != sdp_media_audio || m->m_proto != sdp_proto_rtp ||
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
        "no RTP/AVP audio stream with an address in the offer");
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
    g_string_append_printf (s, "m=audio %d RTP/AVP %d", local_port, codec->pt);
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
  GString *s = g_string_new (NULL);
  const gchar *ip = strchr (local_address, ':') ? "IP6" : "IP4";
  guint i;

  g_string_append_printf (s,
      "v=0\r\n"
      "o=- %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " IN %s %s\r\n"
      "s=gst-sip-agent\r\n"
      "c=IN %s %s\r\n"
      "t=0 0\r\n"
      "m=audio %d RTP/AVP",
      session_id, session_version, ip, local_address, ip, local_address,
      local_port);
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
  return g_string_free (s, FALSE);
}
