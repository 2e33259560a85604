/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * ttsbridge with its real engines (flite, espeak-ng), paced by a
 * GstTestClock: every chunk is released by a crank of the test clock, so
 * nothing here depends on how fast the machine is. The only wall-clock
 * waits are for synthesis to finish (bounded by seconds), so that cranking
 * faster than real time never outruns the synthesis thread.
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/check/gsttestclock.h>
#include <gst/audio/audio.h>
#include "gstagentevents.h"

#include <string.h>

#define CHUNK (20 * GST_MSECOND)
#define SYNTH_TIMEOUT_US (30 * G_USEC_PER_SEC)

static GstStaticPadTemplate text_src = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS ("text/x-raw, format=utf8"));
/* Downstream's caps from the start (a harness plays an element with a sink
 * pad as soon as it is created, so its sink must already say what it takes;
 * test_renegotiates_rate covers gst_harness_set_sink_caps_str later on). */
static GstStaticPadTemplate sink_8k =
    GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
        GST_STATIC_CAPS ("audio/x-raw, format=S16LE, layout=interleaved, "
                         "channels=1, rate=8000"));
static GstStaticPadTemplate sink_16k =
    GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
        GST_STATIC_CAPS ("audio/x-raw, format=S16LE, layout=interleaved, "
                         "channels=1, rate=16000"));
static GstStaticPadTemplate sink_any = GST_STATIC_PAD_TEMPLATE (
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS ("audio/x-raw"));

typedef struct
{
  GstHarness *h;
  GstBus *bus;
  gint rate;
  GQueue reports; /* of Report, as they arrived */
  gboolean check_contiguous; /* play_out_pcm checks every chunk's PTS */
  GstClockTime next_pts;
} Fixture;

/* One tts-started or tts-finished, seen both on the bus and upstream. */
typedef struct
{
  gboolean finished;
  gchar *text;
  GstClockTime running_time;
  GstClockTime duration;
  gboolean interrupted;
  gboolean idle;
  gchar *voice; /* the message's "backend:voice", NULL when absent */
} Report;

/* What play_out() saw of one sentence. */
typedef struct
{
  GstClockTime started;
  GstClockTime finished;
  GstClockTime duration;
  gboolean interrupted;
  gboolean idle;
  guint loud; /* chunks with sound */
  gchar voice[64]; /* tts-started's voice */
} Outcome;

/* Both backends are built here; a machine without one may skip its cases
 * when run by hand, but under CI a missing backend is a failure. The
 * backend property's blurb lists what the build has. */
static gboolean
backend_built (const gchar *backend)
{
  GstElement *e = gst_element_factory_make ("ttsbridge", NULL);
  GParamSpec *pspec;
  const gchar *built;
  gboolean found = FALSE;

  fail_unless (e != NULL);
  pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "backend");
  built = strstr (g_param_spec_get_blurb (pspec), "built: ");
  if (built) {
    gchar **names = g_strsplit_set (built + 7, ", )", -1);
    guint i;

    for (i = 0; names[i]; i++)
      if (g_str_equal (names[i], backend))
        found = TRUE;
    g_strfreev (names);
  }
  gst_object_unref (e);
  if (!found && g_strcmp0 (g_getenv ("CI"), "true") == 0)
    fail ("backend %s is not built, and CI=true requires it", backend);
  if (!found)
    g_printerr ("SKIP: ttsbridge backend %s is not built\n", backend);
  return found;
}

#define REQUIRE_BACKEND(b) \
  G_STMT_START \
  { \
    if (!backend_built (b)) \
      return; \
  } \
  G_STMT_END

static void
fixture_setup_full (Fixture *f, const gchar *backend, const gchar *voice,
    GstStaticPadTemplate *sink, const gchar *first_prop, ...)
{
  GstElement *e = gst_element_factory_make ("ttsbridge", NULL);
  GstCaps *caps;

  fail_unless (e != NULL);
  g_queue_init (&f->reports);
  f->check_contiguous = FALSE;
  f->next_pts = GST_CLOCK_TIME_NONE;
  g_object_set (e, "backend", backend, "voice", voice, NULL);
  if (first_prop) {
    va_list args;

    va_start (args, first_prop);
    g_object_set_valist (G_OBJECT (e), first_prop, args);
    va_end (args);
  }
  f->bus = gst_bus_new ();
  gst_element_set_bus (e, f->bus);
  /* plays it, on the harness's test clock */
  f->h = gst_harness_new_full (e, &text_src, "sink", sink, "src");
  gst_object_unref (e);
  gst_harness_set_src_caps_str (f->h, "text/x-raw, format=utf8");

  /* the src pad negotiates as soon as it runs, before its first wait */
  fail_unless (gst_harness_wait_for_clock_id_waits (f->h, 1, 10));
  caps = gst_pad_get_current_caps (GST_PAD_PEER (f->h->sinkpad));
  fail_unless (caps != NULL);
  fail_unless (gst_structure_get_int (
      gst_caps_get_structure (caps, 0), "rate", &f->rate));
  gst_caps_unref (caps);
}

static void
fixture_setup (Fixture *f, const gchar *backend, const gchar *voice,
    GstStaticPadTemplate *sink)
{
  fixture_setup_full (f, backend, voice, sink, NULL);
}

static void
report_free (Report *r)
{
  g_free (r->text);
  g_free (r->voice);
  g_free (r);
}

static void
fixture_teardown (Fixture *f)
{
  gst_harness_teardown (f->h);
  gst_bus_set_flushing (f->bus, TRUE);
  gst_object_unref (f->bus);
  g_queue_clear_full (&f->reports, (GDestroyNotify) report_free);
}

static void
push_text (Fixture *f, const gchar *text)
{
  fail_unless_equals_int (
      gst_harness_push (f->h, gst_buffer_new_memdup (text, strlen (text))),
      GST_FLOW_OK);
}

static void
push_barge_in (Fixture *f)
{
  fail_unless (gst_harness_push_event (f->h,
      gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
          gst_structure_new_empty (GST_AGENT_EVENT_BARGE_IN))));
}

static guint
stats_uint (Fixture *f, const gchar *field)
{
  GstStructure *s;
  guint v;

  g_object_get (f->h->element, "stats", &s, NULL);
  fail_unless (gst_structure_get_uint (s, field, &v));
  gst_structure_free (s);
  return v;
}

static guint64
stats_uint64 (Fixture *f, const gchar *field)
{
  GstStructure *s;
  guint64 v;

  g_object_get (f->h->element, "stats", &s, NULL);
  fail_unless (gst_structure_get_uint64 (s, field, &v));
  gst_structure_free (s);
  return v;
}

/* Wall-clock wait (seconds at most) for the synthesis thread to finish all
 * queued text, so that cranking faster than real time never underruns. */
static void
wait_synthesized (Fixture *f)
{
  gint64 deadline = g_get_monotonic_time () + SYNTH_TIMEOUT_US;

  while (stats_uint (f, "pending-synthesis") > 0) {
    fail_unless (g_get_monotonic_time () < deadline,
        "synthesis did not finish in %d s",
        (gint) (SYNTH_TIMEOUT_US / G_USEC_PER_SEC));
    g_usleep (1000);
  }
}

static GstBuffer *
crank_pull (Fixture *f)
{
  GstBuffer *buf;

  fail_unless (gst_harness_crank_single_clock_wait (f->h));
  buf = gst_harness_pull (f->h);
  fail_unless (buf != NULL);
  if (f->check_contiguous) {
    if (GST_CLOCK_TIME_IS_VALID (f->next_pts)) {
      fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), f->next_pts);
      fail_if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT));
    }
    f->next_pts = GST_BUFFER_PTS (buf) + GST_BUFFER_DURATION (buf);
  }
  return buf;
}

