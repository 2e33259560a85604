/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * sipsrc receives real UDP packets sent by the test from 127.0.0.1. Every
 * test runs twice, in the test cases "own" and "shared": with sipsrc's own
 * streaming thread and with the shared receive thread
 * (#GstSipSrc:receive-thread).
 */
#define _GNU_SOURCE /* pthread_getname_np */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/rtp/gstrtcpbuffer.h>
#include "siptestutil.h"
#include <gio/gio.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

static const gchar *receive_thread = "own";

static void
use_own_thread (void)
{
  receive_thread = "own";
}

static void
use_shared_thread (void)
{
  receive_thread = "shared";
}

static void
set_receive_thread (GstElement *sipsrc)
{
  gst_util_set_object_arg (G_OBJECT (sipsrc), "receive-thread", receive_thread);
}

static GstHarness *
sipsrc_harness (void)
{
  GstHarness *h = gst_harness_new_with_padnames ("sipsrc", NULL, "src");

  set_receive_thread (h->element);
  return h;
}

typedef struct
{
  GstHarness *h;
  GstBus *bus;
  GSocket *sender;
  GSocketAddress *target;
} Fixture;

static void
fixture_setup (Fixture *f, const gchar *filter)
{
  GSocket *rtp_socket;

  f->h = sipsrc_harness ();
  f->sender = udp_socket ();
  g_object_set (f->h->element, "address", "127.0.0.1", "port", 0,
      "remote-address", "127.0.0.1", "remote-port",
      (gint) local_port (f->sender), "telephone-event-payload", 101, NULL);
  gst_util_set_object_arg (G_OBJECT (f->h->element), "caps", PCMU_CAPS);
  gst_util_set_object_arg (G_OBJECT (f->h->element), "source-filter", filter);
  f->bus = gst_bus_new ();
  gst_element_set_bus (f->h->element, f->bus);
  gst_harness_play (f->h);

  g_object_get (f->h->element, "socket", &rtp_socket, NULL);
  fail_unless (rtp_socket != NULL);
  {
    GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
    f->target = g_inet_socket_address_new (lo, local_port (rtp_socket));
    g_object_unref (lo);
  }
  g_object_unref (rtp_socket);
}

static void
fixture_teardown (Fixture *f)
{
  gst_harness_teardown (f->h);
  gst_bus_set_flushing (f->bus, TRUE);
  gst_object_unref (f->bus);
  g_object_unref (f->sender);
  g_object_unref (f->target);
}

static gsize
make_rtp (guint8 *buf, guint8 pt, guint16 seq, guint32 ts, guint32 ssrc,
    gboolean marker, gsize payload_len)
{
  gsize i;

  buf[0] = 0x80;
  buf[1] = (marker ? 0x80 : 0) | pt;
  GST_WRITE_UINT16_BE (buf + 2, seq);
  GST_WRITE_UINT32_BE (buf + 4, ts);
  GST_WRITE_UINT32_BE (buf + 8, ssrc);
  for (i = 0; i < payload_len; i++)
    buf[12 + i] = (guint8) (seq + i);
  return 12 + payload_len;
}

static void
send_raw (GSocket *s, GSocketAddress *to, const guint8 *data, gsize len)
{
  fail_unless (g_socket_send_to (s, to, (const gchar *) data, len, NULL,
                   NULL) == (gssize) len);
}

static void
send_rtp (Fixture *f, GSocket *from, guint8 pt, guint16 seq, guint32 ssrc)
{
  guint8 buf[200];
  gsize len = make_rtp (buf, pt, seq, seq * 160, ssrc, FALSE, 160);

  send_raw (from ? from : f->sender, f->target, buf, len);
}

static guint16
pull_seq (Fixture *f, gboolean *discont)
{
  GstBuffer *buf = gst_harness_pull (f->h);
  GstMapInfo map;
  guint16 seq;

  fail_unless (buf != NULL);
  gst_buffer_map (buf, &map, GST_MAP_READ);
  seq = GST_READ_UINT16_BE (map.data + 2);
  gst_buffer_unmap (buf, &map);
  if (discont)
    *discont = GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT);
  gst_buffer_unref (buf);
  return seq;
}

GST_START_TEST (test_valid_packets_pass_with_call_caps)
{
  Fixture f;
  GstCaps *caps, *expected;
  gboolean discont;

  fixture_setup (&f, "strict");
  send_rtp (&f, NULL, 0, 100, 0x1234);
  send_rtp (&f, NULL, 0, 101, 0x1234);
  fail_unless_equals_int (pull_seq (&f, &discont), 100);
  fail_unless (discont);
  fail_unless_equals_int (pull_seq (&f, &discont), 101);
  fail_if (discont);

  caps = gst_pad_get_current_caps (f.h->sinkpad);
  expected = gst_caps_from_string (PCMU_CAPS);
  fail_unless (gst_caps_is_equal (caps, expected));
  gst_caps_unref (caps);
  gst_caps_unref (expected);
  fail_unless_equals_int (element_stat (f.h->element, "packets-pushed"), 2);
  fixture_teardown (&f);
}

GST_END_TEST;

static GstPadProbeReturn
note_pushing_thread (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  gchar *name = user_data;

  if (name[0] == '\0')
    pthread_getname_np (pthread_self (), name, 16);
  return GST_PAD_PROBE_OK;
}

/* The packets come from the thread #GstSipSrc:receive-thread names, as a
 * live source's: after a segment, timestamped with their running time. */
GST_START_TEST (test_receive_thread_pushes_timestamped_buffers)
{
  Fixture f;
  gchar thread_name[16] = "";
  GstPad *srcpad;
  GstEvent *segment;
  GstBuffer *buf;

  fixture_setup (&f, "strict");
  srcpad = gst_element_get_static_pad (f.h->element, "src");
  gst_pad_add_probe (srcpad, GST_PAD_PROBE_TYPE_BUFFER, note_pushing_thread,
      thread_name, NULL);
  gst_object_unref (srcpad);
  send_rtp (&f, NULL, 0, 100, 0x1234);
  buf = gst_harness_pull (f.h);
  fail_unless (GST_BUFFER_PTS_IS_VALID (buf));
  fail_unless (GST_BUFFER_DTS_IS_VALID (buf));
  gst_buffer_unref (buf);
  segment = gst_pad_get_sticky_event (f.h->sinkpad, GST_EVENT_SEGMENT, 0);
  fail_unless (segment != NULL);
  gst_event_unref (segment);
  if (g_str_equal (receive_thread, "shared")) {
    fail_unless_equals_string (thread_name, "sip-rtp-recv");
  } else {
    fail_unless (g_str_has_prefix (thread_name, "sipsrc"), "%s", thread_name);
  }
  fixture_teardown (&f);
}

GST_END_TEST;

