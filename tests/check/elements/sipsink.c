/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * sipsink sends real UDP packets to sockets of the test on 127.0.0.1.
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include "siptestutil.h"
#include <gio/gio.h>
#include <math.h>
#include <string.h>

static GstBuffer *
rtp_buffer (guint16 seq)
{
  guint8 data[172] = {0x80, 0x00};

  GST_WRITE_UINT16_BE (data + 2, seq);
  /* header and payload in two memories, as payloaders produce them */
  return gst_buffer_append (
      gst_buffer_new_memdup (data, 12), gst_buffer_new_memdup (data + 12, 160));
}

static guint16
receive_seq (GSocket *s, GSocketAddress **from)
{
  gchar buf[2048];
  gssize n = g_socket_receive_from (s, from, buf, sizeof (buf), NULL, NULL);

  fail_unless_equals_int (n, 172);
  return GST_READ_UINT16_BE (buf + 2);
}

GST_START_TEST (test_sends_from_call_socket_to_far_end)
{
  GstHarness *h = gst_harness_new ("sipsink");
  GSocket *call_socket = udp_socket ();
  GSocket *far_end = udp_socket ();
  GSocketAddress *from = NULL;

  g_object_set (h->element, "sync", FALSE, "socket", call_socket,
      "remote-address", "127.0.0.1", "remote-port", local_port (far_end), NULL);
  gst_harness_set_src_caps_str (h, PCMU_CAPS);
  fail_unless_equals_int (gst_harness_push (h, rtp_buffer (7)), GST_FLOW_OK);
  fail_unless_equals_int (receive_seq (far_end, &from), 7);
  /* symmetric RTP: the packet comes from the call's own socket */
  fail_unless_equals_int (
      g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (from)),
      local_port (call_socket));
  fail_unless_equals_int (element_stat (h->element, "packets-sent"), 1);
  g_object_unref (from);
  gst_harness_teardown (h);
  g_object_unref (call_socket);
  g_object_unref (far_end);
}

GST_END_TEST;

GST_START_TEST (test_no_call_drops_without_blocking)
{
  GstHarness *h = gst_harness_new ("sipsink");
  gint i;

  g_object_set (h->element, "sync", FALSE, NULL);
  gst_harness_set_src_caps_str (h, PCMU_CAPS);
  for (i = 0; i < 10; i++)
    fail_unless_equals_int (gst_harness_push (h, rtp_buffer (i)), GST_FLOW_OK);
  fail_unless_equals_int (element_stat (h->element, "dropped-no-call"), 10);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_far_end_gone_does_not_stop_the_call)
{
  GstHarness *h = gst_harness_new ("sipsink");
  GSocket *call_socket = udp_socket ();
  GSocket *far_end = udp_socket ();
  gint port = local_port (far_end), i;

  g_object_set (h->element, "sync", FALSE, "socket", call_socket,
      "remote-address", "127.0.0.1", "remote-port", port, NULL);
  gst_harness_set_src_caps_str (h, PCMU_CAPS);
  /* the far end closes: ICMP port unreachable comes back */
  g_object_unref (far_end);
  for (i = 0; i < 20; i++)
    fail_unless_equals_int (gst_harness_push (h, rtp_buffer (i)), GST_FLOW_OK);
  gst_harness_teardown (h);
  g_object_unref (call_socket);
}

GST_END_TEST;