/* Largest absolute sample; 0 for the exact silence ttsbridge sends. */
static gint
peak (GstBuffer *buf)
{
  GstMapInfo map;
  const gint16 *s;
  gint max = 0;
  gsize i;

  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  s = (const gint16 *) map.data;
  for (i = 0; i < map.size / 2; i++)
    max = MAX (max, ABS ((gint) GINT16_FROM_LE (s[i])));
  gst_buffer_unmap (buf, &map);
  return max;
}

static void
crank_silence (Fixture *f, guint n)
{
  guint i;

  for (i = 0; i < n; i++) {
    GstBuffer *buf = crank_pull (f);

    fail_unless_equals_int (peak (buf), 0);
    gst_buffer_unref (buf);
  }
}

/* The next custom upstream event; the RECONFIGUREs that pad activation
 * sends upstream are not ttsbridge's reports. */
static GstEvent *
try_pull_report_event (Fixture *f)
{
  GstEvent *ev;

  while ((ev = gst_harness_try_pull_upstream_event (f->h)) != NULL) {
    if (GST_EVENT_TYPE (ev) == GST_EVENT_CUSTOM_UPSTREAM)
      return ev;
    gst_event_unref (ev);
  }
  return NULL;
}

/* Moves what ttsbridge reported into f->reports. Reports are posted and
 * pushed before the chunk they belong to leaves, so after a pull they are
 * all there; each bus message must come with the same upstream event. */
static void
collect_reports (Fixture *f)
{
  GstMessage *msg;
  GstEvent *ev;

  while ((msg = gst_bus_pop_filtered (f->bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *ms = gst_message_get_structure (msg);
    const GstStructure *es;
    Report *r = g_new0 (Report, 1);
    gboolean interrupted, idle;
    guint64 rt;

    ev = try_pull_report_event (f);
    fail_unless (ev != NULL, "a bus message without an upstream event");
    es = gst_event_get_structure (ev);
    fail_unless_equals_string (
        gst_structure_get_name (ms), gst_structure_get_name (es));
    r->text = g_strdup (gst_structure_get_string (ms, "text"));
    fail_unless (r->text != NULL);
    fail_unless_equals_string (r->text, gst_structure_get_string (es, "text"));
    fail_unless (gst_structure_get_uint64 (ms, "running-time", &rt));
    r->running_time = rt;
    r->duration = GST_CLOCK_TIME_NONE;
    r->voice = g_strdup (gst_structure_get_string (ms, "voice"));

    r->finished = gst_structure_has_name (ms, GST_AGENT_MESSAGE_TTS_FINISHED);
    if (r->finished) {
      fail_unless (gst_agent_event_is (ev, GST_AGENT_EVENT_TTS_FINISHED));
      fail_unless (
          gst_structure_get_boolean (ms, "interrupted", &r->interrupted));
      fail_unless (gst_structure_get_boolean (ms, "idle", &r->idle));
      fail_unless (gst_structure_get_uint64 (ms, "duration", &rt));
      r->duration = rt;
      fail_unless (gst_structure_get_boolean (es, "interrupted", &interrupted));
      fail_unless (gst_structure_get_boolean (es, "idle", &idle));
      fail_unless_equals_int (interrupted, r->interrupted);
      fail_unless_equals_int (idle, r->idle);
    } else {
      fail_unless (gst_structure_has_name (ms, GST_AGENT_MESSAGE_TTS_STARTED));
      fail_unless (gst_agent_event_is (ev, GST_AGENT_EVENT_TTS_STARTED));
    }
    g_queue_push_tail (&f->reports, r);
    gst_message_unref (msg);
    gst_event_unref (ev);
  }
  ev = try_pull_report_event (f);
  fail_unless (ev == NULL,
      "an upstream event without a bus message: %" GST_PTR_FORMAT, ev);
}

/* The next report, which must be @finished for @text. */
static Report *
expect_report (Fixture *f, gboolean finished, const gchar *text)
{
  Report *r;

  collect_reports (f);
  r = g_queue_pop_head (&f->reports);
  fail_unless (r != NULL, "no report for \"%s\"", text);
  fail_unless_equals_string (r->text, text);
  fail_unless_equals_int (r->finished, finished);
  return r;
}

/* Cranks until the tts-finished of @text, checking that the reports on the
 * way are all about @text, in order. Reports that follow in the same chunk
 * stay queued for the next call. */
static void
play_out_pcm (Fixture *f, const gchar *text, guint max_chunks, Outcome *o,
    GByteArray *pcm)
{
  guint i;

  memset (o, 0, sizeof (*o));
  o->started = o->finished = GST_CLOCK_TIME_NONE;
  for (i = 0;; i++) {
    Report *r;
    GstBuffer *buf;

    collect_reports (f);
    while ((r = g_queue_pop_head (&f->reports)) != NULL) {
      fail_unless_equals_string (r->text, text);
      if (!r->finished) {
        fail_if (GST_CLOCK_TIME_IS_VALID (o->started), "started twice");
        o->started = r->running_time;
        /* a sentence that plays was synthesized with some voice */
        fail_unless (r->voice != NULL);
        g_strlcpy (o->voice, r->voice, sizeof (o->voice));
      } else {
        o->finished = r->running_time;
        o->duration = r->duration;
        o->interrupted = r->interrupted;
        o->idle = r->idle;
        report_free (r);
        return;
      }
      report_free (r);
    }
    fail_unless (i < max_chunks, "no tts-finished in %u chunks", max_chunks);

    buf = crank_pull (f);
    fail_unless_equals_int (gst_buffer_get_size (buf), f->rate / 50 * 2);
    if (peak (buf) > 0)
      o->loud++;
    if (pcm) {
      GstMapInfo map;

      gst_buffer_map (buf, &map, GST_MAP_READ);
      g_byte_array_append (pcm, map.data, map.size);
      gst_buffer_unmap (buf, &map);
    }
    gst_buffer_unref (buf);
  }
}

static void
play_out (Fixture *f, const gchar *text, guint max_chunks, Outcome *o)
{
  play_out_pcm (f, text, max_chunks, o, NULL);
}

GST_START_TEST (test_paces_silence_on_the_clock)
{
  Fixture f;
  GstTestClock *clock;
  guint i;

  REQUIRE_BACKEND ("flite");
  fixture_setup (&f, "flite", "kal", &sink_8k);
  clock = gst_harness_get_testclock (f.h);
  fail_unless_equals_int (f.rate, 8000);

  for (i = 0; i < 50; i++) {
    GstBuffer *buf;

    fail_unless (gst_harness_crank_single_clock_wait (f.h));
    /* a chunk is complete, and released, at its end */
    fail_unless_equals_uint64 (
        gst_clock_get_time (GST_CLOCK (clock)), (i + 1) * CHUNK);
    buf = gst_harness_pull (f.h);
    /* exactly one chunk per period */
    fail_unless_equals_int (gst_harness_buffers_in_queue (f.h), 0);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), i * CHUNK);
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (buf), CHUNK);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), i * 160);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET_END (buf), (i + 1) * 160);
    fail_unless_equals_int (gst_buffer_get_size (buf), 320);
    fail_unless_equals_int (
        GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT), i == 0);
    fail_unless_equals_int (peak (buf), 0);
    gst_buffer_unref (buf);
  }
  collect_reports (&f);
  fail_unless_equals_int (f.reports.length, 0);

  gst_object_unref (clock);
  fixture_teardown (&f);
}