GST_START_TEST (test_invalid_packets_dropped_and_counted)
{
  Fixture f;
  guint8 buf[300];
  gsize len;

  fixture_setup (&f, "strict");

  /* shorter than a header */
  send_raw (f.sender, f.target, (const guint8 *) "\x80\x00\x00", 3);
  /* version 1 */
  len = make_rtp (buf, 0, 1, 0, 0x1234, FALSE, 160);
  buf[0] = 0x40;
  send_raw (f.sender, f.target, buf, len);
  /* 15 CSRCs announced, packet too short for them */
  len = make_rtp (buf, 0, 2, 0, 0x1234, FALSE, 20);
  buf[0] = 0x8f;
  send_raw (f.sender, f.target, buf, len);
  /* header extension longer than the packet */
  len = make_rtp (buf, 0, 3, 0, 0x1234, FALSE, 8);
  buf[0] = 0x90;
  GST_WRITE_UINT16_BE (buf + 14, 200);
  send_raw (f.sender, f.target, buf, len);
  /* padding count larger than the payload */
  len = make_rtp (buf, 0, 4, 0, 0x1234, FALSE, 10);
  buf[0] = 0xa0;
  buf[len - 1] = 100;
  send_raw (f.sender, f.target, buf, len);
  /* payload type not negotiated */
  send_rtp (&f, NULL, 8, 5, 0x1234);
  /* then a good one gets through */
  send_rtp (&f, NULL, 0, 6, 0x1234);

  fail_unless_equals_int (pull_seq (&f, NULL), 6);
  fail_unless_equals_int (element_stat (f.h->element, "dropped-invalid"), 5);
  fail_unless_equals_int (
      element_stat (f.h->element, "dropped-payload-type"), 1);
  fail_unless_equals_int (element_stat (f.h->element, "packets-received"), 7);
  fixture_teardown (&f);
}

GST_END_TEST;

GST_START_TEST (test_strict_source_drops_other_senders)
{
  Fixture f;
  GSocket *intruder = udp_socket ();

  fixture_setup (&f, "strict");
  send_rtp (&f, intruder, 0, 1, 0x9999);
  send_rtp (&f, intruder, 0, 2, 0x9999);
  send_rtp (&f, NULL, 0, 50, 0x1234);
  fail_unless_equals_int (pull_seq (&f, NULL), 50);
  fail_unless_equals_int (element_stat (f.h->element, "dropped-source"), 2);
  g_object_unref (intruder);
  fixture_teardown (&f);
}

GST_END_TEST;

GST_START_TEST (test_latch_follows_new_source_after_silence)
{
  Fixture f;
  GSocket *nat = udp_socket ();

  fixture_setup (&f, "latch");
  g_object_set (f.h->element, "latch-timeout", 100, NULL);
  send_rtp (&f, NULL, 0, 1, 0x1234);
  fail_unless_equals_int (pull_seq (&f, NULL), 1);
  /* while the first source talks, a second one is ignored */
  send_rtp (&f, nat, 0, 500, 0x5678);
  send_rtp (&f, NULL, 0, 2, 0x1234);
  fail_unless_equals_int (pull_seq (&f, NULL), 2);
  fail_unless_equals_int (element_stat (f.h->element, "dropped-source"), 1);
  /* after silence, the new source is latched */
  g_usleep (250 * 1000);
  send_rtp (&f, nat, 0, 501, 0x5678);
  fail_unless_equals_int (pull_seq (&f, NULL), 501);
  fail_unless_equals_int (element_stat (f.h->element, "relatches"), 1);
  g_object_unref (nat);
  fixture_teardown (&f);
}

GST_END_TEST;

GST_START_TEST (test_ssrc_change_reanchors)
{
  Fixture f;
  gboolean discont;

  fixture_setup (&f, "strict");
  send_rtp (&f, NULL, 0, 10, 0x1111);
  send_rtp (&f, NULL, 0, 11, 0x1111);
  send_rtp (&f, NULL, 0, 40000, 0x2222);
  send_rtp (&f, NULL, 0, 40001, 0x2222);
  fail_unless_equals_int (pull_seq (&f, NULL), 10);
  fail_unless_equals_int (pull_seq (&f, &discont), 11);
  fail_if (discont);
  fail_unless_equals_int (pull_seq (&f, &discont), 40000);
  fail_unless (discont);
  fail_unless_equals_int (pull_seq (&f, &discont), 40001);
  fail_if (discont);
  fail_unless_equals_int (element_stat (f.h->element, "ssrc-changes"), 1);
  fixture_teardown (&f);
}

GST_END_TEST;

GST_START_TEST (test_sequence_wrap_and_jump)
{
  Fixture f;
  gboolean discont;

  fixture_setup (&f, "strict");
  send_rtp (&f, NULL, 0, 65534, 0x1234);
  send_rtp (&f, NULL, 0, 65535, 0x1234);
  send_rtp (&f, NULL, 0, 0, 0x1234);
  send_rtp (&f, NULL, 0, 1, 0x1234);
  /* a lone jump is not believed ... */
  send_rtp (&f, NULL, 0, 20000, 0x1234);
  /* ... until the next packet confirms it */
  send_rtp (&f, NULL, 0, 30000, 0x1234);
  send_rtp (&f, NULL, 0, 30001, 0x1234);
  fail_unless_equals_int (pull_seq (&f, NULL), 65534);
  fail_unless_equals_int (pull_seq (&f, NULL), 65535);
  fail_unless_equals_int (pull_seq (&f, &discont), 0);
  fail_if (discont);
  fail_unless_equals_int (pull_seq (&f, NULL), 1);
  fail_unless_equals_int (pull_seq (&f, &discont), 30001);
  fail_unless (discont);
  fail_unless_equals_int (element_stat (f.h->element, "dropped-sequence"), 2);
  fixture_teardown (&f);
}

GST_END_TEST;

static void
send_event (Fixture *f, guint16 seq, guint32 ts, gboolean marker, guint8 event,
    gboolean end, guint16 duration)
{
  guint8 buf[16];

  make_rtp (buf, 101, seq, ts, 0x1234, marker, 4);
  buf[12] = event;
  buf[13] = (end ? 0x80 : 0) | 10;
  GST_WRITE_UINT16_BE (buf + 14, duration);
  send_raw (f->sender, f->target, buf, 16);
}

static GstStructure *
pop_dtmf_message (Fixture *f)
{
  GstMessage *msg =
      gst_bus_timed_pop_filtered (f->bus, 5 * GST_SECOND, GST_MESSAGE_ELEMENT);
  GstStructure *s;

  fail_unless (msg != NULL);
  s = gst_structure_copy (gst_message_get_structure (msg));
  gst_message_unref (msg);
  fail_unless (gst_structure_has_name (s, "dtmf-event"));
  return s;
}

static void
check_dtmf (GstStructure *s, gint number, gboolean start)
{
  gint v;
  gboolean b;

  fail_unless (gst_structure_get_int (s, "type", &v) && v == 1);
  fail_unless (gst_structure_get_int (s, "method", &v) && v == 1);
  fail_unless (gst_structure_get_int (s, "number", &v));
  fail_unless_equals_int (v, number);
  fail_unless (gst_structure_get_int (s, "volume", &v) && v == 10);
  fail_unless (gst_structure_get_boolean (s, "start", &b));
  fail_unless_equals_int (b, start);
  gst_structure_free (s);
}

