/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * SRTP in sipsink and sipsrc: packets protected by sipsink are captured on
 * a test socket (the wire), checked to be ciphertext with the suite's tag,
 * and sent on to sipsrc, which must give back the plain packet; tampered,
 * replayed and plain packets are dropped.
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include "siptestutil.h"
#include "gstsipsrtp.h"
#include <gst/rtp/gstrtcpbuffer.h>
#include <gio/gio.h>
#include <string.h>

#define PLAIN_LEN 172

static gchar *
make_key (const gchar *suite, gsize key_len, guint8 seed)
{
  guint8 raw[46];
  gchar *b64, *key;
  gsize i;

  for (i = 0; i < key_len; i++)
    raw[i] = (guint8) (seed + 7 * i);
  b64 = g_base64_encode (raw, key_len);
  key = g_strdup_printf ("%s inline:%s", suite, b64);
  g_free (b64);
  return key;
}

static void
plain_packet (guint8 *data, guint16 seq)
{
  gsize i;

  memset (data, 0, PLAIN_LEN);
  data[0] = 0x80;
  data[1] = 0x00;
  GST_WRITE_UINT16_BE (data + 2, seq);
  GST_WRITE_UINT32_BE (data + 4, seq * 160);
  GST_WRITE_UINT32_BE (data + 8, 0x11223344);
  for (i = 12; i < PLAIN_LEN; i++)
    data[i] = (guint8) (0x55 + i);
}

static GstBuffer *
plain_buffer (guint16 seq)
{
  guint8 data[PLAIN_LEN];

  plain_packet (data, seq);
  /* header and payload in two memories, as payloaders produce them */
  return gst_buffer_append (gst_buffer_new_memdup (data, 12),
      gst_buffer_new_memdup (data + 12, PLAIN_LEN - 12));
}

typedef struct
{
  GstHarness *sink, *src;
  GSocket *call_socket; /* sipsink's */
  GSocket *wire; /* receives what sipsink sends, and sends it to sipsrc */
  GSocketAddress *src_address;
} Fixture;

static void
fixture_setup (Fixture *f, const gchar *key)
{
  GSocket *src_socket;
  GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);

  f->call_socket = udp_socket ();
  f->wire = udp_socket ();
  f->sink = gst_harness_new ("sipsink");
  g_object_set (f->sink->element, "sync", FALSE, "socket", f->call_socket,
      "remote-address", "127.0.0.1", "remote-port", local_port (f->wire),
      "srtp-key", key, NULL);
  gst_harness_set_src_caps_str (f->sink, PCMU_CAPS);

  f->src = gst_harness_new_with_padnames ("sipsrc", NULL, "src");
  g_object_set (f->src->element, "address", "127.0.0.1", "port", 0,
      "remote-address", "127.0.0.1", "remote-port", local_port (f->wire),
      "srtp-key", key, NULL);
  gst_util_set_object_arg (G_OBJECT (f->src->element), "caps", PCMU_CAPS);
  gst_harness_play (f->src);
  g_object_get (f->src->element, "socket", &src_socket, NULL);
  f->src_address = g_inet_socket_address_new (lo, local_port (src_socket));
  g_object_unref (src_socket);
  g_object_unref (lo);
}

static void
fixture_teardown (Fixture *f)
{
  gst_harness_teardown (f->sink);
  gst_harness_teardown (f->src);
  g_object_unref (f->call_socket);
  g_object_unref (f->wire);
  g_object_unref (f->src_address);
}

/* sipsink sends @seq; returns what went on the wire */
static gsize
send_through_sink (Fixture *f, guint16 seq, guint8 *wire, gsize size)
{
  gssize n;

  fail_unless_equals_int (
      gst_harness_push (f->sink, plain_buffer (seq)), GST_FLOW_OK);
  n = g_socket_receive (f->wire, (gchar *) wire, size, NULL, NULL);
  fail_unless (n > 0);
  return n;
}

static void
to_src (Fixture *f, const guint8 *data, gsize len)
{
  fail_unless (g_socket_send_to (f->wire, f->src_address, (const gchar *) data,
                   len, NULL, NULL) == (gssize) len);
}

