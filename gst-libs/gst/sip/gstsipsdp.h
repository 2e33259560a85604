/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_SDP_H__
#define __GST_SIP_SDP_H__

#include <gst/gst.h>

G_BEGIN_DECLS

/* SDP offer/answer (RFC 3264) for one audio stream. Parsing goes through
 * sofia-sip's SDP parser; the answer is written here because its content is
 * decided by what the pipeline accepts, not by sofia's soa engine. */

typedef enum
{
  GST_SIP_DIRECTION_INACTIVE = 0,
  GST_SIP_DIRECTION_SENDONLY = 1,
  GST_SIP_DIRECTION_RECVONLY = 2,
  GST_SIP_DIRECTION_SENDRECV = 3,
} GstSipDirection;

typedef struct
{
  gint pt;
  gchar *encoding_name; /* upper case, e.g. "PCMU" */
  gint clock_rate; /* RTP clock rate as signalled */
  gint channels;
  gchar *fmtp;
} GstSipCodec;

/* One a=crypto line (SDES, RFC 4568) */
typedef struct
{
  guint tag;
  gchar *suite; /* "AES_CM_128_HMAC_SHA1_80" */
  gchar *key_params; /* "inline:BASE64[|lifetime][|MKI:len]" */
  gchar *session_params; /* NULL when none */
} GstSipCrypto;

typedef struct
{
  gchar *address; /* media connection address (numeric) */
  gint port; /* 0: audio stream rejected or absent */
  GstSipDirection direction;
  GPtrArray *codecs; /* GstSipCodec*, offer order, no DTMF */
  gint telephone_event_pt; /* -1 if not offered */
  gint telephone_event_rate;
  guint audio_index; /* index of the m= line used */
  GPtrArray *media_lines; /* every m= line as rejected in an answer
                                 * ("video 0 RTP/AVP 31") */
  guint64 session_id;
  guint64 session_version;
  gchar *origin; /* o= line value, to tell re-offers apart */
  gboolean secure; /* the audio line is RTP/SAVP (SRTP) */
  GPtrArray *cryptos; /* GstSipCrypto*, the audio line's a=crypto, in order */
} GstSipSdpOffer;

#define GST_SIP_SDP_ERROR (gst_sip_sdp_error_quark ())
GQuark gst_sip_sdp_error_quark (void);

typedef enum
{
  GST_SIP_SDP_ERROR_PARSE, /* 400: not SDP */
  GST_SIP_SDP_ERROR_NO_AUDIO, /* 488: nothing we can take */
} GstSipSdpError;

GstSipSdpOffer *gst_sip_sdp_offer_parse (
    const gchar *sdp, gsize len, GError **error);
void gst_sip_sdp_offer_free (GstSipSdpOffer *offer);

GstCaps *gst_sip_codec_to_caps (const GstSipCodec *codec);
GstSipCodec *gst_sip_codec_copy (const GstSipCodec *codec);
void gst_sip_codec_free (GstSipCodec *codec);

gchar *gst_sip_sdp_build_answer (const GstSipSdpOffer *offer,
    const GstSipCodec *codec, gboolean with_telephone_event,
    const gchar *local_address, gint local_port, guint64 session_id,
    guint64 session_version, gint ptime);

/* What a call's media must be (sipbin's srtp property, the server's
 * [server]/[trunk] srtp key); see docs/architecture.md, "TLS and SRTP". */
typedef enum
{
  GST_SIP_SRTP_OFF = 0, /* plain RTP only: an RTP/SAVP offer gets 488 */
  GST_SIP_SRTP_OPTIONAL = 1, /* SRTP when the far end offers it */
  GST_SIP_SRTP_REQUIRED = 2, /* SRTP only: an RTP/AVP offer gets 488 */
} GstSipSrtpPolicy;

#define GST_TYPE_SIP_SRTP_POLICY (gst_sip_srtp_policy_get_type ())
GType gst_sip_srtp_policy_get_type (void);

/* SRTP with SDES keys (RFC 4568). The suites sipsrc/sipsink implement:
 * AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32, AES_256_CM_HMAC_SHA1_80
 * and AES_256_CM_HMAC_SHA1_32. */
gboolean gst_sip_crypto_suite_supported (const gchar *suite);
void gst_sip_crypto_free (GstSipCrypto *crypto);
GstSipCrypto *gst_sip_crypto_copy (const GstSipCrypto *crypto);
/* A new crypto attribute of ours: @suite with a fresh random key (from
 * the kernel's CSPRNG); NULL for a suite we do not implement. */
GstSipCrypto *gst_sip_crypto_new_random (guint tag, const gchar *suite);
/* "SUITE inline:BASE64", the form sipsrc/sipsink take as srtp-key */
gchar *gst_sip_crypto_to_key (const GstSipCrypto *crypto);
/* The first crypto of @offer we can use (a supported suite, one inline
 * key of the suite's length, no MKI, no session parameters), or NULL */
const GstSipCrypto *gst_sip_sdp_choose_crypto (const GstSipSdpOffer *offer);
/* As gst_sip_sdp_build_answer(); with @crypto the audio line is answered
 * RTP/SAVP with that a=crypto line (ours: same tag and suite as the one
 * chosen from the offer, our own key). */
gchar *gst_sip_sdp_build_answer_full (const GstSipSdpOffer *offer,
    const GstSipCodec *codec, gboolean with_telephone_event,
    const gchar *local_address, gint local_port, guint64 session_id,
    guint64 session_version, gint ptime, const GstSipCrypto *crypto);
/* As gst_sip_sdp_build_offer(); with @cryptos (GstSipCrypto, not empty)
 * the audio line is offered RTP/SAVP with these a=crypto lines. */
gchar *gst_sip_sdp_build_offer_full (const GPtrArray *codecs,
    gint telephone_event_pt, const gchar *local_address, gint local_port,
    guint64 session_id, guint64 session_version, gint ptime,
    const GPtrArray *cryptos);

/* PCMU, PCMA and G722 with their static payload types, as GstSipCodec */
GPtrArray *gst_sip_sdp_offerable_codecs (void);
/* An offer of @codecs (in preference order) and telephone-event (when
 * @telephone_event_pt is not -1) on one sendrecv audio line. The answer to
 * it is parsed with gst_sip_sdp_offer_parse() like any SDP. */
gchar *gst_sip_sdp_build_offer (const GPtrArray *codecs,
    gint telephone_event_pt, const gchar *local_address, gint local_port,
    guint64 session_id, guint64 session_version, gint ptime);

G_END_DECLS
#endif