GST_START_TEST (test_telephone_events)
{
  Fixture f;
  GstEvent *ev;
  gint n_custom = 0;
  GstStructure *s;
  gint duration;

  fixture_setup (&f, "strict");
  send_rtp (&f, NULL, 0, 1, 0x1234);
  /* digit 5: marker, updates, three end packets */
  send_event (&f, 2, 1000, TRUE, 5, FALSE, 160);
  send_event (&f, 3, 1000, FALSE, 5, FALSE, 320);
  send_event (&f, 4, 1000, FALSE, 5, TRUE, 800);
  send_event (&f, 5, 1000, FALSE, 5, TRUE, 800);
  send_event (&f, 6, 1000, FALSE, 5, TRUE, 800);
  /* '#' with its marker packet lost, and its end packets lost too */
  send_event (&f, 8, 3000, FALSE, 11, FALSE, 320);
  /* '*' starting: ends '#' */
  send_event (&f, 9, 5000, TRUE, 10, FALSE, 160);
  send_rtp (&f, NULL, 0, 10, 0x1234);

  fail_unless_equals_int (pull_seq (&f, NULL), 1);
  /* renumbered past the 7 event packets taken out (2-6, 8, 9); the lost 7
   * still shows as one lost packet */
  fail_unless_equals_int (pull_seq (&f, NULL), 3);

  check_dtmf (pop_dtmf_message (&f), 5, TRUE);
  s = pop_dtmf_message (&f);
  fail_unless (gst_structure_get_int (s, "duration", &duration));
  fail_unless_equals_int (duration, 100);
  check_dtmf (s, 5, FALSE);
  check_dtmf (pop_dtmf_message (&f), 11, TRUE);
  check_dtmf (pop_dtmf_message (&f), 11, FALSE);
  check_dtmf (pop_dtmf_message (&f), 10, TRUE);
  fail_unless (gst_bus_pop_filtered (f.bus, GST_MESSAGE_ELEMENT) == NULL);

  /* the same events travel downstream; the call's audio already went, so
   * out of band */
  while ((ev = gst_harness_try_pull_event (f.h))) {
    if (GST_EVENT_TYPE (ev) == GST_EVENT_CUSTOM_DOWNSTREAM_OOB &&
        gst_event_has_name (ev, "dtmf-event"))
      n_custom++;
    gst_event_unref (ev);
  }
  fail_unless_equals_int (n_custom, 5);
  fail_unless_equals_int (element_stat (f.h->element, "dtmf-events"), 3);
  fixture_teardown (&f);
}

GST_END_TEST;

/* The dtmf-event events that reached the end of @h within @timeout_ms:
 * each as "N+" (start) or "N-" (end). */
static gchar *
wait_dtmf_events (GstHarness *h, guint n_wanted, guint timeout_ms)
{
  GString *got = g_string_new (NULL);
  guint n = 0, waited = 0;
  GstEvent *ev;

  while (n < n_wanted && waited < timeout_ms) {
    while ((ev = gst_harness_try_pull_event (h))) {
      if (gst_event_has_name (ev, "dtmf-event")) {
        const GstStructure *s = gst_event_get_structure (ev);
        gint number = -1;
        gboolean start = FALSE;

        gst_structure_get_int (s, "number", &number);
        gst_structure_get_boolean (s, "start", &start);
        g_string_append_printf (got, "%d%c", number, start ? '+' : '-');
        n++;
      }
      gst_event_unref (ev);
    }
    if (n < n_wanted) {
      g_usleep (10000);
      waited += 10;
    }
  }
  return g_string_free (got, FALSE);
}

/* A phone that sends RFC 4733 events instead of audio while a key is held:
 * the digit must reach the element after the decoder at once, not when audio
 * resumes. GstAudioDecoder (mulawdec) holds serialized events until its
 * next decoded buffer; sipsrc sends them out of band for that reason. */
GST_START_TEST (test_dtmf_passes_decoder_without_audio)
{
  GstHarness *h =
      gst_harness_new_parse ("sipsrc name=src ! rtppcmudepay ! mulawdec");
  GstElement *src = gst_bin_get_by_name (GST_BIN (h->element), "src");
  GSocket *caller = udp_socket (), *rtp_socket;
  GSocketAddress *to;
  GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  guint8 pkt[12 + 160];
  GstBuffer *buf;
  gchar *got;
  gsize len;
  guint16 seq;

  set_receive_thread (src);
  g_object_set (src, "address", "127.0.0.1", "port", 0, "remote-address",
      "127.0.0.1", "remote-port", (gint) local_port (caller),
      "telephone-event-payload", 101, NULL);
  gst_util_set_object_arg (G_OBJECT (src), "caps", PCMU_CAPS);
  gst_harness_play (h);
  g_object_get (src, "socket", &rtp_socket, NULL);
  to = g_inet_socket_address_new (lo, local_port (rtp_socket));

  len = make_rtp (pkt, 0, 1, 0, 0x4444, FALSE, 160);
  send_raw (caller, to, pkt, len);
  buf = gst_harness_pull (h);
  fail_unless (buf != NULL);
  gst_buffer_unref (buf);

  /* '7' pressed, updates, three end packets; no audio after it */
  for (seq = 2; seq <= 7; seq++) {
    guint8 ev[16];

    make_rtp (ev, 101, seq, 160, 0x4444, seq == 2, 4);
    ev[12] = 7;
    ev[13] = (seq >= 5 ? 0x80 : 0) | 10;
    GST_WRITE_UINT16_BE (ev + 14, MIN (seq - 1, 4) * 160);
    send_raw (caller, to, ev, 16);
  }
  got = wait_dtmf_events (h, 2, 2000);
  fail_unless_equals_string (got, "7+7-");
  g_free (got);

  gst_harness_teardown (h);
  gst_object_unref (src);
  g_object_unref (to);
  g_object_unref (lo);
  g_object_unref (rtp_socket);
  g_object_unref (caller);
}

GST_END_TEST;

/* sipbin hands sipsrc the key presses of SIP INFO requests as out-of-band
 * events (gst_element_send_event()), after the call's sip-call-started: the
 * streaming thread pushes them in that order, at once, with no packet
 * needed. A key of the call's own RFC 4733 packets then goes out of band
 * too. */