static void
pull_plain (Fixture *f, guint16 seq)
{
  guint8 expected[PLAIN_LEN];
  GstBuffer *buf = gst_harness_pull (f->src);
  GstMapInfo map;

  plain_packet (expected, seq);
  fail_unless (buf != NULL);
  gst_buffer_map (buf, &map, GST_MAP_READ);
  fail_unless_equals_int (map.size, PLAIN_LEN);
  fail_unless (memcmp (map.data, expected, PLAIN_LEN) == 0);
  gst_buffer_unmap (buf, &map);
  gst_buffer_unref (buf);
}

static void
check_suite (const gchar *suite, gsize key_len, gsize tag_len)
{
  Fixture f;
  gchar *key = make_key (suite, key_len, 3);
  guint8 first[PLAIN_LEN + 64], wire[PLAIN_LEN + 64], plain[PLAIN_LEN];
  gsize first_len, n;

  fixture_setup (&f, key);

  /* on the wire: the header in the clear, the payload encrypted, the tag
   * appended */
  first_len = send_through_sink (&f, 1, first, sizeof (first));
  fail_unless_equals_int (first_len, PLAIN_LEN + tag_len);
  plain_packet (plain, 1);
  fail_unless (memcmp (first, plain, 12) == 0);
  fail_if (memcmp (first + 12, plain + 12, PLAIN_LEN - 12) == 0);
  fail_unless_equals_int (
      element_stat (f.sink->element, "bytes-sent"), PLAIN_LEN + tag_len);

  to_src (&f, first, first_len);
  pull_plain (&f, 1);

  /* tampered (one payload bit), replayed and plain packets are dropped */
  n = send_through_sink (&f, 2, wire, sizeof (wire));
  wire[20] ^= 0x01;
  to_src (&f, wire, n);
  to_src (&f, first, first_len);
  plain_packet (plain, 3);
  to_src (&f, plain, PLAIN_LEN);
  /* the untampered packet 2 still passes */
  wire[20] ^= 0x01;
  to_src (&f, wire, n);
  pull_plain (&f, 2);
  fail_unless_equals_int (element_stat (f.src->element, "dropped-srtp"), 3);
  fail_unless_equals_int (element_stat (f.src->element, "packets-pushed"), 2);

  fixture_teardown (&f);
  g_free (key);
}

/* Keys pressed with send-dtmf go out protected like the audio they
 * replace, in the same SRTP context: sipsrc decrypts every one. */
GST_START_TEST (test_send_dtmf_is_protected)
{
  Fixture f;
  gchar *key = make_key ("AES_CM_128_HMAC_SHA1_80", 30, 9);
  guint8 wire[PLAIN_LEN + 64];
  gboolean ok = FALSE;
  guint16 seq;
  gsize n;

  fixture_setup (&f, key);
  g_object_set (f.sink->element, "telephone-event-payload", 101, NULL);
  g_object_set (f.src->element, "telephone-event-payload", 101, NULL);
  /* the first packet sets the call up in sipsink */
  n = send_through_sink (&f, 1, wire, sizeof (wire));
  to_src (&f, wire, n);
  pull_plain (&f, 1);
  g_signal_emit_by_name (f.sink->element, "send-dtmf", "5", &ok);
  fail_unless (ok);
  /* 160 ms of key and three end packets, then audio again */
  for (seq = 2; seq < 20; seq++) {
    n = send_through_sink (&f, seq, wire, sizeof (wire));
    fail_if (wire[1] == 101 && n != 16 + 10, "an event packet without its tag");
    to_src (&f, wire, n);
  }
  fail_unless (element_stat (f.sink->element, "dtmf-packets-sent") >= 8);
  fail_unless_equals_int (element_stat (f.sink->element, "srtp-errors"), 0);
  for (seq = 0; seq < 200 && element_stat (f.src->element, "dtmf-events") < 1;
       seq++)
    g_usleep (10000);
  fail_unless_equals_int (element_stat (f.src->element, "dtmf-events"), 1);
  fail_unless_equals_int (element_stat (f.src->element, "dropped-srtp"), 0);
  fixture_teardown (&f);
  g_free (key);
}

GST_END_TEST;