GST_END_TEST;

GST_START_TEST (test_latency_is_one_chunk)
{
  Fixture f;
  GstQuery *query;
  GstClockTime min, max;
  GstBuffer *buf;
  gboolean live;

  REQUIRE_BACKEND ("flite");
  fixture_setup_full (&f, "flite", "kal", &sink_8k, "chunk-time",
      (guint64) (10 * GST_MSECOND), NULL);
  query = gst_query_new_latency ();
  fail_unless (gst_pad_peer_query (f.h->sinkpad, query));
  gst_query_parse_latency (query, &live, &min, &max);
  fail_unless (live);
  fail_unless_equals_uint64 (min, 10 * GST_MSECOND);
  fail_unless_equals_uint64 (max, GST_CLOCK_TIME_NONE);
  gst_query_unref (query);

  buf = crank_pull (&f);
  fail_unless_equals_int (gst_buffer_get_size (buf), 160);
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (buf), 10 * GST_MSECOND);
  gst_buffer_unref (buf);
  fixture_teardown (&f);
}

GST_END_TEST;

/* A sentence plays as sound of a plausible length between tts-started and
 * tts-finished, and silence follows. */
static void
check_sentence (const gchar *backend, const gchar *voice,
    GstStaticPadTemplate *sink, gint expect_rate, const gchar *text)
{
  Fixture f;
  Outcome o;
  GstClockTime length;

  REQUIRE_BACKEND (backend);
  fixture_setup (&f, backend, voice, sink);
  fail_unless_equals_int (f.rate, expect_rate);

  crank_silence (&f, 3);
  push_text (&f, text);
  wait_synthesized (&f);
  play_out (&f, text, 500, &o);

  fail_unless (GST_CLOCK_TIME_IS_VALID (o.started));
  /* speech starts in the first chunk after the text, leading silence
   * skipped */
  fail_unless_equals_uint64 (o.started, 3 * CHUNK);
  fail_if (o.interrupted);
  fail_unless (o.idle);
  length = o.finished - o.started;
  fail_unless_equals_uint64 (o.duration, length);
  GST_INFO ("%s/%s at %d Hz: \"%s\" %" GST_TIME_FORMAT ", %u loud chunks, "
            "first audio after %" GST_TIME_FORMAT,
      backend, voice, f.rate, text, GST_TIME_ARGS (length), o.loud,
      GST_TIME_ARGS (stats_uint64 (&f, "first-audio-latency")));
  /* two to six words take between half a second and four seconds */
  fail_unless (length > 500 * GST_MSECOND && length < 4 * GST_SECOND,
      "%s/%s spoke for %" GST_TIME_FORMAT, backend, voice,
      GST_TIME_ARGS (length));
  /* mostly sound, not a click and silence */
  fail_unless (
      o.loud * CHUNK > length / 2, "only %u chunks with sound", o.loud);

  /* then silence again, and nothing more to report */
  crank_silence (&f, 10);
  collect_reports (&f);
  fail_unless_equals_int (f.reports.length, 0);
  fail_unless_equals_uint64 (stats_uint64 (&f, "finished"), 1);
  fail_unless_equals_uint64 (stats_uint64 (&f, "underruns"), 0);
  fail_unless (
      GST_CLOCK_TIME_IS_VALID (stats_uint64 (&f, "first-audio-latency")));
  fixture_teardown (&f);
}

typedef struct
{
  const gchar *backend;
  const gchar *voice;
  GstStaticPadTemplate *sink;
  gint rate;
  const gchar *text;
} VoiceCase;

static const VoiceCase voice_cases[] = {
    {"flite", "kal", &sink_8k, 8000, "Hello, thank you for calling."},
    {"flite", "kal", &sink_16k, 16000, "Hello, thank you for calling."},
    {"flite", "kal16", &sink_8k, 8000, "How can I help you today?"},
    {"flite", "slt", &sink_16k, 16000, "How can I help you today?"},
    {"flite", "awb", &sink_8k, 8000, "Please hold the line."},
    {"flite", "rms", &sink_16k, 16000, "Please hold the line."},
    /* downstream takes any rate: the backend's own, nothing resampled */
    {"flite", "kal", &sink_any, 8000, "Hello, thank you for calling."},
    {"flite", "slt", &sink_any, 16000, "Hello, thank you for calling."},
    {"espeak", "en-us", &sink_8k, 8000, "Hello, thank you for calling."},
    {"espeak", "en", &sink_16k, 16000, "How can I help you today?"},
    {"espeak", "es", &sink_8k, 8000, "Hola, gracias por llamar."},
    {"espeak", "es", &sink_16k, 16000, "¿En qué puedo ayudarle?"},
    {"espeak", "fr", &sink_8k, 8000, "Bonjour, merci de votre appel."},
    {"espeak", "de", &sink_16k, 16000, "Guten Tag, wie kann ich helfen?"},
    {"espeak", "en-us", &sink_any, 22050, "Hello, thank you for calling."},
};

GST_START_TEST (test_speaks_each_voice)
{
  const VoiceCase *c = &voice_cases[__i__];

  check_sentence (c->backend, c->voice, c->sink, c->rate, c->text);
}

GST_END_TEST;

/* Two sentences are reported in order and played back to back; idle only
 * once nothing is left. */
GST_START_TEST (test_started_finished_order)
{
  Fixture f;
  Outcome one, two;

  REQUIRE_BACKEND ("flite");
  fixture_setup (&f, "flite", "kal", &sink_8k);
  push_text (&f, "Good morning.");
  push_text (&f, "Your order has shipped.");
  /* blank buffers are not sentences */
  push_text (&f, "  \n");
  wait_synthesized (&f);
  fail_unless_equals_uint64 (stats_uint64 (&f, "sentences"), 2);

  play_out (&f, "Good morning.", 500, &one);
  fail_if (one.interrupted);
  fail_if (one.idle);
  play_out (&f, "Your order has shipped.", 500, &two);
  fail_if (two.interrupted);
  fail_unless (two.idle);
  /* back to back: the second starts where the first ended */
  fail_unless_equals_uint64 (two.started, one.finished);
  fixture_teardown (&f);
}

GST_END_TEST;

/* The caller speaks over a sentence: the very next chunk is silence and
 * the agent hears, upstream and on the bus, that it was interrupted. */