GST_START_TEST (test_injected_dtmf_event)
{
  Fixture f;
  GString *got = g_string_new (NULL);
  GstEvent *ev;
  guint waited;

  fixture_setup (&f, "strict");
  fail_unless (gst_element_send_event (f.h->element,
      gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_OOB,
          gst_structure_new_empty ("sip-call-started"))));
  fail_unless (gst_element_send_event (f.h->element,
      gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_OOB,
          gst_structure_new ("dtmf-event", "type", G_TYPE_INT, 1, "number",
              G_TYPE_INT, 3, "method", G_TYPE_INT, 3, "start", G_TYPE_BOOLEAN,
              TRUE, NULL))));
  for (waited = 0; waited < 2000 && !strstr (got->str, "dtmf-event");
       waited += 10) {
    while ((ev = gst_harness_try_pull_event (f.h))) {
      if (GST_EVENT_TYPE (ev) == GST_EVENT_CUSTOM_DOWNSTREAM_OOB)
        g_string_append_printf (
            got, "%s;", gst_structure_get_name (gst_event_get_structure (ev)));
      gst_event_unref (ev);
    }
    g_usleep (10000);
  }
  fail_unless_equals_string (got->str, "sip-call-started;dtmf-event;");

  /* the call has started: the call's own keys go out of band at once */
  g_string_truncate (got, 0);
  send_event (&f, 1, 1000, TRUE, 5, FALSE, 160);
  for (waited = 0; waited < 2000 && got->len == 0; waited += 10) {
    while ((ev = gst_harness_try_pull_event (f.h))) {
      if (gst_event_has_name (ev, "dtmf-event"))
        g_string_append_printf (got, "%d;", GST_EVENT_TYPE (ev));
      gst_event_unref (ev);
    }
    g_usleep (10000);
  }
  {
    gchar *want = g_strdup_printf ("%d;", GST_EVENT_CUSTOM_DOWNSTREAM_OOB);

    fail_unless_equals_string (got->str, want);
    g_free (want);
  }
  g_string_free (got, TRUE);
  fixture_teardown (&f);
}

GST_END_TEST;

/* Without sipbin, a key before the call's first audio is serialized behind
 * sipsrc's own sip-call-started, so that it never overtakes the call's
 * start. */
GST_START_TEST (test_dtmf_before_media_follows_call_start)
{
  Fixture f;
  GString *got = g_string_new (NULL);
  GstEvent *ev;

  fixture_setup (&f, "strict");
  send_event (&f, 1, 1000, TRUE, 4, FALSE, 160);
  send_event (&f, 2, 1000, FALSE, 4, TRUE, 320);
  send_rtp (&f, NULL, 0, 3, 0x1234);
  /* numbered on from the two event packets taken out */
  fail_unless_equals_int (pull_seq (&f, NULL), 1);
  while ((ev = gst_harness_try_pull_event (f.h))) {
    if (gst_event_has_name (ev, "sip-call-started") ||
        gst_event_has_name (ev, "dtmf-event"))
      g_string_append_printf (got, "%s%s;",
          gst_structure_get_name (gst_event_get_structure (ev)),
          GST_EVENT_IS_SERIALIZED (ev) ? "" : "(oob)");
    gst_event_unref (ev);
  }
  fail_unless_equals_string (
      got->str, "sip-call-started;dtmf-event;dtmf-event;");
  g_string_free (got, TRUE);
  fixture_teardown (&f);
}

GST_END_TEST;

static gchar *
pull_call_started (Fixture *f)
{
  GstEvent *ev;
  gchar *call_id = NULL;
  guint n = 0;

  while ((ev = gst_harness_try_pull_event (f->h))) {
    if (gst_event_has_name (ev, "sip-call-started")) {
      n++;
      g_free (call_id);
      call_id = g_strdup (
          gst_structure_get_string (gst_event_get_structure (ev), "call-id"));
    }
    gst_event_unref (ev);
  }
  fail_unless_equals_int (n, 1);
  return call_id;
}

/* Elements that keep per-call state learn from sipsrc that a new call's
 * media begins, before its first packet. */
GST_START_TEST (test_call_started_event)
{
  Fixture f;
  GSocket *second = udp_socket ();
  GSocketAddress *to;
  guint8 pkt[12 + 160];
  gsize len;
  gchar *call_id;
  gboolean discont;

  fixture_setup (&f, "strict");
  send_rtp (&f, NULL, 0, 1, 0x1111);
  fail_unless_equals_int (pull_seq (&f, NULL), 1);
  call_id = pull_call_started (&f);
  fail_unless (call_id == NULL);

  /* the next call, on its own socket, as sipbin hands it over */
  g_object_set (f.h->element, "call-id", "b84b4c76e66710@example.com", "socket",
      second, NULL);
  {
    GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);

    to = g_inet_socket_address_new (lo, local_port (second));
    g_object_unref (lo);
  }
  len = make_rtp (pkt, 0, 500, 160, 0x2222, FALSE, 160);
  send_raw (f.sender, to, pkt, len);
  fail_unless_equals_int (pull_seq (&f, &discont), 500);
  fail_unless (discont);
  call_id = pull_call_started (&f);
  fail_unless_equals_string (call_id, "b84b4c76e66710@example.com");
  g_free (call_id);

  g_object_unref (to);
  g_object_unref (second);
  fixture_teardown (&f);
}

GST_END_TEST;

static GstPadProbeReturn
note_event_thread (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);

  if (GST_EVENT_TYPE (ev) == GST_EVENT_CUSTOM_DOWNSTREAM_OOB)
    g_atomic_pointer_set ((gpointer *) data, g_thread_self ());
  return GST_PAD_PROBE_OK;
}

/* sipbin announces an answered call (and a hold) with out-of-band events
 * given to sipsrc: they go downstream at once, before any packet, from
 * sipsrc's streaming thread; sipsrc then sends no sip-call-started of its
 * own for that call. */
GST_START_TEST (test_announced_call_events)
{
  GstHarness *h = sipsrc_harness ();
  GSocket *rtp = udp_socket (), *caller = udp_socket ();
  GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  GSocketAddress *to = g_inet_socket_address_new (lo, local_port (rtp));
  guint8 pkt[12 + 160];
  gsize len = make_rtp (pkt, 0, 7, 160, 0x3333, FALSE, 160);
  gpointer pusher = NULL;
  GstBuffer *buf;
  GstEvent *ev;
  gint started = 0, held = 0, i;

  gst_util_set_object_arg (G_OBJECT (h->element), "caps", PCMU_CAPS);
  g_object_set (h->element, "remote-address", "127.0.0.1", "remote-port",
      (gint) local_port (caller), "call-id", "c1@example.com", "socket", rtp,
      NULL);
  gst_pad_add_probe (h->sinkpad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
      note_event_thread, &pusher, NULL);
  gst_harness_play (h);
  fail_unless (gst_element_send_event (h->element,
      gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_OOB,
          gst_structure_new ("sip-call-started", "call-id", G_TYPE_STRING,
              "c1@example.com", NULL))));
  fail_unless (gst_element_send_event (h->element,
      gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_OOB,
          gst_structure_new ("sip-call-hold", "held", G_TYPE_BOOLEAN, TRUE,
              "call-id", G_TYPE_STRING, "c1@example.com", NULL))));
  for (i = 0; i < 500 && held == 0; i++) {
    while ((ev = gst_harness_try_pull_event (h))) {
      if (gst_event_has_name (ev, "sip-call-started")) {
        fail_unless_equals_int (held, 0);
        started++;
      }
      held += gst_event_has_name (ev, "sip-call-hold");
      gst_event_unref (ev);
    }
    if (held == 0)
      g_usleep (10000);
  }
  fail_unless_equals_int (started, 1);
  fail_unless_equals_int (held, 1);
  fail_unless (pusher != NULL && pusher != g_thread_self (),
      "sipbin's events must be pushed by the streaming thread");

  /* the first packet brings no second sip-call-started */
  send_raw (caller, to, pkt, len);
  buf = gst_harness_pull (h);
  fail_unless (buf != NULL);
  gst_buffer_unref (buf);
  while ((ev = gst_harness_try_pull_event (h))) {
    fail_if (gst_event_has_name (ev, "sip-call-started"));
    gst_event_unref (ev);
  }

  gst_harness_teardown (h);
  g_object_unref (to);
  g_object_unref (lo);
  g_object_unref (rtp);
  g_object_unref (caller);
}

