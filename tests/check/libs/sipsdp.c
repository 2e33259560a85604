/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * SDP offer parsing and answer building of sipbin (ext/sofia/gstsipsdp.c).
 */
#include <gst/check/gstcheck.h>
#include <sofia-sip/su.h>
#include <gst/sip/gstsipsdp.h>

#define OFFER_HEAD \
  "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.1\r\n" \
  "s=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"

static GstSipSdpOffer *
parse (const gchar *sdp, GError **err)
{
  return gst_sip_sdp_offer_parse (sdp, strlen (sdp), err);
}

static const GstSipCodec *
codec (GstSipSdpOffer *offer, guint i)
{
  return g_ptr_array_index (offer->codecs, i);
}

GST_START_TEST (test_static_and_dynamic_payloads)
{
  GstSipSdpOffer *offer =
      parse (OFFER_HEAD "m=audio 49170 RTP/AVP 9 0 8 101 96\r\n"
                        "a=rtpmap:101 telephone-event/8000\r\n"
                        "a=fmtp:101 0-16\r\n"
                        "a=rtpmap:96 opus/48000/2\r\n"
                        "a=sendrecv\r\n",
          NULL);

  fail_unless (offer != NULL);
  fail_unless_equals_string (offer->address, "192.0.2.1");
  fail_unless_equals_int (offer->port, 49170);
  fail_unless_equals_int (offer->codecs->len, 4);
  fail_unless_equals_string (codec (offer, 0)->encoding_name, "G722");
  fail_unless_equals_int (codec (offer, 0)->clock_rate, 8000);
  fail_unless_equals_string (codec (offer, 1)->encoding_name, "PCMU");
  fail_unless_equals_string (codec (offer, 2)->encoding_name, "PCMA");
  fail_unless_equals_string (codec (offer, 3)->encoding_name, "OPUS");
  fail_unless_equals_int (codec (offer, 3)->clock_rate, 48000);
  fail_unless_equals_int (codec (offer, 3)->channels, 2);
  fail_unless_equals_int (offer->telephone_event_pt, 101);
  fail_unless_equals_int (offer->direction, GST_SIP_DIRECTION_SENDRECV);
  gst_sip_sdp_offer_free (offer);
}

GST_END_TEST;

GST_START_TEST (test_media_level_ipv6_connection)
{
  GstSipSdpOffer *offer =
      parse ("v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nt=0 0\r\n"
             "m=audio 4000 RTP/AVP 0\r\nc=IN IP6 2001:db8::5\r\n",
          NULL);

  fail_unless (offer != NULL);
  fail_unless_equals_string (offer->address, "2001:db8::5");
  gst_sip_sdp_offer_free (offer);
}

GST_END_TEST;

/* RFC 4475's esc01 and longreq carry this body: an rtpmap without a clock
 * rate, on a video stream we reject anyway. Valid enough to answer. */
GST_START_TEST (test_rtpmap_without_rate)
{
  GstSipSdpOffer *offer =
      parse ("v=0\r\n"
             "o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\ns=-\r\n"
             "c=IN IP4 192.0.2.1\r\nt=0 0\r\n"
             "m=audio 49217 RTP/AVP 0 12\r\n"
             "m=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n",
          NULL);

  fail_unless (offer != NULL);
  fail_unless_equals_string (codec (offer, 0)->encoding_name, "PCMU");
  fail_unless_equals_int (offer->media_lines->len, 2);
  gst_sip_sdp_offer_free (offer);
}

GST_END_TEST;

GST_START_TEST (test_errors)
{
  GError *err = NULL;

  fail_unless (parse ("this is not SDP at all", &err) == NULL);
  fail_unless (
      g_error_matches (err, GST_SIP_SDP_ERROR, GST_SIP_SDP_ERROR_PARSE));
  g_clear_error (&err);

  fail_unless (gst_sip_sdp_offer_parse ("", 0, &err) == NULL);
  g_clear_error (&err);

  /* only video, only DTLS-SRTP audio, or audio with port 0: nothing to
   * take (RTP/SAVP parses; whether to take it is sipbin's srtp policy) */
  fail_unless (parse (OFFER_HEAD "m=video 5000 RTP/AVP 31\r\n", &err) == NULL);
  fail_unless (
      g_error_matches (err, GST_SIP_SDP_ERROR, GST_SIP_SDP_ERROR_NO_AUDIO));
  g_clear_error (&err);
  fail_unless (
      parse (OFFER_HEAD "m=audio 5000 UDP/TLS/RTP/SAVP 0\r\n", &err) == NULL);
  g_clear_error (&err);
  fail_unless (parse (OFFER_HEAD "m=audio 0 RTP/AVP 0\r\n", &err) == NULL);
  g_clear_error (&err);
}