static void
check_barge_in (const gchar *backend, const gchar *voice)
{
  const gchar *first = "This is a rather long announcement about our "
                       "opening hours, which you may interrupt at any time.";
  const gchar *second = "And this one is queued behind it.";
  GstClockTime started = GST_CLOCK_TIME_NONE;
  Fixture f;
  Outcome o;
  GstBuffer *buf;
  Report *r;
  guint i;

  REQUIRE_BACKEND (backend);
  fixture_setup (&f, backend, voice, &sink_8k);
  push_text (&f, first);
  push_text (&f, second);
  wait_synthesized (&f);

  /* play until the sentence has started and made some sound */
  for (i = 0; i < 200; i++) {
    gboolean loud;

    buf = crank_pull (&f);
    loud = peak (buf) > 0;
    gst_buffer_unref (buf);
    collect_reports (&f);
    if (f.reports.length > 0) {
      r = expect_report (&f, FALSE, first);
      started = r->running_time;
      report_free (r);
    }
    if (GST_CLOCK_TIME_IS_VALID (started) && loud)
      break;
  }
  fail_unless (i < 200, "never heard the sentence");

  push_barge_in (&f);
  buf = crank_pull (&f);
  fail_unless_equals_int (peak (buf), 0);

  /* both are reported dropped, at the moment the drop took effect */
  r = expect_report (&f, TRUE, first);
  fail_unless (r->interrupted);
  fail_if (r->idle);
  fail_unless_equals_uint64 (r->running_time, GST_BUFFER_PTS (buf));
  fail_unless_equals_uint64 (r->duration, r->running_time - started);
  report_free (r);
  r = expect_report (&f, TRUE, second);
  fail_unless (r->interrupted);
  fail_unless (r->idle);
  fail_unless_equals_uint64 (r->duration, 0);
  report_free (r);
  gst_buffer_unref (buf);

  crank_silence (&f, 20);
  collect_reports (&f);
  fail_unless_equals_int (f.reports.length, 0);
  fail_unless_equals_uint64 (stats_uint64 (&f, "barge-ins"), 1);
  fail_unless_equals_uint64 (stats_uint64 (&f, "interrupted"), 2);
  fail_unless_equals_int (stats_uint (&f, "queued-sentences"), 0);
  fail_unless_equals_uint64 (stats_uint64 (&f, "queued-time"), 0);

  /* and the agent can speak again */
  push_text (&f, "Yes?");
  wait_synthesized (&f);
  play_out (&f, "Yes?", 200, &o);
  fail_if (o.interrupted);
  fail_unless (o.idle);
  fixture_teardown (&f);
}

GST_START_TEST (test_barge_in_flite)
{
  check_barge_in ("flite", "slt");
}

GST_END_TEST;

GST_START_TEST (test_barge_in_espeak)
{
  check_barge_in ("espeak", "en-us");
}

GST_END_TEST;

/* A barge-in while the text is still being synthesized cancels that
 * synthesis: none of its audio reaches the next sentence, which plays
 * normally. */
GST_START_TEST (test_barge_in_cancels_synthesis)
{
  const gchar *next = "Sorry, go ahead.";
  GString *text = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + SYNTH_TIMEOUT_US;
  Fixture f;
  Outcome o;
  Report *r;
  guint i;

  REQUIRE_BACKEND ("flite");
  /* minutes of speech: still synthesizing when its first audio is there */
  for (i = 0; i < 100; i++)
    g_string_append (text, "The quick brown fox jumps over the lazy dog. ");
  /* as ttsbridge reports it: without the trailing blank */
  g_strstrip (text->str);
  fixture_setup (&f, "flite", "rms", &sink_8k);
  push_text (&f, text->str);
  while (stats_uint64 (&f, "queued-time") == 0) {
    fail_unless (g_get_monotonic_time () < deadline);
    g_usleep (1000);
  }
  push_barge_in (&f);
  fail_unless_equals_uint64 (stats_uint64 (&f, "queued-time"), 0);
  push_text (&f, next);
  wait_synthesized (&f);

  /* the drop is reported where it took effect, the next sentence starts
   * right there */
  gst_buffer_unref (crank_pull (&f));
  r = expect_report (&f, TRUE, text->str);
  fail_unless (r->interrupted);
  fail_if (r->idle);
  report_free (r);

  play_out (&f, next, 300, &o);
  fail_if (o.interrupted);
  fail_unless (o.idle);
  /* its own length, nothing of the cancelled text */
  fail_unless (o.duration < 3 * GST_SECOND);
  fail_unless_equals_uint64 (stats_uint64 (&f, "underruns"), 0);
  crank_silence (&f, 5);

  g_string_free (text, TRUE);
  fixture_teardown (&f);
}

GST_END_TEST;

GST_START_TEST (test_flush_drops)
{
  const gchar *text = "Flushing drops this sentence.";
  Fixture f;
  GstBuffer *buf;
  Report *r;

  REQUIRE_BACKEND ("espeak");
  fixture_setup (&f, "espeak", "en-us", &sink_8k);
  push_text (&f, text);
  wait_synthesized (&f);
  buf = crank_pull (&f);
  fail_unless (peak (buf) > 0);
  gst_buffer_unref (buf);
  r = expect_report (&f, FALSE, text);
  report_free (r);

  fail_unless (gst_harness_push_event (f.h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (f.h, gst_event_new_flush_stop (TRUE)));
  /* the text stream flushed, the audio goes on, silent */
  gst_harness_set_src_caps_str (f.h, "text/x-raw, format=utf8");
  crank_silence (&f, 1);
  r = expect_report (&f, TRUE, text);
  fail_unless (r->interrupted);
  fail_unless (r->idle);
  report_free (r);
  fail_unless_equals_uint64 (stats_uint64 (&f, "barge-ins"), 0);
  crank_silence (&f, 5);
  fixture_teardown (&f);
}

GST_END_TEST;

/* EOS on the text: what is queued is played out, then EOS on the audio. */
GST_START_TEST (test_eos_after_queued_text)
{
  Fixture f;
  Outcome one, two;
  GstEvent *ev;

  REQUIRE_BACKEND ("flite");
  fixture_setup (&f, "flite", "kal16", &sink_16k);
  push_text (&f, "One.");
  push_text (&f, "Two.");
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  /* the text pad is at EOS: no more text */
  fail_unless_equals_int (
      gst_harness_push (f.h, gst_buffer_new_memdup ("Three.", 6)),
      GST_FLOW_EOS);
  wait_synthesized (&f);

  play_out (&f, "One.", 500, &one);
  fail_if (one.interrupted);
  play_out (&f, "Two.", 500, &two);
  fail_if (two.interrupted);
  fail_unless (two.idle);

  /* EOS follows at once, without another wait on the clock */
  while ((ev = gst_harness_pull_event (f.h)) != NULL) {
    gboolean eos = GST_EVENT_TYPE (ev) == GST_EVENT_EOS;

    gst_event_unref (ev);
    if (eos)
      break;
  }
  fail_unless (ev != NULL, "no EOS");
  fail_unless_equals_int (gst_harness_buffers_in_queue (f.h), 0);
  fixture_teardown (&f);
}

GST_END_TEST;

/* The rate downstream changes mid-stream (gst_harness_set_sink_caps_str):
 * chunks follow the new rate and the timeline stays contiguous. */
GST_START_TEST (test_renegotiates_rate)
{
  const gchar *text = "Now at sixteen kilohertz.";
  Fixture f;
  Outcome o;
  GstBuffer *buf;
  GstClockTime expect;
  guint i;

  REQUIRE_BACKEND ("espeak");
  fixture_setup (&f, "espeak", "en-us", &sink_any);
  fail_unless_equals_int (f.rate, 22050);
  buf = crank_pull (&f);
  fail_unless_equals_int (gst_buffer_get_size (buf), 441 * 2);
  expect = GST_BUFFER_PTS (buf) + GST_BUFFER_DURATION (buf);
  gst_buffer_unref (buf);

  gst_harness_set_sink_caps_str (f.h,
      "audio/x-raw, format=S16LE, layout=interleaved, channels=1, "
      "rate=16000");
  /* the chunk already waiting on the clock is made at the old rate */
  buf = crank_pull (&f);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), expect);
  expect += GST_BUFFER_DURATION (buf);
  gst_buffer_unref (buf);
  /* text queued before the new caps would be dropped with the old rate's
   * audio: wait until the src pad has renegotiated */
  while (TRUE) {
    GstEvent *ev = gst_harness_pull_event (f.h);
    gint rate = 0;

    fail_unless (ev != NULL);
    if (GST_EVENT_TYPE (ev) == GST_EVENT_CAPS) {
      GstCaps *caps;

      gst_event_parse_caps (ev, &caps);
      gst_structure_get_int (gst_caps_get_structure (caps, 0), "rate", &rate);
    }
    gst_event_unref (ev);
    if (rate == 16000)
      break;
  }

  push_text (&f, text);
  wait_synthesized (&f);
  for (i = 0; i < 10; i++) {
    buf = crank_pull (&f);
    fail_unless_equals_int (gst_buffer_get_size (buf), 320 * 2);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), expect);
    fail_if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT));
    expect += GST_BUFFER_DURATION (buf);
    gst_buffer_unref (buf);
  }
  f.rate = 16000;
  play_out (&f, text, 300, &o);
  fail_if (o.interrupted);
  fixture_teardown (&f);
}