GST_END_TEST;

/* When sipbin takes the socket away at the end of a call, sipsrc says so
 * at once, so that the speech loop stops talking to nobody and reports
 * what it has. */
GST_START_TEST (test_call_ended_event)
{
  GstHarness *h = sipsrc_harness ();
  GSocket *rtp = udp_socket (), *caller = udp_socket ();
  GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  GSocketAddress *to = g_inet_socket_address_new (lo, local_port (rtp));
  guint8 pkt[12 + 160];
  gsize len = make_rtp (pkt, 0, 7, 160, 0x3333, FALSE, 160);
  GstBuffer *buf;
  GstEvent *ev;
  gboolean ended = FALSE;
  gint i;

  gst_util_set_object_arg (G_OBJECT (h->element), "caps", PCMU_CAPS);
  g_object_set (h->element, "remote-address", "127.0.0.1", "remote-port",
      (gint) local_port (caller), "call-id", "a84b4c76e66710@example.com",
      "socket", rtp, NULL);
  gst_harness_play (h);
  send_raw (caller, to, pkt, len);
  buf = gst_harness_pull (h);
  fail_unless (buf != NULL);
  gst_buffer_unref (buf);

  g_object_set (h->element, "socket", NULL, NULL);
  /* the event is pushed by the streaming thread: wait for it */
  for (i = 0; i < 500 && !ended; i++) {
    while ((ev = gst_harness_try_pull_event (h))) {
      if (gst_event_has_name (ev, "sip-call-ended")) {
        fail_unless_equals_string (
            gst_structure_get_string (gst_event_get_structure (ev), "call-id"),
            "a84b4c76e66710@example.com");
        ended = TRUE;
      }
      gst_event_unref (ev);
    }
    if (!ended)
      g_usleep (10000);
  }
  fail_unless (ended, "no sip-call-ended event");

  gst_harness_teardown (h);
  g_object_unref (to);
  g_object_unref (lo);
  g_object_unref (rtp);
  g_object_unref (caller);
}

GST_END_TEST;

/* ---- RTCP ---- */

static void
send_rtcp (GSocket *from, GSocket *to_socket, GstBuffer *rtcp)
{
  GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  GSocketAddress *to = g_inet_socket_address_new (lo, local_port (to_socket));
  GstMapInfo map;

  gst_buffer_map (rtcp, &map, GST_MAP_READ);
  send_raw (from, to, map.data, map.size);
  gst_buffer_unmap (rtcp, &map);
  gst_buffer_unref (rtcp);
  g_object_unref (to);
  g_object_unref (lo);
}

static gdouble
double_stat (GstElement *element, const gchar *name)
{
  GstStructure *s;
  gdouble v = -100;

  g_object_get (element, "stats", &s, NULL);
  gst_structure_get_double (s, name, &v);
  gst_structure_free (s);
  return v;
}

/* RTCP both ways (RFC 3550 6): sipsrc sends the far end (RTP port + 1) a
 * receiver report on its stream with the last SR's time, and takes the far
 * end's reports on ours (from its address only) into its stats. */
