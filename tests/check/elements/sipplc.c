/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * sipplc: gaps that lost packets leave are filled with concealment; gaps
 * a jitter buffer reports without a usable duration (zero, a few samples,
 * none, very long) never reach spandsp's fill-in with less room than it
 * writes.
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include <math.h>
#include <string.h>

#define RATE 8000
#define PACKET (20 * GST_MSECOND)
#define PACKET_SAMPLES 160
#define CAPS \
  "audio/x-raw, format=S16LE, layout=interleaved, channels=1, rate=8000"

/* A voice-like 200 Hz tone: spandsp finds its pitch period */
static GstBuffer *
tone_packet (guint index)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, PACKET_SAMPLES * 2, NULL);
  GstMapInfo map;
  gint16 *s;
  guint i;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  s = (gint16 *) map.data;
  for (i = 0; i < PACKET_SAMPLES; i++)
    s[i] = (gint16) (8000 *
        sin (2 * G_PI * 200 * (index * PACKET_SAMPLES + i) / (double) RATE));
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = index * PACKET;
  GST_BUFFER_DURATION (buf) = PACKET;
  return buf;
}

static GstHarness *
start_with_speech (guint packets)
{
  GstHarness *h = gst_harness_new ("sipplc");
  GstMapInfo a, b;
  guint i;

  gst_harness_set_caps_str (h, CAPS, CAPS);
  for (i = 0; i < packets; i++) {
    GstBuffer *in = tone_packet (i), *out;

    fail_unless_equals_int (
        gst_harness_push (h, gst_buffer_ref (in)), GST_FLOW_OK);
    out = gst_harness_pull (h);
    /* nothing was missing: the audio passes unchanged */
    gst_buffer_map (in, &a, GST_MAP_READ);
    gst_buffer_map (out, &b, GST_MAP_READ);
    fail_unless (a.size == b.size && memcmp (a.data, b.data, a.size) == 0);
    gst_buffer_unmap (in, &a);
    gst_buffer_unmap (out, &b);
    gst_buffer_unref (in);
    gst_buffer_unref (out);
  }
  return h;
}

static guint64
stat (GstHarness *h, const gchar *field)
{
  GstStructure *stats;
  guint64 v = G_MAXUINT64;

  g_object_get (h->element, "stats", &stats, NULL);
  fail_unless (gst_structure_get_uint64 (stats, field, &v));
  gst_structure_free (stats);
  return v;
}

static gdouble
rms (GstBuffer *buf)
{
  GstMapInfo map;
  gdouble sum = 0;
  gsize i, n;

  gst_buffer_map (buf, &map, GST_MAP_READ);
  n = map.size / 2;
  for (i = 0; i < n; i++)
    sum += ((gint16 *) map.data)[i] * (gdouble) ((gint16 *) map.data)[i];
  gst_buffer_unmap (buf, &map);
  return n ? sqrt (sum / n) : 0;
}

/* Pulls events up to the first GAP; NULL when there is none queued */
static GstEvent *
pull_gap (GstHarness *h)
{
  GstEvent *ev;

  while ((ev = gst_harness_try_pull_event (h))) {
    if (GST_EVENT_TYPE (ev) == GST_EVENT_GAP)
      return ev;
    gst_event_unref (ev);
  }
  return NULL;
}

GST_START_TEST (test_conceals_lost_packet)
{
  GstHarness *h = start_with_speech (10);
  GstBuffer *fill;

  fail_unless (
      gst_harness_push_event (h, gst_event_new_gap (10 * PACKET, PACKET)));
  fill = gst_harness_pull (h);
  fail_unless_equals_int (gst_buffer_get_size (fill), PACKET_SAMPLES * 2);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (fill), 10 * PACKET);
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (fill), PACKET);
  /* the gap is filled: the timeline goes on without a discontinuity */
  fail_if (GST_BUFFER_FLAG_IS_SET (fill, GST_BUFFER_FLAG_DISCONT));
  /* the tone goes on (RMS of the tone itself is ~5660), not silence */
  fail_unless (rms (fill) > 2000, "concealment RMS %f", rms (fill));
  fail_unless (pull_gap (h) == NULL);
  fail_unless_equals_uint64 (stat (h, "concealed"), 1);
  fail_unless_equals_uint64 (stat (h, "concealed-duration"), PACKET);
  gst_buffer_unref (fill);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* rtpjitterbuffer reports such losses when packets are reordered and
 * lost together; spanplc crashes on them */