GST_END_TEST;

/* speed=2 says the same sentence in about half the time. */
static GstClockTime
spoken_length (const gchar *backend, const gchar *voice, gdouble speed)
{
  const gchar *text = "Your appointment is confirmed for Tuesday morning.";
  Fixture f;
  Outcome o;

  fixture_setup_full (&f, backend, voice, &sink_8k, "speed", speed, NULL);
  push_text (&f, text);
  wait_synthesized (&f);
  play_out (&f, text, 500, &o);
  fixture_teardown (&f);
  return o.duration;
}

GST_START_TEST (test_speed)
{
  const gchar *cases[][2] = {
      {"flite", "kal"}, {"flite", "slt"}, {"espeak", "en-us"}};
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    GstClockTime normal, fast;

    if (!backend_built (cases[i][0]))
      continue;
    normal = spoken_length (cases[i][0], cases[i][1], 1.0);
    fast = spoken_length (cases[i][0], cases[i][1], 2.0);
    GST_INFO ("%s/%s: %" GST_TIME_FORMAT " at speed 1, %" GST_TIME_FORMAT
              " at speed 2",
        cases[i][0], cases[i][1], GST_TIME_ARGS (normal), GST_TIME_ARGS (fast));
    fail_unless (fast < normal * 3 / 4 && fast > normal / 4,
        "%s/%s: %" GST_TIME_FORMAT " at speed 2 vs %" GST_TIME_FORMAT,
        cases[i][0], cases[i][1], GST_TIME_ARGS (fast), GST_TIME_ARGS (normal));
  }
}

GST_END_TEST;

/* A wrong configuration is an error message and a failed state change at
 * NULL->READY, never a crash. */
static void
check_config_error (const gchar *backend, const gchar *voice,
    const gchar *options, GQuark domain, gint code, const gchar *mentions)
{
  GstElement *e = gst_element_factory_make ("ttsbridge", NULL);
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;
  GError *error = NULL;

  g_object_set (e, "backend", backend, "voice", voice, NULL);
  if (options)
    gst_util_set_object_arg (G_OBJECT (e), "backend-options", options);
  gst_element_set_bus (e, bus);
  fail_unless_equals_int (
      gst_element_set_state (e, GST_STATE_READY), GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &error, NULL);
  GST_INFO ("%s/%s: %s", backend, voice, error->message);
  fail_unless (g_error_matches (error, domain, code), "got %s %d: %s",
      g_quark_to_string (error->domain), error->code, error->message);
  fail_unless (strstr (error->message, mentions) != NULL, "\"%s\" in \"%s\"",
      mentions, error->message);
  g_clear_error (&error);
  gst_message_unref (msg);

  fail_unless_equals_int (
      gst_element_set_state (e, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
  gst_object_unref (e);
}

GST_START_TEST (test_bad_configuration)
{
  check_config_error ("polly", NULL, NULL, GST_CORE_ERROR,
      GST_CORE_ERROR_MISSING_PLUGIN, "polly");
  if (backend_built ("flite")) {
    check_config_error ("flite", "nosuchvoice", NULL, GST_RESOURCE_ERROR,
        GST_RESOURCE_ERROR_NOT_FOUND, "nosuchvoice");
    check_config_error ("flite", "kal", "options,pitch=60", GST_RESOURCE_ERROR,
        GST_RESOURCE_ERROR_SETTINGS, "flite");
  }
  if (backend_built ("espeak")) {
    check_config_error ("espeak", "xx-nosuchvoice", NULL, GST_RESOURCE_ERROR,
        GST_RESOURCE_ERROR_NOT_FOUND, "xx-nosuchvoice");
    check_config_error ("espeak", "", NULL, GST_RESOURCE_ERROR,
        GST_RESOURCE_ERROR_NOT_FOUND, "voice");
    check_config_error ("espeak", "en", "options,pitch=300", GST_RESOURCE_ERROR,
        GST_RESOURCE_ERROR_SETTINGS, "pitch");
    check_config_error ("espeak", "en", "options,volume=3", GST_RESOURCE_ERROR,
        GST_RESOURCE_ERROR_SETTINGS, "volume");
  }
}

GST_END_TEST;

GST_START_TEST (test_espeak_pitch_option)
{
  const gchar *text = "A higher voice.";
  GstStructure *options;
  Fixture f;
  Outcome o;

  REQUIRE_BACKEND ("espeak");
  options = gst_structure_from_string ("options, pitch=(int)80", NULL);
  fixture_setup_full (
      &f, "espeak", "en-us", &sink_8k, "backend-options", options, NULL);
  gst_structure_free (options);
  push_text (&f, text);
  wait_synthesized (&f);
  play_out (&f, text, 300, &o);
  fail_if (o.interrupted);
  fail_unless (o.loud > 10);
  fixture_teardown (&f);
}

GST_END_TEST;

static gint
compare_doubles (const gdouble *a, const gdouble *b)
{
  return *a < *b ? -1 : *a > *b;
}

/* Median pitch (Hz) of the voiced 40 ms frames of S16LE @pcm: the lag of
 * the normalized autocorrelation peak between 70 and 400 Hz, in frames
 * loud and periodic enough to have one. It tells a male voice (about
 * 100 Hz) from a female one (about 200 Hz). */
static gdouble
median_f0 (const GByteArray *pcm, gint rate)
{
  const gint16 *s = (const gint16 *) pcm->data;
  gsize n = pcm->len / 2, frame = rate / 25, i;
  GArray *f0s = g_array_new (FALSE, FALSE, sizeof (gdouble));
  gdouble median = 0;

  for (i = 0; i + frame <= n; i += frame) {
    const gint16 *x = s + i;
    gdouble energy = 0, best = 0;
    gsize j, lag, best_lag = 0;

    for (j = 0; j < frame; j++)
      energy += (gdouble) x[j] * x[j];
    if (energy / frame < 500.0 * 500.0)
      continue;
    for (lag = rate / 400; lag <= (gsize) rate / 70; lag++) {
      gdouble c = 0, e1 = 0, e2 = 0, r;

      for (j = 0; j + lag < frame; j++) {
        c += (gdouble) x[j] * x[j + lag];
        e1 += (gdouble) x[j] * x[j];
        e2 += (gdouble) x[j + lag] * x[j + lag];
      }
      /* the squared correlation: no libm in the test's link */
      if (c <= 0 || e1 * e2 <= 0)
        continue;
      r = c * c / (e1 * e2);
      if (r > best) {
        best = r;
        best_lag = lag;
      }
    }
    if (best > 0.6 * 0.6) {
      gdouble f0 = (gdouble) rate / best_lag;

      g_array_append_val (f0s, f0);
    }
  }
  if (f0s->len > 0) {
    g_array_sort (f0s, (GCompareFunc) compare_doubles);
    median = g_array_index (f0s, gdouble, f0s->len / 2);
  }
  g_array_unref (f0s);
  return median;
}

/* Several calls at once, each with its own ttsbridge: their synthesis
 * threads run flite concurrently (no lock) and take turns on espeak-ng's
 * global engine, switching voices between sentences. Each call must sound
 * as it does alone: sample for sample with flite's diphone voices, which
 * are deterministic; as long (within 5 % for flite's clustergen voices,
 * whose random excitation noise moves where the leading silence ends, and
 * 12 % for espeak-ng, whose output depends a little on what the engine
 * said before) and at the same pitch otherwise. A rate left over from
 * another call changes the length, a voice left over from another call
 * (espeak-ng's engine is global) changes the pitch. */
typedef struct
{
  const gchar *backend;
  const gchar *voice;
  gdouble speed;
  const gchar *texts[3];
} CallCase;

static const CallCase calls[] = {
    {"flite", "slt", 1.0,
        {"Thank you for calling the clinic.", "Your call is important.",
            "Please stay on the line."}},
    {"flite", "slt", 1.0,
        {"Please stay on the line.", "Thank you for calling the clinic.",
            "Your call is important."}},
    {"flite", "rms", 1.0,
        {"The office opens at nine.", "It closes at five.",
            "Goodbye and thank you."}},
    {"flite", "kal", 1.0,
        {"Press one for sales.", "Press two for support.",
            "Stay on the line for the operator."}},
    {"flite", "kal16", 1.0,
        {"Press one for sales.", "Press two for support.",
            "Stay on the line for the operator."}},
    {"espeak", "en-us", 1.0,
        {"Thank you for calling the clinic.", "Your call is important.",
            "Please stay on the line."}},
    {"espeak", "es", 1.0,
        {"Gracias por llamar a la clínica.", "Su llamada es importante.",
            "Por favor, no cuelgue."}},
    /* another voice and another rate on the same engine at the same time */
    {"espeak", "en-us+f3", 1.0,
        {"Thank you for calling the clinic.", "Your call is important.",
            "Please stay on the line."}},
    {"espeak", "en-us", 1.6,
        {"Thank you for calling the clinic.", "Your call is important.",
            "Please stay on the line."}},
};

static void
play_call (
    Fixture *f, const CallCase *c, GByteArray *pcm, GstClockTime *lengths)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (c->texts); i++) {
    Outcome o;

    play_out_pcm (f, c->texts[i], 500, &o, pcm);
    fail_if (o.interrupted);
    fail_unless_equals_int (o.idle, i == G_N_ELEMENTS (c->texts) - 1);
    lengths[i] = o.duration;
  }
  fail_unless_equals_uint64 (stats_uint64 (f, "underruns"), 0);
}