GST_START_TEST (test_rtcp_reports)
{
  GstHarness *h = sipsrc_harness ();
  GSocket *rtp = udp_socket (), *rtcp = udp_socket ();
  GSocket *far_rtp = NULL, *far_rtcp = NULL, *stranger;
  GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  GSocketAddress *to = g_inet_socket_address_new (lo, local_port (rtp));
  GstRTCPBuffer r = GST_RTCP_BUFFER_INIT;
  GstRTCPPacket packet;
  GstBuffer *buf;
  guint8 pkt[1500];
  gssize n;
  guint32 ssrc, exthighest, jitter, lsr, dlsr, our_ssrc;
  guint8 fraction;
  gint32 lost;
  guint64 ntp = G_GUINT64_CONSTANT (0xe1a2b3c4d5e6f708);
  guint port, i;

  far_rtp = udp_socket_pair (41000, &far_rtcp);
  port = local_port (far_rtp);
  gst_util_set_object_arg (G_OBJECT (h->element), "caps", PCMU_CAPS);
  g_object_set (h->element, "remote-address", "127.0.0.1", "remote-port",
      (gint) port, "socket", rtp, "rtcp-socket", rtcp, NULL);
  gst_harness_play (h);

  for (i = 1; i <= 10; i++) {
    gsize len = make_rtp (pkt, 0, i, i * 160, 0xabcd, FALSE, 160);

    send_raw (far_rtp, to, pkt, len);
    gst_buffer_unref (gst_harness_pull (h));
  }
  /* its sender report */
  buf = gst_rtcp_buffer_new (1500);
  gst_rtcp_buffer_map (buf, GST_MAP_READWRITE, &r);
  gst_rtcp_buffer_add_packet (&r, GST_RTCP_TYPE_SR, &packet);
  gst_rtcp_packet_sr_set_sender_info (&packet, 0xabcd, ntp, 1600, 10, 1600);
  gst_rtcp_buffer_unmap (&r);
  send_rtcp (far_rtcp, rtcp, buf);

  /* our first report, 2.5 s into the call: a receiver report (sipsink sent
   * nothing) on its stream */
  n = g_socket_receive (far_rtcp, (gchar *) pkt, sizeof (pkt), NULL, NULL);
  fail_unless (n > 0, "no RTCP from sipsrc");
  fail_unless (gst_rtcp_buffer_validate_data (pkt, n));
  buf = gst_buffer_new_memdup (pkt, n);
  gst_rtcp_buffer_map (buf, GST_MAP_READ, &r);
  fail_unless (gst_rtcp_buffer_get_first_packet (&r, &packet));
  fail_unless_equals_int (gst_rtcp_packet_get_type (&packet), GST_RTCP_TYPE_RR);
  our_ssrc = gst_rtcp_packet_rr_get_ssrc (&packet);
  fail_unless_equals_int (gst_rtcp_packet_get_rb_count (&packet), 1);
  gst_rtcp_packet_get_rb (
      &packet, 0, &ssrc, &fraction, &lost, &exthighest, &jitter, &lsr, &dlsr);
  fail_unless_equals_int (ssrc, 0xabcd);
  fail_unless_equals_int (fraction, 0);
  fail_unless_equals_int (lost, 0);
  fail_unless_equals_int (exthighest, 10);
  fail_unless_equals_int (lsr, (guint32) (ntp >> 16));
  fail_unless (dlsr > 0 && dlsr < 10 * 65536);
  fail_unless (gst_rtcp_packet_move_to_next (&packet));
  fail_unless_equals_int (
      gst_rtcp_packet_get_type (&packet), GST_RTCP_TYPE_SDES);
  gst_rtcp_buffer_unmap (&r);
  gst_buffer_unref (buf);

  /* its receiver report on our stream: 25% lost, 3 packets, jitter 80 */
  buf = gst_rtcp_buffer_new (1500);
  gst_rtcp_buffer_map (buf, GST_MAP_READWRITE, &r);
  gst_rtcp_buffer_add_packet (&r, GST_RTCP_TYPE_RR, &packet);
  gst_rtcp_packet_rr_set_ssrc (&packet, 0xabcd);
  gst_rtcp_packet_add_rb (&packet, our_ssrc, 64, 3, 1000, 80, 0, 0);
  gst_rtcp_buffer_unmap (&r);
  send_rtcp (far_rtcp, rtcp, buf);
  /* not RTCP, and RTCP from another host: dropped */
  send_rtcp (far_rtcp, rtcp, gst_buffer_new_memdup ("hello", 5));
  stranger = udp_socket_at ("127.0.0.2", 0);
  fail_unless (stranger != NULL);
  buf = gst_rtcp_buffer_new (1500);
  gst_rtcp_buffer_map (buf, GST_MAP_READWRITE, &r);
  gst_rtcp_buffer_add_packet (&r, GST_RTCP_TYPE_RR, &packet);
  gst_rtcp_packet_rr_set_ssrc (&packet, 0x5555);
  gst_rtcp_buffer_unmap (&r);
  send_rtcp (stranger, rtcp, buf);

  for (i = 0; i < 200 && element_stat (h->element, "rtcp-received") < 2; i++)
    g_usleep (10000);
  fail_unless_equals_int (element_stat (h->element, "rtcp-received"), 2);
  fail_unless (element_stat (h->element, "rtcp-sent") >= 1);
  fail_unless_equals_float (
      double_stat (h->element, "remote-fraction-lost"), 0.25);
  fail_unless_equals_float (double_stat (h->element, "remote-jitter-ms"), 10);
  fail_unless_equals_float (double_stat (h->element, "round-trip-ms"), -1);
  {
    GstStructure *st;
    gint64 remote_lost = 0;

    g_object_get (h->element, "stats", &st, NULL);
    gst_structure_get_int64 (st, "remote-packets-lost", &remote_lost);
    gst_structure_free (st);
    fail_unless_equals_int64 (remote_lost, 3);
  }
  /* a report answering a sender report of ours 1 ms after it was sent
   * (counted as 0 s) whose DLSR, rounded up to the millisecond, says 2 ms:
   * a round trip of about nothing, not a wrapped-around "none" */
  {
    gint64 sent_us = g_get_real_time () - 1000;

    /* middle 32 bits of the NTP time (seconds from 1900) */
    lsr = (guint32) ((sent_us / G_USEC_PER_SEC + G_GINT64_CONSTANT (2208988800))
            << 16 |
        ((sent_us % G_USEC_PER_SEC) << 16) / G_USEC_PER_SEC);
  }
  buf = gst_rtcp_buffer_new (1500);
  gst_rtcp_buffer_map (buf, GST_MAP_READWRITE, &r);
  gst_rtcp_buffer_add_packet (&r, GST_RTCP_TYPE_RR, &packet);
  gst_rtcp_packet_rr_set_ssrc (&packet, 0xabcd);
  gst_rtcp_packet_add_rb (&packet, our_ssrc, 0, 3, 1000, 80, lsr, 131);
  gst_rtcp_buffer_unmap (&r);
  send_rtcp (far_rtcp, rtcp, buf);
  for (i = 0; i < 200 && element_stat (h->element, "rtcp-received") < 3; i++)
    g_usleep (10000);
  fail_unless_equals_int (element_stat (h->element, "rtcp-received"), 3);
  fail_unless (double_stat (h->element, "round-trip-ms") >= 0);
  fail_unless (double_stat (h->element, "round-trip-ms") < 50);
  /* the RR with the other packets in flight: give the stranger's time */
  for (i = 0; i < 200 && element_stat (h->element, "rtcp-dropped") < 2; i++)
    g_usleep (10000);
  fail_unless_equals_int (element_stat (h->element, "rtcp-dropped"), 2);

  gst_harness_teardown (h);
  g_object_unref (stranger);
  g_object_unref (to);
  g_object_unref (lo);
  g_object_unref (rtp);
  g_object_unref (rtcp);
  g_object_unref (far_rtp);
  g_object_unref (far_rtcp);
}

GST_END_TEST;

/* ---- RFC 3550 reception statistics ---- */

static void
check_reception (GstElement *element, guint64 expected, gint64 lost)
{
  GstStructure *s;
  guint64 got_expected;
  gint64 got_lost;

  g_object_get (element, "stats", &s, NULL);
  fail_unless (gst_structure_get_uint64 (s, "packets-expected", &got_expected));
  fail_unless (gst_structure_get_int64 (s, "packets-lost", &got_lost));
  gst_structure_free (s);
  fail_unless_equals_uint64 (got_expected, expected);
  fail_unless_equals_int64 (got_lost, lost);
}

static guint
get_jitter (GstElement *element, gdouble *jitter_ms)
{
  GstStructure *s;
  guint jitter;

  g_object_get (element, "stats", &s, NULL);
  fail_unless (gst_structure_get_uint (s, "jitter", &jitter));
  fail_unless (gst_structure_get_double (s, "jitter-ms", jitter_ms));
  gst_structure_free (s);
  return jitter;
}

/* Sends seqs[0..n) from the signalled address and pulls what gets through. */
static void
send_and_pull (
    Fixture *f, const guint16 *seqs, guint n, guint32 ssrc, guint n_pushed)
{
  guint i;

  for (i = 0; i < n; i++)
    send_rtp (f, NULL, 0, seqs[i], ssrc);
  for (i = 0; i < n_pushed; i++)
    pull_seq (f, NULL);
}

GST_START_TEST (test_reception_in_order_no_loss)
{
  Fixture f;
  guint16 seqs[50];
  guint i;

  fixture_setup (&f, "strict");
  for (i = 0; i < G_N_ELEMENTS (seqs); i++)
    seqs[i] = 1000 + i;
  send_and_pull (&f, seqs, G_N_ELEMENTS (seqs), 0x1234, G_N_ELEMENTS (seqs));
  check_reception (f.h->element, 50, 0);
  fixture_teardown (&f);
}