GST_START_TEST (test_roundtrip_aes_cm_128_hmac_sha1_80)
{
  check_suite ("AES_CM_128_HMAC_SHA1_80", 30, 10);
}

GST_END_TEST;

GST_START_TEST (test_roundtrip_aes_cm_128_hmac_sha1_32)
{
  check_suite ("AES_CM_128_HMAC_SHA1_32", 30, 4);
}

GST_END_TEST;

GST_START_TEST (test_roundtrip_aes_256_cm_hmac_sha1_80)
{
  check_suite ("AES_256_CM_HMAC_SHA1_80", 46, 10);
}

GST_END_TEST;

/* Keys that differ: sipsrc drops everything */
GST_START_TEST (test_wrong_key_dropped)
{
  Fixture f;
  gchar *key = make_key ("AES_CM_128_HMAC_SHA1_80", 30, 3);
  gchar *other = make_key ("AES_CM_128_HMAC_SHA1_80", 30, 4);
  guint8 wire[PLAIN_LEN + 64];
  gsize n;

  fixture_setup (&f, key);
  g_object_set (f.src->element, "srtp-key", other, NULL);
  n = send_through_sink (&f, 1, wire, sizeof (wire));
  to_src (&f, wire, n);
  while (element_stat (f.src->element, "dropped-srtp") < 1)
    g_usleep (1000);
  /* the same key again: packet 2 passes, packet 1 did not */
  g_object_set (f.src->element, "srtp-key", key, NULL);
  n = send_through_sink (&f, 2, wire, sizeof (wire));
  to_src (&f, wire, n);
  pull_plain (&f, 2);
  fail_unless_equals_int (element_stat (f.src->element, "dropped-srtp"), 1);
  fixture_teardown (&f);
  g_free (key);
  g_free (other);
}

GST_END_TEST;

/* A key sipsink cannot use: nothing goes out, not even in the clear */
GST_START_TEST (test_unusable_key_sends_nothing)
{
  Fixture f;

  fixture_setup (&f, "AES_CM_128_HMAC_SHA1_80 inline:dG9vc2hvcnQ=");
  fail_unless_equals_int (
      gst_harness_push (f.sink, plain_buffer (1)), GST_FLOW_OK);
  fail_unless_equals_int (element_stat (f.sink->element, "srtp-errors"), 1);
  fail_unless_equals_int (element_stat (f.sink->element, "packets-sent"), 0);
  fixture_teardown (&f);
}

GST_END_TEST;

/* Without a key: plain RTP, as before */
GST_START_TEST (test_no_key_is_plain)
{
  Fixture f;
  guint8 wire[PLAIN_LEN + 64];
  gsize n;

  fixture_setup (&f, NULL);
  n = send_through_sink (&f, 5, wire, sizeof (wire));
  fail_unless_equals_int (n, PLAIN_LEN);
  to_src (&f, wire, n);
  pull_plain (&f, 5);
  fixture_teardown (&f);
}

GST_END_TEST;

/* RTCP on an SRTP call is SRTCP both ways (RFC 3711): the far end's
 * reports are unprotected with its key, plain ones dropped; ours are
 * protected with our key. */