typedef enum
{
  CALLS_ALONE, /* one call after the other */
  CALLS_INTERLEAVED, /* all up, sentence by sentence in turn: every
                      * sentence follows one of another voice or rate */
  CALLS_TOGETHER, /* all up, all text at once: every synthesis thread
                   * busy at the same time */
} CallsMode;

typedef struct
{
  GByteArray *pcm;
  GstClockTime lengths[3];
} CallResult;

static void
run_calls (CallsMode mode, CallResult *res)
{
  Fixture f[G_N_ELEMENTS (calls)];
  guint c, i;

  for (c = 0; c < G_N_ELEMENTS (calls); c++) {
    fixture_setup_full (&f[c], calls[c].backend, calls[c].voice, &sink_8k,
        "speed", calls[c].speed, NULL);
    res[c].pcm = g_byte_array_new ();
    if (mode == CALLS_ALONE) {
      for (i = 0; i < 3; i++)
        push_text (&f[c], calls[c].texts[i]);
      wait_synthesized (&f[c]);
      play_call (&f[c], &calls[c], res[c].pcm, res[c].lengths);
      fixture_teardown (&f[c]);
    }
  }
  if (mode == CALLS_ALONE)
    return;

  for (i = 0; i < 3; i++) {
    for (c = 0; c < G_N_ELEMENTS (calls); c++) {
      push_text (&f[c], calls[c].texts[i]);
      if (mode == CALLS_INTERLEAVED)
        wait_synthesized (&f[c]);
    }
  }
  for (c = 0; c < G_N_ELEMENTS (calls); c++)
    wait_synthesized (&f[c]);
  for (c = 0; c < G_N_ELEMENTS (calls); c++) {
    play_call (&f[c], &calls[c], res[c].pcm, res[c].lengths);
    fixture_teardown (&f[c]);
  }
}

static void
compare_calls (const gchar *mode, CallResult *alone, CallResult *other)
{
  guint c, i;

  for (c = 0; c < G_N_ELEMENTS (calls); c++) {
    const CallCase *call = &calls[c];
    gdouble fa = median_f0 (alone[c].pcm, 8000);
    gdouble fo = median_f0 (other[c].pcm, 8000);

    /* espeak-ng's output depends a little on what the engine said before
     * (up to 6 % here); a rate left over from the 1.6 call would be 40 % */
    guint tolerance = g_str_equal (call->backend, "espeak") ? 12 : 5;

    for (i = 0; i < 3; i++) {
      GstClockTime a = alone[c].lengths[i], o = other[c].lengths[i];

      GST_INFO ("%s/%s@%.1f \"%s\": %" GST_TIME_FORMAT
                " alone, %" GST_TIME_FORMAT " %s",
          call->backend, call->voice, call->speed, call->texts[i],
          GST_TIME_ARGS (a), GST_TIME_ARGS (o), mode);
      fail_unless (
          o > a * (100 - tolerance) / 100 && o < a * (100 + tolerance) / 100,
          "%s/%s@%.1f \"%s\": %" GST_TIME_FORMAT " %s, %" GST_TIME_FORMAT
          " alone",
          call->backend, call->voice, call->speed, call->texts[i],
          GST_TIME_ARGS (o), mode, GST_TIME_ARGS (a));
    }
    GST_INFO ("%s/%s@%.1f: median pitch %.0f Hz alone, %.0f Hz %s",
        call->backend, call->voice, call->speed, fa, fo, mode);
    fail_unless (fa > 60 && fo > fa * 0.85 && fo < fa * 1.15,
        "%s/%s@%.1f: pitch %.0f Hz %s, %.0f Hz alone", call->backend,
        call->voice, call->speed, fo, mode, fa);
    if (g_str_has_prefix (call->voice, "kal")) {
      fail_unless_equals_int (other[c].pcm->len, alone[c].pcm->len);
      fail_unless (memcmp (other[c].pcm->data, alone[c].pcm->data,
                       alone[c].pcm->len) == 0,
          "%s/%s sounds different %s", call->backend, call->voice, mode);
    }
  }
}

GST_START_TEST (test_concurrent_calls)
{
  CallResult alone[G_N_ELEMENTS (calls)];
  CallResult interleaved[G_N_ELEMENTS (calls)];
  CallResult together[G_N_ELEMENTS (calls)];
  gint male = -1, female = -1;
  guint c;

  REQUIRE_BACKEND ("flite");
  REQUIRE_BACKEND ("espeak");
  run_calls (CALLS_ALONE, alone);

  /* the pitch check tells espeak-ng's male and female voices apart */
  for (c = 0; c < G_N_ELEMENTS (calls); c++) {
    if (g_str_equal (calls[c].voice, "en-us") && calls[c].speed == 1.0)
      male = c;
    if (g_str_equal (calls[c].voice, "en-us+f3"))
      female = c;
  }
  fail_unless (male >= 0 && female >= 0);
  fail_unless (median_f0 (alone[female].pcm, 8000) >
      1.5 * median_f0 (alone[male].pcm, 8000));

  run_calls (CALLS_INTERLEAVED, interleaved);
  compare_calls ("interleaved", alone, interleaved);
  run_calls (CALLS_TOGETHER, together);
  compare_calls ("together", alone, together);

  for (c = 0; c < G_N_ELEMENTS (calls); c++) {
    g_byte_array_unref (alone[c].pcm);
    g_byte_array_unref (interleaved[c].pcm);
    g_byte_array_unref (together[c].pcm);
  }
}