GST_END_TEST;

GST_START_TEST (test_reception_gaps_counted)
{
  Fixture f;
  /* 4, 5 and 7 never arrive; 11 to 19 are one burst lost at the end */
  const guint16 seqs[] = {1, 2, 3, 6, 8, 9, 10, 20};

  fixture_setup (&f, "strict");
  send_and_pull (&f, seqs, G_N_ELEMENTS (seqs), 0x1234, G_N_ELEMENTS (seqs));
  check_reception (f.h->element, 20, 12);
  fixture_teardown (&f);
}

GST_END_TEST;

GST_START_TEST (test_reception_sequence_wrap)
{
  Fixture f;
  /* across the wrap, 0 and 3 lost: the extended sequence number goes on
   * from 65535 to 65536 + 4 instead of starting again */
  const guint16 seqs[] = {65530, 65531, 65532, 65533, 65534, 65535, 1, 2, 4};

  fixture_setup (&f, "strict");
  send_and_pull (&f, seqs, G_N_ELEMENTS (seqs), 0x1234, G_N_ELEMENTS (seqs));
  check_reception (f.h->element, 11, 2);
  fixture_teardown (&f);
}

GST_END_TEST;

GST_START_TEST (test_reception_duplicates_and_reordering)
{
  Fixture f;
  /* 3 three times; 5 before 4; nothing lost: RFC 3550 A.3 counts the
   * duplicates as received, the loss goes negative */
  const guint16 seqs[] = {1, 2, 3, 3, 3, 5, 4, 6};

  fixture_setup (&f, "strict");
  send_and_pull (&f, seqs, G_N_ELEMENTS (seqs), 0x1234, G_N_ELEMENTS (seqs));
  check_reception (f.h->element, 6, -2);
  fixture_teardown (&f);
}

GST_END_TEST;

/* A confirmed sequence restart (A.1) starts a new count; what was received
 * before stays in the call's totals. */
GST_START_TEST (test_reception_sequence_restart)
{
  Fixture f;
  /* 102 lost; 20000 is a lone jump (dropped), 30000 and 30001 confirm a
   * restart at 30001; 30003 is a loss of the restarted sequence */
  const guint16 seqs[] = {100, 101, 103, 20000, 30000, 30001, 30002, 30004};

  fixture_setup (&f, "strict");
  send_and_pull (&f, seqs, G_N_ELEMENTS (seqs), 0x1234, 6);
  fail_unless_equals_int (element_stat (f.h->element, "dropped-sequence"), 2);
  check_reception (f.h->element, 4 + 4, 1 + 1);
  fixture_teardown (&f);
}

GST_END_TEST;

/* Sends one PCMU packet after setting the harness's test clock to
 * `arrival`, and checks that it went out with that timestamp: the arrival
 * time of the jitter is the time sipsrc's buffers are stamped with. */
static void
send_at (Fixture *f, GstTestClock *clock, guint16 seq, guint32 rtp_time,
    guint32 ssrc, GstClockTime arrival)
{
  guint8 pkt[12 + 160];
  gsize len = make_rtp (pkt, 0, seq, rtp_time, ssrc, FALSE, 160);
  GstBuffer *buf;

  gst_test_clock_set_time (clock, arrival);
  send_raw (f->sender, f->target, pkt, len);
  buf = gst_harness_pull (f->h);
  fail_unless (buf != NULL);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), arrival);
  gst_buffer_unref (buf);
}

GST_START_TEST (test_jitter_constant_transit_is_zero)
{
  Fixture f;
  GstTestClock *clock;
  gdouble jitter_ms;
  guint i;

  fixture_setup (&f, "strict");
  clock = gst_harness_get_testclock (f.h);
  /* every packet exactly 20 ms after the previous one, 160 samples later,
   * with an arbitrary RTP timestamp origin (wrapping too) */
  for (i = 0; i < 30; i++)
    send_at (&f, clock, 7 + i, 0xfffff000u + i * 160, 0x1234,
        GST_SECOND + i * 20 * GST_MSECOND);
  fail_unless_equals_int (get_jitter (f.h->element, &jitter_ms), 0);
  fail_unless (jitter_ms == 0.0);
  check_reception (f.h->element, 30, 0);
  gst_object_unref (clock);
  fixture_teardown (&f);
}

GST_END_TEST;

/* Packets sent every 20 ms (160 samples at 8 kHz) arrive late by
 * delay_ms[i]; the jitter is what RFC 3550 6.4.1 defines:
 * J(i) = J(i-1) + (|D(i-1,i)| - J(i-1))/16. sipsrc keeps the RFC's integer
 * version (A.8), which stays within half a timestamp unit of it. A
 * telephone-event in the middle (its RTP timestamp is the key press's
 * start) counts for the sequence but not for the jitter. */
GST_START_TEST (test_jitter_follows_rfc3550)
{
  static const guint delay_ms[] = {
      0, 3, 1, 7, 2, 0, 12, 4, 4, 1, 9, 0, 5, 2, 6, 3, 0, 8, 1, 2, 15, 0, 0, 6};
  Fixture f;
  GstTestClock *clock;
  gdouble expected = 0.0, jitter_ms;
  guint jitter, i;
  guint16 seq = 500;

  fixture_setup (&f, "strict");
  clock = gst_harness_get_testclock (f.h);
  for (i = 0; i < G_N_ELEMENTS (delay_ms); i++) {
    GstClockTime arrival =
        3 * GST_SECOND + (i * 20 + delay_ms[i]) * GST_MSECOND;

    if (i > 0) {
      /* D in timestamp units: 8 per ms at 8 kHz */
      gdouble d = 8.0 * ((gint) delay_ms[i] - (gint) delay_ms[i - 1]);

      expected += (fabs (d) - expected) / 16.0;
    }
    send_at (&f, clock, seq++, 4000 + i * 160, 0x1234, arrival);

    if (i == 10) {
      /* '1': its RTP timestamp is where the key went down, 200 ms
       * before packet 10's */
      gst_test_clock_set_time (clock, arrival + 1 * GST_MSECOND);
      send_event (&f, seq++, 4000 + i * 160 - 1600, TRUE, 1, FALSE, 160);
      gst_structure_free (pop_dtmf_message (&f));
    }
  }
  jitter = get_jitter (f.h->element, &jitter_ms);
  GST_INFO ("jitter %u (%.4f ms), RFC 3550 definition %.4f (%.4f ms)", jitter,
      jitter_ms, expected, expected / 8.0);
  fail_unless (expected > 10.0, "the pattern should give a real jitter");
  /* the integer version is within half a unit, `jitter` is rounded down */
  fail_unless (jitter + 1.5 >= expected && jitter <= expected + 0.5,
      "jitter %u, expected %f", jitter, expected);
  fail_unless (fabs (jitter_ms - expected / 8.0) <= 0.5 / 8.0,
      "jitter-ms %f, expected %f", jitter_ms, expected / 8.0);
  check_reception (f.h->element, G_N_ELEMENTS (delay_ms) + 1, 0);
  gst_object_unref (clock);
  fixture_teardown (&f);
}