GST_END_TEST;

GST_START_TEST (test_answer_rejects_other_streams_and_mirrors_direction)
{
  GstSipSdpOffer *offer = parse (OFFER_HEAD
      "m=video 5002 RTP/AVP 31\r\n"
      "m=audio 5000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
      "a=sendonly\r\n",
      NULL);
  gchar *answer;

  fail_unless (offer != NULL);
  fail_unless_equals_int (offer->audio_index, 1);
  answer = gst_sip_sdp_build_answer (
      offer, codec (offer, 0), TRUE, "127.0.0.1", 10000, 42, 1, 20);
  fail_unless (strstr (answer, "m=video 0 RTP/AVP 31\r\n") != NULL, answer);
  fail_unless (strstr (answer, "m=audio 10000 RTP/AVP 0 101\r\n") != NULL);
  fail_unless (strstr (answer, "a=rtpmap:0 PCMU/8000\r\n") != NULL);
  fail_unless (strstr (answer, "a=rtpmap:101 telephone-event/8000\r\n"));
  fail_unless (strstr (answer, "a=recvonly\r\n") != NULL);
  fail_unless (strstr (answer, "c=IN IP4 127.0.0.1\r\n") != NULL);
  /* m= lines in offer order */
  fail_unless (strstr (answer, "m=video") < strstr (answer, "m=audio"));

  /* our own answer parses back */
  {
    GstSipSdpOffer *again = parse (answer, NULL);
    fail_unless (again != NULL);
    fail_unless_equals_int (again->port, 10000);
    gst_sip_sdp_offer_free (again);
  }
  g_free (answer);
  gst_sip_sdp_offer_free (offer);
}

GST_END_TEST;

GST_START_TEST (test_codec_caps)
{
  GstSipSdpOffer *offer = parse (OFFER_HEAD "m=audio 5000 RTP/AVP 9\r\n", NULL);
  GstCaps *caps = gst_sip_codec_to_caps (codec (offer, 0));
  GstCaps *expected =
      gst_caps_from_string ("application/x-rtp,media=audio,"
                            "clock-rate=8000,encoding-name=G722,payload=9");

  fail_unless (gst_caps_is_equal (caps, expected));
  gst_caps_unref (caps);
  gst_caps_unref (expected);
  gst_sip_sdp_offer_free (offer);
}

GST_END_TEST;

/* RFC 4568: an RTP/SAVP offer with several a=crypto lines. The first we can
 * use is chosen (not an unknown suite, not an MKI, not session params), the
 * answer is RTP/SAVP with the same tag and suite and our own key. */
GST_START_TEST (test_savp_offer_crypto_answer)
{
  GstSipSdpOffer *offer = parse (OFFER_HEAD
      "m=audio 5000 RTP/SAVP 0 101\r\n"
      "a=rtpmap:101 telephone-event/8000\r\n"
      "a=crypto:1 AEAD_AES_256_GCM inline:"
      "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Njc4OTAx\r\n"
      "a=crypto:2 AES_CM_128_HMAC_SHA1_80 "
      "inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^20|1:32\r\n"
      "a=crypto:3 AES_CM_128_HMAC_SHA1_80 "
      "inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj UNENCRYPTED_SRTP\r\n"
      "a=crypto:4 AES_CM_128_HMAC_SHA1_32 "
      "inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20\r\n"
      "a=crypto:5 AES_CM_128_HMAC_SHA1_80 "
      "inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj\r\n",
      NULL);
  const GstSipCrypto *chosen;
  GstSipCrypto *ours;
  GstSipSdpOffer *again;
  gchar *answer, *key, *line;

  fail_unless (offer != NULL);
  fail_unless (offer->secure);
  fail_unless_equals_int (offer->cryptos->len, 5);
  chosen = gst_sip_sdp_choose_crypto (offer);
  fail_unless (chosen != NULL);
  fail_unless_equals_int (chosen->tag, 4);
  fail_unless_equals_string (chosen->suite, "AES_CM_128_HMAC_SHA1_32");
  key = gst_sip_crypto_to_key (chosen);
  fail_unless_equals_string (key,
      "AES_CM_128_HMAC_SHA1_32 "
      "inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20");
  g_free (key);

  ours = gst_sip_crypto_new_random (chosen->tag, chosen->suite);
  fail_unless (ours != NULL);
  /* 30 bytes of key and salt: 40 base64 characters */
  fail_unless_equals_int (strlen (ours->key_params), 7 + 40);
  fail_if (strcmp (ours->key_params, chosen->key_params) == 0);
  answer = gst_sip_sdp_build_answer_full (
      offer, codec (offer, 0), TRUE, "127.0.0.1", 10000, 42, 1, 20, ours);
  fail_unless (strstr (answer, "m=audio 10000 RTP/SAVP 0 101\r\n"), answer);
  line = g_strdup_printf (
      "a=crypto:4 AES_CM_128_HMAC_SHA1_32 %s\r\n", ours->key_params);
  fail_unless (strstr (answer, line) != NULL, answer);
  g_free (line);

  /* the answer parses back with its one crypto */
  again = parse (answer, NULL);
  fail_unless (again != NULL);
  fail_unless (again->secure);
  fail_unless_equals_int (again->cryptos->len, 1);
  fail_unless (gst_sip_sdp_choose_crypto (again) != NULL);
  gst_sip_sdp_offer_free (again);
  g_free (answer);
  gst_sip_crypto_free (ours);
  gst_sip_sdp_offer_free (offer);
}