GST_END_TEST;

/* ---- tts-voice: another voice from the next sentence on ---------------- */

static void
push_voice (Fixture *f, const gchar *backend, const gchar *voice)
{
  fail_unless (gst_harness_push_event (
      f->h, gst_agent_event_new_tts_voice (backend, voice)));
}

/* The warnings on the bus so far, as "domain code: message" lines. */
static gchar *
pop_warnings (Fixture *f)
{
  GString *out = g_string_new (NULL);
  GstMessage *msg;

  while ((msg = gst_bus_pop_filtered (f->bus, GST_MESSAGE_WARNING))) {
    GError *err = NULL;

    gst_message_parse_warning (msg, &err, NULL);
    g_string_append_printf (out, "%s %d: %s\n", g_quark_to_string (err->domain),
        err->code, err->message);
    g_clear_error (&err);
    gst_message_unref (msg);
  }
  return g_string_free (out, FALSE);
}

/* How long @text takes alone in a fresh element with @voice. */
static GstClockTime
length_alone (const gchar *backend, const gchar *voice, const gchar *text)
{
  Fixture f;
  Outcome o;

  fixture_setup (&f, backend, voice, &sink_8k);
  push_text (&f, text);
  wait_synthesized (&f);
  play_out (&f, text, 500, &o);
  fail_if (o.interrupted);
  fixture_teardown (&f);
  return o.duration;
}

static gboolean
close_to (GstClockTime a, GstClockTime b, guint percent)
{
  return a > b * (100 - percent) / 100 && a < b * (100 + percent) / 100;
}

/* kal (flite, 8 kHz) and espeak-ng's es (22050 Hz) in one stream: the
 * sentences queued before the event keep kal, those after it are es,
 * `default` goes back to kal. Each sentence sounds as it does alone in its
 * voice (kal is deterministic: the same length to the sample; espeak-ng
 * varies a little with what it said before), the output caps never change
 * and the timeline has no hole or overlap at either switch. */
GST_START_TEST (test_voice_switch)
{
  const gchar *en1 = "Thank you for calling Smith and Jones.";
  const gchar *en2 = "This call is recorded.";
  const gchar *es = "Para español, oprima dos.";
  const gchar *en3 = "For English, stay on the line.";
  GstClockTime kal_en1, kal_en2, kal_en3, kal_es, espeak_es;
  Outcome o1, o2, o3, o4;
  Fixture f;
  GstEvent *ev;
  guint n_caps;

  REQUIRE_BACKEND ("flite");
  REQUIRE_BACKEND ("espeak");
  kal_en1 = length_alone ("flite", "kal", en1);
  kal_en2 = length_alone ("flite", "kal", en2);
  kal_en3 = length_alone ("flite", "kal", en3);
  kal_es = length_alone ("flite", "kal", es);
  espeak_es = length_alone ("espeak", "es", es);
  GST_INFO ("\"%s\": %" GST_TIME_FORMAT " with kal, %" GST_TIME_FORMAT
            " with espeak es",
      es, GST_TIME_ARGS (kal_es), GST_TIME_ARGS (espeak_es));
  /* the length tells the two voices apart */
  fail_if (close_to (espeak_es, kal_es, 25),
      "kal %" GST_TIME_FORMAT ", es %" GST_TIME_FORMAT, GST_TIME_ARGS (kal_es),
      GST_TIME_ARGS (espeak_es));

  fixture_setup (&f, "flite", "kal", &sink_8k);
  f.check_contiguous = TRUE;
  /* all queued before any of it plays: the switch follows the queue, not
   * the synthesis */
  push_text (&f, en1);
  push_text (&f, en2);
  push_voice (&f, "espeak", "es");
  push_text (&f, es);
  push_voice (&f, NULL, "default");
  push_text (&f, en3);
  wait_synthesized (&f);
  fail_unless_equals_int (stats_uint (&f, "open-voices"), 2);

  play_out (&f, en1, 500, &o1);
  play_out (&f, en2, 500, &o2);
  play_out (&f, es, 500, &o3);
  play_out (&f, en3, 500, &o4);
  fail_unless_equals_string (o1.voice, "flite:kal");
  fail_unless_equals_string (o2.voice, "flite:kal");
  fail_unless_equals_string (o3.voice, "espeak:es");
  fail_unless_equals_string (o4.voice, "flite:kal");
  fail_if (
      o1.interrupted || o2.interrupted || o3.interrupted || o4.interrupted);
  fail_unless (o4.idle);
  /* back to back across both switches */
  fail_unless_equals_uint64 (o2.started, o1.finished);
  fail_unless_equals_uint64 (o3.started, o2.finished);
  fail_unless_equals_uint64 (o4.started, o3.finished);
  fail_unless_equals_uint64 (o1.duration, kal_en1);
  fail_unless_equals_uint64 (o2.duration, kal_en2);
  fail_unless_equals_uint64 (o4.duration, kal_en3);
  fail_unless (close_to (o3.duration, espeak_es, 12),
      "es after kal: %" GST_TIME_FORMAT ", alone %" GST_TIME_FORMAT,
      GST_TIME_ARGS (o3.duration), GST_TIME_ARGS (espeak_es));
  fail_unless (o3.loud * CHUNK > o3.duration / 2);
  crank_silence (&f, 5);
  fail_unless_equals_uint64 (stats_uint64 (&f, "underruns"), 0);

  /* the caps went out once, at the start, and never changed */
  n_caps = 0;
  while ((ev = gst_harness_try_pull_event (f.h)) != NULL) {
    if (GST_EVENT_TYPE (ev) == GST_EVENT_CAPS)
      n_caps++;
    gst_event_unref (ev);
  }
  fail_unless_equals_int (n_caps, 1);

  /* switching back and forth again opens nothing new */
  push_voice (&f, "espeak", "es");
  push_text (&f, es);
  push_voice (&f, "flite", NULL);
  push_text (&f, en2);
  wait_synthesized (&f);
  play_out (&f, es, 500, &o1);
  play_out (&f, en2, 500, &o2);
  fail_unless_equals_string (o1.voice, "espeak:es");
  fail_unless_equals_string (o2.voice, "flite:kal");
  fail_unless_equals_int (stats_uint (&f, "open-voices"), 2);
  fail_unless (gst_bus_pop_filtered (
                   f.bus, GST_MESSAGE_WARNING | GST_MESSAGE_ERROR) == NULL);
  fixture_teardown (&f);
}

GST_END_TEST;

/* A voice that cannot be opened, or a backend that is not built, is a
 * warning and the sentences go on in the voice of the one before; a voice
 * without a backend is one of the current backend's. */
