/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * sipsink sends real UDP packets to sockets of the test on 127.0.0.1.
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include "siptestutil.h"
#include <gio/gio.h>

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
  return s;
}

GST_CHECK_MAIN (sipsink);