GST_START_TEST (test_caps_offered_upstream)
{
  GstHarness *h = gst_harness_new ("sipsink");
  GstCaps *caps, *query;

  gst_util_set_object_arg (G_OBJECT (h->element), "caps",
      "application/x-rtp,media=audio,clock-rate=8000,encoding-name=PCMU,"
      "payload=0");
  query = gst_pad_peer_query_caps (h->srcpad, NULL);
  caps = gst_caps_from_string (PCMU_CAPS);
  fail_unless (gst_caps_is_equal (query, caps));
  gst_caps_unref (caps);
  gst_caps_unref (query);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* sipsrc in latch mode moves to a new source (NAT); the sipsink sharing
 * its socket must send there from then on. */
GST_START_TEST (test_sink_follows_source_latch)
{
  GstHarness *src = gst_harness_new_with_padnames ("sipsrc", NULL, "src");
  GstHarness *sink = gst_harness_new ("sipsink");
  GSocket *call_socket = udp_socket ();
  GSocket *signalled = udp_socket ();
  GSocket *behind_nat = udp_socket ();
  GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  GSocketAddress *to = g_inet_socket_address_new (lo, local_port (call_socket));
  guint8 pkt[172] = {0x80, 0x00, 0x00, 0x05};

  g_object_set (src->element, "socket", call_socket, "remote-address",
      "127.0.0.1", "remote-port", local_port (signalled), NULL);
  gst_util_set_object_arg (G_OBJECT (src->element), "source-filter", "latch");
  gst_util_set_object_arg (G_OBJECT (src->element), "caps", PCMU_CAPS);
  g_object_set (sink->element, "sync", FALSE, "socket", call_socket, NULL);
  gst_harness_set_src_caps_str (sink, PCMU_CAPS);
  gst_harness_play (src);

  fail_unless (g_socket_send_to (behind_nat, to, (gchar *) pkt, sizeof (pkt),
                   NULL, NULL) == sizeof (pkt));
  gst_buffer_unref (gst_harness_pull (src));
  fail_unless_equals_int (gst_harness_push (sink, rtp_buffer (9)), GST_FLOW_OK);
  fail_unless_equals_int (receive_seq (behind_nat, NULL), 9);

  gst_harness_teardown (src);
  gst_harness_teardown (sink);
  g_object_unref (to);
  g_object_unref (lo);
  g_object_unref (call_socket);
  g_object_unref (signalled);
  g_object_unref (behind_nat);
}

GST_END_TEST;

/* ---- send-dtmf ---- */

static GstBuffer *
audio_packet (guint8 pt, guint16 seq, guint32 ts)
{
  guint8 data[172];

  memset (data, 0xff, sizeof (data));
  data[0] = 0x80;
  data[1] = pt;
  GST_WRITE_UINT16_BE (data + 2, seq);
  GST_WRITE_UINT32_BE (data + 4, ts);
  GST_WRITE_UINT32_BE (data + 8, 0xabcdef01);
  return gst_buffer_append (
      gst_buffer_new_memdup (data, 12), gst_buffer_new_memdup (data + 12, 160));
}

typedef struct
{
  GstHarness *h;
  GSocket *call_socket, *far_end;
} DtmfFixture;

static void
dtmf_setup (DtmfFixture *f, const gchar *caps, gint te_pt)
{
  f->h = gst_harness_new ("sipsink");
  f->call_socket = udp_socket ();
  f->far_end = udp_socket ();
  g_object_set (f->h->element, "sync", FALSE, "socket", f->call_socket,
      "remote-address", "127.0.0.1", "remote-port", local_port (f->far_end),
      "telephone-event-payload", te_pt, "dtmf-duration", 100, "dtmf-gap", 40,
      NULL);
  gst_util_set_object_arg (G_OBJECT (f->h->element), "caps", caps);
  gst_harness_set_src_caps_str (f->h, caps);
}

static void
dtmf_teardown (DtmfFixture *f)
{
  gst_harness_teardown (f->h);
  g_object_unref (f->call_socket);
  g_object_unref (f->far_end);
}

static gboolean
send_dtmf (GstElement *e, const gchar *keys)
{
  gboolean ok = FALSE;

  g_signal_emit_by_name (e, "send-dtmf", keys, &ok);
  return ok;
}

/* Pushes audio packets seq 100.., 20 ms each, and receives what went out. */
static gssize
push_and_receive (DtmfFixture *f, guint i, guint8 *pkt, gsize size)
{
  fail_unless_equals_int (
      gst_harness_push (f->h, audio_packet (0, 100 + i, 1000 + 160 * i)),
      GST_FLOW_OK);
  return g_socket_receive (f->far_end, (gchar *) pkt, size, NULL, NULL);
}

/* RFC 4733 2.5: the marker on the first packet of each event, the same
 * timestamp on all its packets, the duration growing, the end packet three
 * times; the audio's SSRC and a sequence continuous with the audio's. */
GST_START_TEST (test_send_dtmf_rfc4733)
{
  DtmfFixture f;
  GString *seen = g_string_new (NULL);
  guint8 pkt[2048];
  guint32 event_ts = 0, last_duration = 0;
  guint i, ends = 0;

  dtmf_setup (&f, PCMU_CAPS, 101);
  fail_unless (send_dtmf (f.h->element, "5#"));
  for (i = 0; i < 24; i++) {
    gssize n = push_and_receive (&f, i, pkt, sizeof (pkt));
    guint32 ts = GST_READ_UINT32_BE (pkt + 4);

    fail_unless_equals_int (GST_READ_UINT16_BE (pkt + 2), 100 + i);
    fail_unless_equals_int (GST_READ_UINT32_BE (pkt + 8), 0xabcdef01);
    if ((pkt[1] & 0x7f) == 0) {
      fail_unless_equals_int (n, 172);
      fail_unless_equals_int (ts, 1000 + 160 * i);
      g_string_append_c (seen, 'a');
      continue;
    }
    fail_unless_equals_int (pkt[1] & 0x7f, 101);
    fail_unless_equals_int (n, 16);
    if (pkt[1] & 0x80) {
      /* a new event: begins at the audio packet it replaces */
      fail_unless_equals_int (ts, 1000 + 160 * i);
      event_ts = ts;
      last_duration = 0;
      ends = 0;
      g_string_append_c (
          seen, pkt[12] == 5 ? '5' : (pkt[12] == 11 ? '#' : '?'));
    } else {
      fail_unless_equals_int (ts, event_ts);
    }
    fail_unless_equals_int (pkt[13] & 0x3f, 10);
    if (pkt[13] & 0x80) {
      fail_unless_equals_int (GST_READ_UINT16_BE (pkt + 14), 800);
      g_string_append_c (seen, 'E');
      ends++;
    } else {
      fail_unless_equals_int (ends, 0);
      fail_unless_equals_int (
          GST_READ_UINT16_BE (pkt + 14), last_duration + 160);
      if (!(pkt[1] & 0x80))
        g_string_append_c (seen, '.');
    }
    last_duration = GST_READ_UINT16_BE (pkt + 14);
  }
  /* key 5 for 100 ms (5 packets), three ends, 40 ms of audio, key #, ... */
  fail_unless_equals_string (seen->str, "5....EEEaa#....EEEaaaaaa");
  fail_unless_equals_int (element_stat (f.h->element, "dtmf-keys-sent"), 2);
  fail_unless_equals_int (element_stat (f.h->element, "dtmf-packets-sent"), 16);
  g_string_free (seen, TRUE);
  dtmf_teardown (&f);
}

GST_END_TEST;

static gint
ulaw_to_linear (guint8 u)
{
  gint t;

  u = ~u;
  t = ((u & 0x0f) << 3) + 0x84;
  t <<= (u & 0x70) >> 4;
  return (u & 0x80) ? 0x84 - t : t - 0x84;
}

/* Goertzel: the power of @freq in @n samples at 8 kHz. */
static gdouble
tone_power (const gint *x, guint n, gdouble freq)
{
  gdouble c = 2 * cos (2 * G_PI * freq / 8000.0), s1 = 0, s2 = 0;
  guint i;

  for (i = 0; i < n; i++) {
    gdouble s0 = x[i] + c * s1 - s2;

    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - c * s1 * s2;
}

static gint
alaw_to_linear (guint8 a)
{
  gint t, seg;

  a ^= 0x55;
  t = (a & 0x0f) << 4;
  seg = (a & 0x70) >> 4;
  if (seg == 0)
    t += 8;
  else
    t = (t + 0x108) << (seg - 1);
  return (a & 0x80) ? t : -t;
}

/* No telephone-event on a G.711 call: the key is two tones in the audio
 * (ITU-T Q.23: '8' is 852 Hz + 1336 Hz), in packets that keep the audio's
 * header. */
static void
check_inband (const gchar *caps, guint8 pt, gint (*decode) (guint8))
{
  DtmfFixture f;
  guint8 pkt[2048];
  gint samples[160];
  guint i, j, tone_packets = 0;
  gdouble err, sig;

  dtmf_setup (&f, caps, -1);
  fail_unless (send_dtmf (f.h->element, "8"));
  for (i = 0; i < 10; i++) {
    gssize n;
    gdouble want, other;

    fail_unless_equals_int (
        gst_harness_push (f.h, audio_packet (pt, 100 + i, 1000 + 160 * i)),
        GST_FLOW_OK);
    n = g_socket_receive (f.far_end, (gchar *) pkt, sizeof (pkt), NULL, NULL);
    fail_unless_equals_int (n, 172);
    fail_unless_equals_int (pkt[1], pt);
    fail_unless_equals_int (GST_READ_UINT16_BE (pkt + 2), 100 + i);
    fail_unless_equals_int (GST_READ_UINT32_BE (pkt + 4), 1000 + 160 * i);
    if (pkt[12] == 0xff && pkt[13] == 0xff)
      continue; /* the audio */
    tone_packets++;
    for (j = 0; j < 160; j++)
      samples[j] = decode (pkt[12 + j]);
    want =
        MIN (tone_power (samples, 160, 852), tone_power (samples, 160, 1336));
    other = MAX (
        MAX (tone_power (samples, 160, 697), tone_power (samples, 160, 941)),
        MAX (tone_power (samples, 160, 1209), tone_power (samples, 160, 1477)));
    fail_unless (
        want > 20 * other, "packet %u: tones %g, others %g", i, want, other);
    /* and the samples are the two sines, G.711-encoded: the error is the
     * codec's quantization (about -38 dB for a correct encoder) */
    err = sig = 0;
    for (j = 0; j < 160; j++) {
      gdouble t = (tone_packets - 1) * 160 + j;
      gdouble v = 7000.0 *
          (sin (2 * G_PI * 852 * t / 8000) + sin (2 * G_PI * 1336 * t / 8000));

      err += (samples[j] - v) * (samples[j] - v);
      sig += v * v;
    }
    fail_unless (err < sig / 1000, "packet %u: quantization error %g of %g", i,
        err, sig);
  }
  fail_unless_equals_int (tone_packets, 5);
  dtmf_teardown (&f);
}

GST_START_TEST (test_send_dtmf_inband_g711)
{
  check_inband (PCMU_CAPS, 0, ulaw_to_linear);
  check_inband ("application/x-rtp,media=audio,clock-rate=8000,"
                "encoding-name=PCMA,payload=8",
      8, alaw_to_linear);
}

GST_END_TEST;

/* Nothing to send with, or nothing to send: FALSE, and no packet changes. */
GST_START_TEST (test_send_dtmf_refused)
{
  DtmfFixture f;
  GstHarness *h;

  dtmf_setup (&f, PCMU_CAPS, 101);
  fail_if (send_dtmf (f.h->element, "12x"));
  fail_if (send_dtmf (f.h->element, ""));
  fail_if (send_dtmf (f.h->element, "E"));
  fail_unless (send_dtmf (f.h->element, "abcd*#0"));
  dtmf_teardown (&f);

  /* G.722 without telephone-event: no tones we could encode */
  dtmf_setup (&f,
      "application/x-rtp,media=audio,clock-rate=8000,encoding-name=G722,"
      "payload=9",
      -1);
  fail_if (send_dtmf (f.h->element, "1"));
  dtmf_teardown (&f);

  /* no call */
  h = gst_harness_new ("sipsink");
  g_object_set (h->element, "telephone-event-payload", 101, NULL);
  fail_if (send_dtmf (h->element, "1"));
  gst_harness_teardown (h);
}

GST_END_TEST;

static Suite *
sipsink_suite (void)
{
  Suite *s = suite_create ("sipsink");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_sends_from_call_socket_to_far_end);
  tcase_add_test (tc, test_no_call_drops_without_blocking);
  tcase_add_test (tc, test_far_end_gone_does_not_stop_the_call);
  tcase_add_test (tc, test_caps_offered_upstream);
  tcase_add_test (tc, test_sink_follows_source_latch);
  tcase_add_test (tc, test_send_dtmf_rfc4733);
  tcase_add_test (tc, test_send_dtmf_inband_g711);
  tcase_add_test (tc, test_send_dtmf_refused);
  return s;
}

GST_CHECK_MAIN (sipsink);