GST_START_TEST (test_voice_unknown)
{
  const gchar *one = "One moment, please.";
  const gchar *two = "Still the same voice.";
  const gchar *three = "Uno, dos, tres.";
  Outcome o;
  Fixture f;
  gchar *w;

  REQUIRE_BACKEND ("flite");
  REQUIRE_BACKEND ("espeak");
  fixture_setup (&f, "flite", "slt", &sink_16k);
  f.check_contiguous = TRUE;

  push_voice (&f, "espeak", "xx-nosuchvoice");
  push_text (&f, one);
  wait_synthesized (&f);
  w = pop_warnings (&f);
  GST_INFO ("warnings: %s", w);
  fail_unless (strstr (w, "xx-nosuchvoice") != NULL, "%s", w);
  fail_unless (strstr (w, "keeping the current voice") != NULL, "%s", w);
  g_free (w);
  play_out (&f, one, 500, &o);
  fail_if (o.interrupted);
  fail_unless_equals_string (o.voice, "flite:slt");

  /* a backend this build does not have: warned about at once */
  push_voice (&f, "polly", "joanna");
  w = pop_warnings (&f);
  fail_unless (strstr (w, "polly") != NULL, "%s", w);
  g_free (w);
  push_text (&f, two);
  wait_synthesized (&f);
  play_out (&f, two, 500, &o);
  fail_unless_equals_string (o.voice, "flite:slt");
  /* the failed voice was not tried again */
  w = pop_warnings (&f);
  fail_unless_equals_string (w, "");
  g_free (w);

  /* "es" alone: a voice of the backend asked for last (espeak) */
  push_voice (&f, NULL, "es");
  push_text (&f, three);
  wait_synthesized (&f);
  play_out (&f, three, 500, &o);
  fail_if (o.interrupted);
  fail_unless_equals_string (o.voice, "espeak:es");
  fail_unless (o.loud > 10);
  fail_unless_equals_int (stats_uint (&f, "open-voices"), 2);
  fail_unless_equals_uint64 (stats_uint64 (&f, "failed"), 0);
  fixture_teardown (&f);
}

GST_END_TEST;

/* backend-options belong to the element's own backend: espeak's pitch is
 * not handed to flite (which takes no options and would refuse). A voice
 * without a backend is one of the current backend's. A new stream starts
 * in the element's own voice. */
GST_START_TEST (test_voice_options_and_restart)
{
  const gchar *text = "Back in the first voice.";
  GstStructure *options;
  Outcome o;
  Fixture f;
  gchar *w;

  REQUIRE_BACKEND ("flite");
  REQUIRE_BACKEND ("espeak");
  options = gst_structure_from_string ("options, pitch=(int)70", NULL);
  fixture_setup_full (
      &f, "espeak", "en-us", &sink_8k, "backend-options", options, NULL);
  gst_structure_free (options);
  push_voice (&f, "flite", "kal");
  push_text (&f, text);
  push_voice (&f, NULL, "en-us+f3");
  push_text (&f, text);
  wait_synthesized (&f);
  /* "en-us+f3" with no backend: one of the current backend's, flite, which
   * has no such voice, so the sentence keeps kal (collect_reports() drops
   * what is not an element message: look at the warnings first) */
  w = pop_warnings (&f);
  fail_unless (strstr (w, "flite has no voice \"en-us+f3\"") != NULL, "%s", w);
  g_free (w);
  play_out (&f, text, 500, &o);
  fail_unless_equals_string (o.voice, "flite:kal");
  play_out (&f, text, 500, &o);
  fail_unless_equals_string (o.voice, "flite:kal");
  push_voice (&f, "espeak", "en-us+f3");
  push_text (&f, text);
  wait_synthesized (&f);
  play_out (&f, text, 500, &o);
  fail_unless_equals_string (o.voice, "espeak:en-us+f3");
  fail_unless_equals_uint64 (stats_uint64 (&f, "failed"), 0);

  /* READY and back: the element's own voice again */
  fail_unless_equals_int (gst_element_set_state (f.h->element, GST_STATE_READY),
      GST_STATE_CHANGE_SUCCESS);
  fail_if (gst_element_set_state (f.h->element, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE);
  gst_harness_set_src_caps_str (f.h, "text/x-raw, format=utf8");
  push_text (&f, text);
  wait_synthesized (&f);
  play_out (&f, text, 500, &o);
  fail_unless_equals_string (o.voice, "espeak:en-us");
  fixture_teardown (&f);
}

GST_END_TEST;

/* Start and stop with text in flight, again and again: teardown must not
 * race the synthesis thread or the clock wait. */
GST_START_TEST (test_quick_start_stop)
{
  const gchar *backends[][2] = {{"flite", "slt"}, {"espeak", "es"}};
  guint b, i;

  for (b = 0; b < G_N_ELEMENTS (backends); b++) {
    if (!backend_built (backends[b][0]))
      continue;
    for (i = 0; i < 20; i++) {
      Fixture f;
      guint j;

      fixture_setup (&f, backends[b][0], backends[b][1], &sink_8k);
      push_text (&f,
          "Thank you for your patience, an agent will be with "
          "you shortly.");
      push_text (&f, "Uno, dos, tres.");
      /* stop at different points: before, during and after synthesis */
      for (j = 0; j < i % 4; j++) {
        GstBuffer *buf = crank_pull (&f);

        gst_buffer_unref (buf);
      }
      if (i % 5 == 0)
        push_barge_in (&f);
      fixture_teardown (&f);
    }
  }
}

GST_END_TEST;

/* PLAYING -> PAUSED -> PLAYING keeps one timeline. */
GST_START_TEST (test_pause_resume_contiguous)
{
  Fixture f;
  GstBuffer *buf;
  GstClockTime expect;
  guint i;

  REQUIRE_BACKEND ("flite");
  fixture_setup (&f, "flite", "kal", &sink_8k);
  buf = crank_pull (&f);
  expect = GST_BUFFER_PTS (buf) + GST_BUFFER_DURATION (buf);
  gst_buffer_unref (buf);

  fail_unless_equals_int (
      gst_element_set_state (f.h->element, GST_STATE_PAUSED),
      GST_STATE_CHANGE_NO_PREROLL);
  fail_unless_equals_int (
      gst_element_set_state (f.h->element, GST_STATE_PLAYING),
      GST_STATE_CHANGE_SUCCESS);
  for (i = 0; i < 5; i++) {
    buf = crank_pull (&f);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), expect);
    fail_if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT));
    expect += GST_BUFFER_DURATION (buf);
    gst_buffer_unref (buf);
  }
  fixture_teardown (&f);
}

GST_END_TEST;

static Suite *
ttsbridge_suite (void)
{
  Suite *s = suite_create ("ttsbridge");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_paces_silence_on_the_clock);
  tcase_add_test (tc, test_latency_is_one_chunk);
  tcase_add_loop_test (
      tc, test_speaks_each_voice, 0, G_N_ELEMENTS (voice_cases));
  tcase_add_test (tc, test_started_finished_order);
  tcase_add_test (tc, test_barge_in_flite);
  tcase_add_test (tc, test_barge_in_espeak);
  tcase_add_test (tc, test_barge_in_cancels_synthesis);
  tcase_add_test (tc, test_flush_drops);
  tcase_add_test (tc, test_eos_after_queued_text);
  tcase_add_test (tc, test_renegotiates_rate);
  tcase_add_test (tc, test_speed);
  tcase_add_test (tc, test_bad_configuration);
  tcase_add_test (tc, test_espeak_pitch_option);
  tcase_add_test (tc, test_concurrent_calls);
  tcase_add_test (tc, test_voice_switch);
  tcase_add_test (tc, test_voice_unknown);
  tcase_add_test (tc, test_voice_options_and_restart);
  tcase_add_test (tc, test_quick_start_stop);
  tcase_add_test (tc, test_pause_resume_contiguous);
  return s;
}

GST_CHECK_MAIN (ttsbridge);