GST_START_TEST (test_zero_duration_gap)
{
  GstHarness *h = start_with_speech (10);

  fail_unless (gst_harness_push_event (h, gst_event_new_gap (10 * PACKET, 0)));
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 0);
  fail_unless (pull_gap (h) == NULL);
  fail_unless_equals_uint64 (stat (h, "empty-gaps"), 1);
  fail_unless_equals_uint64 (stat (h, "concealed"), 0);
  /* and the next real packet still flows */
  fail_unless_equals_int (gst_harness_push (h, tone_packet (11)), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));
  gst_harness_teardown (h);
}
GST_END_TEST;

/* spandsp writes a quarter pitch period (up to 30 samples) into the first
 * fill-in of a gap, whatever length it is given */
GST_START_TEST (test_gap_of_few_samples)
{
  GstHarness *h = start_with_speech (10);
  GstBuffer *fill;

  fail_unless (gst_harness_push_event (
      h, gst_event_new_gap (10 * PACKET, 3 * GST_SECOND / RATE)));
  fill = gst_harness_pull (h);
  fail_unless_equals_int (gst_buffer_get_size (fill), 3 * 2);
  fail_unless_equals_uint64 (stat (h, "concealed"), 1);
  gst_buffer_unref (fill);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* a far end that stopped sending, or a gap of unknown length: downstream
 * gets the GAP event, not seconds of made-up audio */
GST_START_TEST (test_long_and_unknown_gaps_pass)
{
  GstHarness *h = start_with_speech (10);
  GstEvent *gap;
  GstClockTime pts, duration;

  fail_unless (gst_harness_push_event (
      h, gst_event_new_gap (10 * PACKET, 2 * GST_SECOND)));
  gap = pull_gap (h);
  fail_unless (gap != NULL);
  gst_event_parse_gap (gap, &pts, &duration);
  fail_unless_equals_uint64 (pts, 10 * PACKET);
  fail_unless_equals_uint64 (duration, 2 * GST_SECOND);
  gst_event_unref (gap);

  fail_unless (gst_harness_push_event (
      h, gst_event_new_gap (110 * PACKET, GST_CLOCK_TIME_NONE)));
  gap = pull_gap (h);
  fail_unless (gap != NULL);
  gst_event_unref (gap);

  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 0);
  fail_unless_equals_uint64 (stat (h, "long-gaps"), 2);
  fail_unless_equals_uint64 (stat (h, "concealed"), 0);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* a flush starts over: no concealment made from the speech before it */
GST_START_TEST (test_flush_forgets_speech)
{
  GstHarness *h = start_with_speech (10);
  GstBuffer *fill;

  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  fail_unless (gst_harness_push_event (h,
      gst_event_new_segment (&(GstSegment){.format = GST_FORMAT_TIME,
          .rate = 1.0,
          .applied_rate = 1.0,
          .stop = GST_CLOCK_TIME_NONE,
          .duration = GST_CLOCK_TIME_NONE})));
  fail_unless (
      gst_harness_push_event (h, gst_event_new_gap (10 * PACKET, PACKET)));
  fill = gst_harness_pull (h);
  fail_unless (
      rms (fill) < 1.0, "concealment RMS %f after a flush", rms (fill));
  gst_buffer_unref (fill);
  gst_harness_teardown (h);
}
GST_END_TEST;

static Suite *
sipplc_suite (void)
{
  Suite *s = suite_create ("sipplc");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_conceals_lost_packet);
  tcase_add_test (tc, test_zero_duration_gap);
  tcase_add_test (tc, test_gap_of_few_samples);
  tcase_add_test (tc, test_long_and_unknown_gaps_pass);
  tcase_add_test (tc, test_flush_forgets_speech);
  return s;
}

GST_CHECK_MAIN (sipplc);