GST_END_TEST;

GST_START_TEST (test_savp_offer_without_usable_crypto)
{
  GstSipSdpOffer *offer =
      parse (OFFER_HEAD "m=audio 5000 RTP/SAVP 0\r\n"
                        "a=crypto:1 F8_128_HMAC_SHA1_80 "
                        "inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj\r\n"
                        /* a key too short for the suite */
                        "a=crypto:2 AES_256_CM_HMAC_SHA1_80 "
                        "inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj\r\n",
          NULL);

  fail_unless (offer != NULL);
  fail_unless (offer->secure);
  fail_unless (gst_sip_sdp_choose_crypto (offer) == NULL);
  gst_sip_sdp_offer_free (offer);

  /* plain RTP/AVP: not secure, no crypto */
  offer = parse (OFFER_HEAD "m=audio 5000 RTP/AVP 0\r\n", NULL);
  fail_unless (offer != NULL);
  fail_if (offer->secure);
  fail_unless_equals_int (offer->cryptos->len, 0);
  gst_sip_sdp_offer_free (offer);
}

GST_END_TEST;

GST_START_TEST (test_savp_offer_built)
{
  GPtrArray *codecs = gst_sip_sdp_offerable_codecs ();
  GPtrArray *cryptos =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_sip_crypto_free);
  GstSipSdpOffer *parsed;
  gchar *sdp;

  fail_unless (gst_sip_crypto_new_random (1, "NULL_HMAC_SHA1_80") == NULL);
  g_ptr_array_add (
      cryptos, gst_sip_crypto_new_random (1, "AES_CM_128_HMAC_SHA1_80"));
  g_ptr_array_add (
      cryptos, gst_sip_crypto_new_random (2, "AES_CM_128_HMAC_SHA1_32"));
  sdp = gst_sip_sdp_build_offer_full (
      codecs, 101, "127.0.0.1", 10000, 1, 1, 20, cryptos);
  fail_unless (strstr (sdp, "m=audio 10000 RTP/SAVP 0 8 9 101\r\n"), sdp);
  fail_unless (strstr (sdp, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"));
  fail_unless (strstr (sdp, "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:"));
  parsed = parse (sdp, NULL);
  fail_unless (parsed != NULL);
  fail_unless (parsed->secure);
  fail_unless_equals_int (parsed->cryptos->len, 2);
  fail_unless_equals_int (gst_sip_sdp_choose_crypto (parsed)->tag, 1);
  gst_sip_sdp_offer_free (parsed);
  g_free (sdp);

  /* no cryptos: plain RTP/AVP, as gst_sip_sdp_build_offer() */
  g_ptr_array_set_size (cryptos, 0);
  sdp = gst_sip_sdp_build_offer_full (
      codecs, -1, "127.0.0.1", 10000, 1, 1, 20, cryptos);
  fail_unless (strstr (sdp, "m=audio 10000 RTP/AVP 0 8 9\r\n"), sdp);
  fail_if (strstr (sdp, "a=crypto"));
  g_free (sdp);
  g_ptr_array_unref (cryptos);
  g_ptr_array_unref (codecs);
}

GST_END_TEST;

static Suite *
sipsdp_suite (void)
{
  Suite *s = suite_create ("sipsdp");
  TCase *tc = tcase_create ("general");

  su_init ();
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_static_and_dynamic_payloads);
  tcase_add_test (tc, test_media_level_ipv6_connection);
  tcase_add_test (tc, test_rtpmap_without_rate);
  tcase_add_test (tc, test_errors);
  tcase_add_test (tc, test_answer_rejects_other_streams_and_mirrors_direction);
  tcase_add_test (tc, test_codec_caps);
  tcase_add_test (tc, test_savp_offer_crypto_answer);
  tcase_add_test (tc, test_savp_offer_without_usable_crypto);
  tcase_add_test (tc, test_savp_offer_built);
  return s;
}

GST_CHECK_MAIN (sipsdp);