GST_START_TEST (test_rtcp_is_srtcp)
{
  gchar *theirs = make_key ("AES_CM_128_HMAC_SHA1_80", 30, 21);
  gchar *ours = make_key ("AES_CM_128_HMAC_SHA1_80", 30, 42);
  GstSipSrtp *far_out = gst_sip_srtp_new (theirs, TRUE, NULL);
  GstSipSrtp *far_in = gst_sip_srtp_new (ours, FALSE, NULL);
  GstHarness *h = gst_harness_new_with_padnames ("sipsrc", NULL, "src");
  GSocket *rtp = udp_socket (), *rtcp = udp_socket ();
  GSocket *far_rtp = NULL, *far_rtcp = NULL;
  GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  GSocketAddress *to_rtp = g_inet_socket_address_new (lo, local_port (rtp));
  GSocketAddress *to_rtcp = g_inet_socket_address_new (lo, local_port (rtcp));
  GstRTCPBuffer r = GST_RTCP_BUFFER_INIT;
  GstRTCPPacket packet;
  GstBuffer *buf;
  guint8 pkt[1500];
  gint len, i;
  gssize n;
  guint port;

  fail_unless (far_out && far_in);
  far_rtp = udp_socket_pair (42000, &far_rtcp);
  port = local_port (far_rtp);
  gst_util_set_object_arg (G_OBJECT (h->element), "caps", PCMU_CAPS);
  g_object_set (h->element, "remote-address", "127.0.0.1", "remote-port",
      (gint) port, "srtp-key", theirs, "rtcp-srtp-key", ours, "socket", rtp,
      "rtcp-socket", rtcp, NULL);
  gst_harness_play (h);

  /* its audio and its sender report, protected with its key */
  plain_packet (pkt, 1);
  len = gst_sip_srtp_protect (far_out, pkt, PLAIN_LEN);
  fail_unless (len > 0);
  fail_unless (g_socket_send_to (far_rtp, to_rtp, (const gchar *) pkt, len,
                   NULL, NULL) == len);
  gst_buffer_unref (gst_harness_pull (h));
  buf = gst_rtcp_buffer_new (1500);
  gst_rtcp_buffer_map (buf, GST_MAP_READWRITE, &r);
  gst_rtcp_buffer_add_packet (&r, GST_RTCP_TYPE_SR, &packet);
  gst_rtcp_packet_sr_set_sender_info (&packet, 0x11223344,
      G_GUINT64_CONSTANT (0xe1a2b3c4d5e6f708), 160, 1, 160);
  gst_rtcp_buffer_unmap (&r);
  len = gst_buffer_get_size (buf);
  gst_buffer_extract (buf, 0, pkt, len);
  gst_buffer_unref (buf);
  /* in the clear first: dropped */
  fail_unless (g_socket_send_to (far_rtcp, to_rtcp, (const gchar *) pkt, len,
                   NULL, NULL) == len);
  len = gst_sip_srtp_protect_rtcp (far_out, pkt, len);
  fail_unless (len > 0);
  fail_unless (g_socket_send_to (far_rtcp, to_rtcp, (const gchar *) pkt, len,
                   NULL, NULL) == len);
  for (i = 0; i < 200 && element_stat (h->element, "rtcp-received") < 1; i++)
    g_usleep (10000);
  fail_unless_equals_int (element_stat (h->element, "rtcp-received"), 1);
  fail_unless_equals_int (element_stat (h->element, "rtcp-dropped"), 1);

  /* our report (2.5 s into the call): SRTCP with our key */
  n = g_socket_receive (far_rtcp, (gchar *) pkt, sizeof (pkt), NULL, NULL);
  fail_unless (n > 0, "no RTCP from sipsrc");
  fail_if (gst_rtcp_buffer_validate_data (pkt, n), "a report in the clear");
  len = gst_sip_srtp_unprotect_rtcp (far_in, pkt, (gint) n);
  fail_unless (len > 0, "our report is not SRTCP with our key");
  fail_unless (gst_rtcp_buffer_validate_data (pkt, len));

  gst_harness_teardown (h);
  gst_sip_srtp_free (far_out);
  gst_sip_srtp_free (far_in);
  g_object_unref (to_rtp);
  g_object_unref (to_rtcp);
  g_object_unref (lo);
  g_object_unref (rtp);
  g_object_unref (rtcp);
  g_object_unref (far_rtp);
  g_object_unref (far_rtcp);
  g_free (theirs);
  g_free (ours);
}

GST_END_TEST;

static Suite *
sipsrtp_suite (void)
{
  Suite *s = suite_create ("sipsrtp");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_roundtrip_aes_cm_128_hmac_sha1_80);
  tcase_add_test (tc, test_send_dtmf_is_protected);
  tcase_add_test (tc, test_rtcp_is_srtcp);
  tcase_add_test (tc, test_roundtrip_aes_cm_128_hmac_sha1_32);
  tcase_add_test (tc, test_roundtrip_aes_256_cm_hmac_sha1_80);
  tcase_add_test (tc, test_wrong_key_dropped);
  tcase_add_test (tc, test_unusable_key_sends_nothing);
  tcase_add_test (tc, test_no_key_is_plain);
  return s;
}

GST_CHECK_MAIN (sipsrtp);