GST_END_TEST;

/* A new SSRC is a new source (A.1): its sequence numbers start a new
 * count, added to the call's, and its jitter starts from zero. */
GST_START_TEST (test_reception_ssrc_change_restarts)
{
  Fixture f;
  GstTestClock *clock;
  gdouble jitter_ms;
  guint i;

  fixture_setup (&f, "strict");
  clock = gst_harness_get_testclock (f.h);
  /* first source: 10 packets, 13 missing, arrival 0 or 6 ms late */
  for (i = 0; i < 11; i++) {
    if (i == 3)
      continue;
    send_at (&f, clock, 10 + i, i * 160, 0x1111,
        GST_SECOND + (i * 20 + (i % 2) * 6) * GST_MSECOND);
  }
  check_reception (f.h->element, 11, 1);
  fail_unless (get_jitter (f.h->element, &jitter_ms) > 0);

  /* second source, far away in sequence and timestamp: no loss counted
   * for the jump, and no jitter from its first packet */
  send_at (&f, clock, 40000, 123456, 0x2222, 2 * GST_SECOND);
  check_reception (f.h->element, 12, 1);
  fail_unless_equals_int (get_jitter (f.h->element, &jitter_ms), 0);
  for (i = 1; i < 5; i++)
    send_at (&f, clock, 40000 + i, 123456 + i * 160, 0x2222,
        2 * GST_SECOND + i * 20 * GST_MSECOND);
  check_reception (f.h->element, 16, 1);
  fail_unless_equals_int (get_jitter (f.h->element, &jitter_ms), 0);
  fail_unless_equals_int (element_stat (f.h->element, "ssrc-changes"), 1);
  gst_object_unref (clock);
  fixture_teardown (&f);
}

GST_END_TEST;

/* Statistics are the call's: a new socket from sipbin starts them again. */
GST_START_TEST (test_reception_reset_on_new_call)
{
  Fixture f;
  GSocket *second = udp_socket ();
  GSocketAddress *to;
  const guint16 seqs[] = {1, 2, 5};
  guint8 pkt[12 + 160];
  gsize len;
  guint16 seq;

  fixture_setup (&f, "strict");
  send_and_pull (&f, seqs, G_N_ELEMENTS (seqs), 0x1111, G_N_ELEMENTS (seqs));
  check_reception (f.h->element, 5, 2);
  fail_unless_equals_int (element_stat (f.h->element, "packets-received"), 3);

  g_object_set (
      f.h->element, "call-id", "next@example.com", "socket", second, NULL);
  {
    GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);

    to = g_inet_socket_address_new (lo, local_port (second));
    g_object_unref (lo);
  }
  for (seq = 300; seq < 304; seq++) {
    len = make_rtp (pkt, 0, seq, seq * 160, 0x2222, FALSE, 160);
    send_raw (f.sender, to, pkt, len);
    fail_unless_equals_int (pull_seq (&f, NULL), seq);
  }
  check_reception (f.h->element, 4, 0);
  fail_unless_equals_int (element_stat (f.h->element, "packets-received"), 4);
  fail_unless_equals_int (element_stat (f.h->element, "packets-pushed"), 4);

  g_object_unref (to);
  g_object_unref (second);
  fixture_teardown (&f);
}

GST_END_TEST;

GST_START_TEST (test_no_socket_waits_and_stops_cleanly)
{
  GstHarness *h = sipsrc_harness ();

  /* port -1: waits for a socket from sipbin, pushes nothing */
  gst_harness_play (h);
  g_usleep (50 * 1000);
  fail_unless (gst_harness_try_pull (h) == NULL);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_quick_start_stop)
{
  GstElement *src = gst_element_factory_make ("sipsrc", NULL);
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  GstElement *pipeline = gst_pipeline_new (NULL);
  gint i;

  set_receive_thread (src);
  g_object_set (src, "port", 0, "address", "127.0.0.1", NULL);
  gst_bin_add_many (GST_BIN (pipeline), src, sink, NULL);
  fail_unless (gst_element_link (src, sink));
  for (i = 0; i < 50; i++) {
    fail_if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
        GST_STATE_CHANGE_FAILURE);
    if (i % 2)
      g_usleep (1000);
    fail_unless (gst_element_set_state (pipeline, GST_STATE_NULL) ==
        GST_STATE_CHANGE_SUCCESS);
  }
  gst_object_unref (pipeline);
}

GST_END_TEST;

static void
add_tests (TCase *tc)
{
  tcase_add_test (tc, test_valid_packets_pass_with_call_caps);
  tcase_add_test (tc, test_receive_thread_pushes_timestamped_buffers);
  tcase_add_test (tc, test_invalid_packets_dropped_and_counted);
  tcase_add_test (tc, test_strict_source_drops_other_senders);
  tcase_add_test (tc, test_latch_follows_new_source_after_silence);
  tcase_add_test (tc, test_ssrc_change_reanchors);
  tcase_add_test (tc, test_sequence_wrap_and_jump);
  tcase_add_test (tc, test_reception_in_order_no_loss);
  tcase_add_test (tc, test_reception_gaps_counted);
  tcase_add_test (tc, test_reception_sequence_wrap);
  tcase_add_test (tc, test_reception_duplicates_and_reordering);
  tcase_add_test (tc, test_reception_sequence_restart);
  tcase_add_test (tc, test_jitter_constant_transit_is_zero);
  tcase_add_test (tc, test_jitter_follows_rfc3550);
  tcase_add_test (tc, test_reception_ssrc_change_restarts);
  tcase_add_test (tc, test_reception_reset_on_new_call);
  tcase_add_test (tc, test_telephone_events);
  tcase_add_test (tc, test_dtmf_passes_decoder_without_audio);
  tcase_add_test (tc, test_injected_dtmf_event);
  tcase_add_test (tc, test_dtmf_before_media_follows_call_start);
  tcase_add_test (tc, test_call_started_event);
  tcase_add_test (tc, test_announced_call_events);
  tcase_add_test (tc, test_rtcp_reports);
  tcase_add_test (tc, test_call_ended_event);
  tcase_add_test (tc, test_no_socket_waits_and_stops_cleanly);
  tcase_add_test (tc, test_quick_start_stop);
}

static Suite *
sipsrc_suite (void)
{
  Suite *s = suite_create ("sipsrc");
  TCase *own = tcase_create ("own");
  TCase *shared = tcase_create ("shared");

  tcase_add_checked_fixture (own, use_own_thread, NULL);
  tcase_add_checked_fixture (shared, use_shared_thread, NULL);
  add_tests (own);
  add_tests (shared);
  suite_add_tcase (s, own);
  suite_add_tcase (s, shared);
  return s;
}

GST_CHECK_MAIN (sipsrc);
