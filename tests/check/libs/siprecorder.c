/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Call recording (gst-libs/gst/sip/gstsiprecorder.c) on small call-like
 * pipelines with the real sttbridge and ttsbridge, on the system clock:
 *
 *   audiotestsrc (live, 440 Hz) ! valve ! sttbridge ! fakesink    (caller)
 *   appsrc (text) ! ttsbridge ! fakesink                           (agent)
 *
 * The recording is read back (WAV: parsed here; Ogg/Opus: its header
 * parsed here, its audio decoded by oggdemux ! opusdec) and checked: two
 * channels at the expected rate, the tone on the left and not on the right,
 * the agent's speech on the right and not on the left, as long as the run.
 */
#include <gst/check/gstcheck.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/sip/gstsiprecorder.h>
#include <sofia-sip/su_uniqueid.h>

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#define TONE_HZ 440.0
#define TONE_VOLUME 0.3
#define WINDOW_MS 100 /* 44 periods of the tone */
#define SPEECH_RMS 300.0 /* a 100 ms window louder than this is speech */

static const gchar *greeting =
    "Thank you for calling Smith and Jones, injury attorneys. "
    "Please tell me your name and how we can help you today.";

typedef struct
{
  GstElement *pipeline;
  GstElement *text; /* appsrc into ttsbridge */
  GstElement *hold; /* valve in front of sttbridge */
  GstElement *tts_sink; /* fakesink behind ttsbridge */
  gint rate;
  gint64 started; /* monotonic µs at PLAYING */
} Call;

typedef struct
{
  gint rate;
  gint channels;
  gsize frames;
  gint16 *left;
  gint16 *right;
} Recording;

static gchar *
tmp_path (const gchar *name)
{
  gchar *dir = g_dir_make_tmp ("siprecorder-XXXXXX", NULL);

  fail_unless (dir != NULL);
  return g_build_filename (dir, name, NULL);
}

static void
remove_path (gchar *path)
{
  gchar *dir = g_path_get_dirname (path);

  g_unlink (path);
  g_rmdir (dir);
  g_free (dir);
  g_free (path);
}

static Call *
call_new (gint rate, gboolean caller_on_hold, gboolean sync)
{
  Call *c = g_new0 (Call, 1);
  GError *err = NULL;
  gchar *desc;

  c->rate = rate;
  desc = g_strdup_printf (
      "audiotestsrc is-live=true wave=sine freq=%f volume=%f "
      "samplesperbuffer=%d ! audio/x-raw,format=S16LE,channels=1,rate=%d ! "
      "valve name=hold drop=%d ! sttbridge ! fakesink sync=%d async=false "
      "appsrc name=text format=time caps=text/x-raw,format=utf8 ! ttsbridge ! "
      "audio/x-raw,rate=%d ! fakesink name=ttssink sync=%d async=false",
      TONE_HZ, TONE_VOLUME, rate / 50, rate, caller_on_hold, sync, rate, sync);
  c->pipeline = gst_parse_launch (desc, &err);
  g_free (desc);
  /* gst_parse_launch returns what it could build even when an element is
   * missing */
  fail_unless (
      c->pipeline != NULL && err == NULL, "%s", err ? err->message : "");
  c->text = gst_bin_get_by_name (GST_BIN (c->pipeline), "text");
  c->hold = gst_bin_get_by_name (GST_BIN (c->pipeline), "hold");
  c->tts_sink = gst_bin_get_by_name (GST_BIN (c->pipeline), "ttssink");
  return c;
}

static void
call_free (Call *c)
{
  gst_element_set_state (c->pipeline, GST_STATE_NULL);
  gst_object_unref (c->text);
  gst_object_unref (c->hold);
  gst_object_unref (c->tts_sink);
  gst_object_unref (c->pipeline);
  g_free (c);
}

static void
attach (Call *c, const gchar *path, GstSipRecordingFormat format)
{
  GError *err = NULL;

  fail_unless (
      gst_sip_recorder_attach (GST_BIN (c->pipeline), path, format, &err), "%s",
      err ? err->message : "");
}

static void
say (Call *c, const gchar *text)
{
  GstBuffer *buf = gst_buffer_new_memdup (text, strlen (text));

  fail_unless_equals_int (
      gst_app_src_push_buffer (GST_APP_SRC (c->text), buf), GST_FLOW_OK);
}

static void
call_play (Call *c)
{
  fail_unless (gst_element_set_state (c->pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  c->started = g_get_monotonic_time ();
}

/* Lets the call run until @until seconds after PLAYING; any error or
 * warning on the bus fails the test (the recording's failures are
 * warnings) unless @warnings is given, which then counts them. */
static void
call_run_until (Call *c, gdouble until, guint *warnings)
{
  GstBus *bus = gst_element_get_bus (c->pipeline);
  gint64 end = c->started + (gint64) (until * G_USEC_PER_SEC);
  gint64 now;

  while ((now = g_get_monotonic_time ()) < end) {
    GstMessage *msg = gst_bus_timed_pop_filtered (bus,
        (end - now) * GST_USECOND, GST_MESSAGE_ERROR | GST_MESSAGE_WARNING);
    GError *err = NULL;
    gchar *debug = NULL;

    if (!msg)
      break;
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_WARNING && warnings) {
      (*warnings)++;
      gst_message_unref (msg);
      continue;
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
      gst_message_parse_error (msg, &err, &debug);
    else
      gst_message_parse_warning (msg, &err, &debug);
    fail ("%s from %s: %s (%s)", GST_MESSAGE_TYPE_NAME (msg),
        GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)), err->message, debug);
  }
  gst_object_unref (bus);
}

static gdouble
call_elapsed (Call *c)
{
  return (g_get_monotonic_time () - c->started) / (gdouble) G_USEC_PER_SEC;
}

static void
recording_free (Recording *r)
{
  g_free (r->left);
  g_free (r->right);
  g_free (r);
}

static Recording *
recording_from_interleaved (
    const gint16 *samples, gsize frames, gint rate, gint channels)
{
  Recording *r = g_new0 (Recording, 1);
  gsize i;

  fail_unless_equals_int (channels, 2);
  r->rate = rate;
  r->channels = channels;
  r->frames = frames;
  r->left = g_new (gint16, frames);
  r->right = g_new (gint16, frames);
  for (i = 0; i < frames; i++) {
    r->left[i] = GINT16_FROM_LE (samples[2 * i]);
    r->right[i] = GINT16_FROM_LE (samples[2 * i + 1]);
  }
  return r;
}

/* A WAV file as wavenc leaves it after EOS: every size in its header
 * agrees with the file. */
static Recording *
read_wav (const gchar *path)
{
  gchar *data;
  gsize len, pos = 12;
  guint16 format = 0, channels = 0, bits = 0;
  guint32 rate = 0;
  Recording *r = NULL;

  fail_unless (g_file_get_contents (path, &data, &len, NULL));
  fail_unless (len > 44, "%s: %" G_GSIZE_FORMAT " bytes", path, len);
  fail_unless (
      memcmp (data, "RIFF", 4) == 0 && memcmp (data + 8, "WAVE", 4) == 0);
  fail_unless_equals_uint64 (
      GUINT32_FROM_LE (*(guint32 *) (data + 4)), len - 8);

  while (pos + 8 <= len) {
    guint32 size = GUINT32_FROM_LE (*(guint32 *) (data + pos + 4));
    const gchar *body = data + pos + 8;

    if (memcmp (data + pos, "fmt ", 4) == 0) {
      format = GUINT16_FROM_LE (*(guint16 *) body);
      channels = GUINT16_FROM_LE (*(guint16 *) (body + 2));
      rate = GUINT32_FROM_LE (*(guint32 *) (body + 4));
      bits = GUINT16_FROM_LE (*(guint16 *) (body + 14));
    } else if (memcmp (data + pos, "data", 4) == 0) {
      /* the header was rewritten at EOS: data runs to the end */
      fail_unless (pos + 8 + size <= len, "data chunk %u past the end", size);
      fail_unless (format == 1 || format == 0xfffe, "format %u", format);
      fail_unless_equals_int (bits, 16);
      r = recording_from_interleaved (
          (const gint16 *) body, size / (2 * channels), rate, channels);
    }
    pos += 8 + size + (size & 1);
  }
  fail_unless (r != NULL, "%s: no data chunk", path);
  g_free (data);
  return r;
}

/* An Ogg/Opus file as oggmux leaves it after EOS: OpusHead with two
 * channels and the recording's rate as its input rate, the last page
 * flagged end-of-stream. The audio decoded at that rate. */
static Recording *
read_ogg_opus (const gchar *path, gint rate)
{
  gchar *data, *head, *desc;
  gsize len, pos, last_page = 0;
  GstElement *pipeline, *sink;
  GstSample *sample;
  GByteArray *pcm = g_byte_array_new ();
  Recording *r;

  fail_unless (g_file_get_contents (path, &data, &len, NULL));
  fail_unless (len > 100 && memcmp (data, "OggS", 4) == 0);
  for (pos = 0, head = NULL; !head && pos + 19 <= MIN (len, 200); pos++)
    if (memcmp (data + pos, "OpusHead", 8) == 0)
      head = data + pos;
  fail_unless (head != NULL);
  fail_unless_equals_int (head[9], 2);
  fail_unless_equals_int (GUINT32_FROM_LE (*(guint32 *) (head + 12)), rate);
  for (pos = 0; pos + 27 < len; pos++)
    if (memcmp (data + pos, "OggS", 4) == 0)
      last_page = pos;
  fail_unless (data[last_page + 5] & 0x04, "last page not end-of-stream");
  g_free (data);

  desc = g_strdup_printf ("filesrc location=\"%s\" ! oggdemux ! opusdec ! "
                          "audioconvert ! audioresample ! "
                          "audio/x-raw,format=S16LE,layout=interleaved,"
                          "channels=2,rate=%d ! appsink name=out sync=false",
      path, rate);
  pipeline = gst_parse_launch (desc, NULL);
  g_free (desc);
  fail_unless (pipeline != NULL);
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "out");
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  while ((sample = gst_app_sink_try_pull_sample (
              GST_APP_SINK (sink), 10 * GST_SECOND))) {
    GstMapInfo map;
    GstBuffer *buf = gst_sample_get_buffer (sample);

    gst_buffer_map (buf, &map, GST_MAP_READ);
    g_byte_array_append (pcm, map.data, map.size);
    gst_buffer_unmap (buf, &map);
    gst_sample_unref (sample);
  }
  fail_unless (gst_app_sink_is_eos (GST_APP_SINK (sink)));
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipeline);

  r = recording_from_interleaved (
      (const gint16 *) pcm->data, pcm->len / 4, rate, 2);
  g_byte_array_unref (pcm);
  return r;
}

static gsize
frame_at (Recording *r, gdouble t)
{
  gdouble f = t * r->rate;

  return (gsize) CLAMP (f, 0.0, (gdouble) r->frames);
}

/* mean square over [from, to) seconds */
static gdouble
power (Recording *r, const gint16 *x, gdouble from, gdouble to)
{
  gsize a = frame_at (r, from), b = frame_at (r, to), i;
  gdouble sum = 0;

  fail_unless (b > a);
  for (i = a; i < b; i++)
    sum += (gdouble) x[i] * x[i];
  return sum / (b - a);
}

/* mean square of the 440 Hz component over [from, to) seconds, by
 * Goertzel over 100 ms windows: a sine of amplitude A gives A²/2 */
static gdouble
tone_power (Recording *r, const gint16 *x, gdouble from, gdouble to)
{
  gsize win = r->rate * WINDOW_MS / 1000;
  gsize a = frame_at (r, from), b = frame_at (r, to), n = 0, i, j;
  gdouble coeff = 2 * cos (2 * G_PI * TONE_HZ / r->rate), sum = 0;

  for (i = a; i + win <= b; i += win, n++) {
    gdouble s1 = 0, s2 = 0;

    for (j = 0; j < win; j++) {
      gdouble s0 = x[i + j] + coeff * s1 - s2;

      s2 = s1;
      s1 = s0;
    }
    sum += 2 * (s1 * s1 + s2 * s2 - coeff * s1 * s2) / ((gdouble) win * win);
  }
  fail_unless (n > 0);
  return sum / n;
}

/* 100 ms windows in [from, to) louder than speech level */
static guint
speech_windows (Recording *r, const gint16 *x, gdouble from, gdouble to)
{
  gdouble t, step = WINDOW_MS / 1000.0;
  guint n = 0;

  for (t = from; t + step <= to; t += step)
    if (sqrt (power (r, x, t, t + step)) > SPEECH_RMS)
      n++;
  return n;
}

/* the caller's tone on the left, the agent's speech on the right, from
 * @from to @to seconds */
static void
check_sides (Recording *r, gdouble from, gdouble to)
{
  gdouble tone_amplitude = TONE_VOLUME * 32767;
  gdouble l_tone = tone_power (r, r->left, from, to);
  gdouble l_all = power (r, r->left, from, to);
  gdouble r_tone = tone_power (r, r->right, from, to);
  gdouble r_all = power (r, r->right, from, to);
  guint speech = speech_windows (r, r->right, from, to);

  GST_INFO ("left: tone %.0f of %.0f; right: tone %.0f of %.0f, %u speech "
            "windows",
      sqrt (l_tone), sqrt (l_all), sqrt (r_tone), sqrt (r_all), speech);
  /* the tone as the caller sent it, and little else */
  fail_unless (l_tone > 0.5 * tone_amplitude * tone_amplitude / 2,
      "left tone rms %.0f", sqrt (l_tone));
  fail_unless (l_tone > 0.8 * l_all, "left: tone %.0f of %.0f", sqrt (l_tone),
      sqrt (l_all));
  /* no tone on the right (speech has a little energy at 440 Hz too: kal's
   * measured 350-400 rms against the tone's 6950), but speech */
  fail_unless (r_tone < 0.01 * l_tone, "right tone rms %.0f", sqrt (r_tone));
  fail_unless (speech >= 5, "%u speech windows on the right", speech);
}

static gdouble
duration (Recording *r)
{
  return r->frames / (gdouble) r->rate;
}

static void
record_call (gint rate, GstSipRecordingFormat format, const gchar *name)
{
  Call *c = call_new (rate, FALSE, FALSE);
  gchar *path = tmp_path (name);
  Recording *r;
  gdouble elapsed;
  gint64 t0;

  attach (c, path, format);
  call_play (c);
  say (c, greeting);
  call_run_until (c, 2.5, NULL);

  elapsed = call_elapsed (c);
  t0 = g_get_monotonic_time ();
  fail_unless (gst_sip_recorder_finish (GST_BIN (c->pipeline), 2 * GST_SECOND));
  GST_INFO ("finished in %.1f ms", (g_get_monotonic_time () - t0) / 1000.0);
  call_free (c);

  r = format == GST_SIP_RECORDING_WAV ? read_wav (path)
                                      : read_ogg_opus (path, rate);
  GST_INFO ("%s: %d Hz, %.3f s for %.3f s of call", name, r->rate, duration (r),
      elapsed);
  fail_unless_equals_int (r->channels, 2);
  fail_unless_equals_int (r->rate, rate);
  fail_unless (fabs (duration (r) - elapsed) < 0.3, "%.3f s recorded of %.3f",
      duration (r), elapsed);
  check_sides (r, 0.2, duration (r) - 0.2);

  recording_free (r);
  remove_path (path);
}

GST_START_TEST (test_wav_narrowband)
{
  record_call (8000, GST_SIP_RECORDING_WAV, "call.wav");
}

GST_END_TEST;

GST_START_TEST (test_ogg_opus_wideband)
{
  record_call (16000, GST_SIP_RECORDING_OGG_OPUS, "call.opus");
}

GST_END_TEST;

/* The caller stops sending at 1 s, without EOS (on hold: no RTP); the
 * agent goes on speaking, and the recording with it, to the end. */
GST_START_TEST (test_caller_on_hold)
{
  Call *c = call_new (8000, FALSE, FALSE);
  gchar *path = tmp_path ("hold.wav");
  GStatBuf st;
  Recording *r;
  gdouble elapsed, end;

  attach (c, path, GST_SIP_RECORDING_WAV);
  call_play (c);
  say (c, greeting);
  call_run_until (c, 1.0, NULL);
  g_object_set (c->hold, "drop", TRUE, NULL);
  call_run_until (c, 3.5, NULL);
  elapsed = call_elapsed (c);
  /* written as the call goes, not held back waiting for the caller: all
   * but the mixer's latency (0.4 s) and a write buffer (4 kB, 0.13 s) */
  fail_unless (g_stat (path, &st) == 0);
  GST_INFO (
      "%.3f s on disk after %.3f s", (st.st_size - 44) / 32000.0, elapsed);
  fail_unless (st.st_size - 44 > (elapsed - 0.8) * 32000,
      "%.3f s on disk after %.3f s", (st.st_size - 44) / 32000.0, elapsed);
  fail_unless (gst_sip_recorder_finish (GST_BIN (c->pipeline), 2 * GST_SECOND));
  call_free (c);

  r = read_wav (path);
  end = duration (r);
  GST_INFO ("%.3f s recorded of %.3f", end, elapsed);
  fail_unless (
      fabs (end - elapsed) < 0.3, "%.3f s recorded of %.3f", end, elapsed);
  /* while the caller was there: both */
  check_sides (r, 0.2, 0.9);
  /* after: silence on the left, the agent on the right, to the end */
  fail_unless (sqrt (power (r, r->left, 1.3, end)) < 30, "left rms %.0f",
      sqrt (power (r, r->left, 1.3, end)));
  fail_unless (speech_windows (r, r->right, 1.3, end - 1.0) >= 5);
  fail_unless (speech_windows (r, r->right, end - 1.0, end) >= 3,
      "the agent's last second is missing");

  recording_free (r);
  remove_path (path);
}

GST_END_TEST;

/* A caller never heard at all (no caps ever on that side), and sinks that
 * sync: ttsbridge's buffers leave a pipeline latency (here 0.54 s, most of
 * it sttbridge's) after their timestamps, later than the recording's own
 * latency, and are recorded all the same. */
GST_START_TEST (test_caller_never_heard)
{
  Call *c = call_new (8000, TRUE, TRUE);
  gchar *path = tmp_path ("silent.wav");
  GStatBuf st;
  Recording *r;
  gdouble elapsed;

  attach (c, path, GST_SIP_RECORDING_WAV);
  call_play (c);
  say (c, greeting);
  call_run_until (c, 2.0, NULL);
  elapsed = call_elapsed (c);
  /* written as the call goes, not waiting for the caller */
  fail_unless (g_stat (path, &st) == 0);
  fail_unless (st.st_size - 44 > (elapsed - 0.8) * 32000,
      "%.3f s on disk after %.3f s", (st.st_size - 44) / 32000.0, elapsed);
  fail_unless (gst_sip_recorder_finish (GST_BIN (c->pipeline), 2 * GST_SECOND));
  call_free (c);

  r = read_wav (path);
  fail_unless_equals_int (r->rate, 8000);
  fail_unless (fabs (duration (r) - elapsed) < 0.3, "%.3f s recorded of %.3f",
      duration (r), elapsed);
  fail_unless (power (r, r->left, 0, duration (r)) == 0);
  fail_unless (speech_windows (r, r->right, 0.2, duration (r)) >= 5);
  recording_free (r);
  remove_path (path);
}

GST_END_TEST;

static GstClockTime
query_latency (GstElement *pipeline)
{
  GstQuery *q = gst_query_new_latency ();
  gboolean live;
  GstClockTime min, max;

  fail_unless (gst_element_query (pipeline, q));
  gst_query_parse_latency (q, &live, &min, &max);
  fail_unless (live);
  gst_query_unref (q);
  return min;
}

/* The call path's latency and caps are the same with a recording (sinks
 * that sync, so that the pipeline has a latency to compare). */
GST_START_TEST (test_call_path_untouched)
{
  Call *c = call_new (8000, FALSE, TRUE);
  gchar *path = tmp_path ("latency.wav");
  GstClockTime without, with;
  GstPad *pad;
  GstCaps *caps, *expected;

  call_play (c);
  call_run_until (c, 0.3, NULL);
  without = query_latency (c->pipeline);
  gst_element_set_state (c->pipeline, GST_STATE_NULL);

  attach (c, path, GST_SIP_RECORDING_WAV);
  call_play (c);
  call_run_until (c, 0.3, NULL);
  with = query_latency (c->pipeline);
  GST_INFO ("latency %" GST_TIME_FORMAT " without, %" GST_TIME_FORMAT " with",
      GST_TIME_ARGS (without), GST_TIME_ARGS (with));
  fail_unless_equals_uint64 (with, without);

  pad = gst_element_get_static_pad (c->tts_sink, "sink");
  caps = gst_pad_get_current_caps (pad);
  fail_unless (caps != NULL);
  expected = gst_caps_from_string (
      "audio/x-raw,format=S16LE,layout=interleaved,channels=1,rate=8000");
  fail_unless (gst_caps_is_equal (caps, expected));
  gst_caps_unref (expected);
  gst_caps_unref (caps);
  gst_object_unref (pad);

  fail_unless (gst_sip_recorder_finish (GST_BIN (c->pipeline), 2 * GST_SECOND));
  call_free (c);
  remove_path (path);
}

GST_END_TEST;

/* The file cannot be opened when the pipeline starts: the call plays on,
 * the failure is a warning, finish says the recording is not complete. */
GST_START_TEST (test_failure_spares_the_call)
{
  Call *c = call_new (8000, FALSE, FALSE);
  gchar *path = tmp_path ("gone.wav");
  gchar *dir = g_path_get_dirname (path);
  guint warnings = 0;
  GstSample *last;

  attach (c, path, GST_SIP_RECORDING_WAV);
  fail_unless (g_unlink (path) == 0 && g_rmdir (dir) == 0);
  call_play (c);
  say (c, greeting);
  call_run_until (c, 1.0, &warnings);
  fail_unless (warnings >= 1);
  g_object_get (c->tts_sink, "last-sample", &last, NULL);
  fail_unless (last != NULL, "the call's audio stopped");
  gst_sample_unref (last);
  fail_unless (
      !gst_sip_recorder_finish (GST_BIN (c->pipeline), 2 * GST_SECOND));
  call_free (c);
  fail_if (g_file_test (dir, G_FILE_TEST_EXISTS));
  g_free (dir);
  g_free (path);
}

GST_END_TEST;

/* Attached to a call already playing: recorded from then on. */
GST_START_TEST (test_attach_while_playing)
{
  Call *c = call_new (8000, FALSE, FALSE);
  gchar *path = tmp_path ("late.wav");
  gdouble attached, elapsed;
  Recording *r;

  call_play (c);
  say (c, greeting);
  call_run_until (c, 0.5, NULL);
  attached = call_elapsed (c);
  attach (c, path, GST_SIP_RECORDING_WAV);
  call_run_until (c, 1.7, NULL);
  elapsed = call_elapsed (c);
  fail_unless (gst_sip_recorder_finish (GST_BIN (c->pipeline), 2 * GST_SECOND));
  call_free (c);

  r = read_wav (path);
  GST_INFO ("%.3f s recorded of %.3f", duration (r), elapsed - attached);
  fail_unless (fabs (duration (r) - (elapsed - attached)) < 0.3,
      "%.3f s recorded of %.3f", duration (r), elapsed - attached);
  check_sides (r, 0.1, duration (r) - 0.1);
  recording_free (r);
  remove_path (path);
}

GST_END_TEST;

static GstElement *
recorder_of (Call *c)
{
  GstElement *found = NULL;
  GList *l;

  GST_OBJECT_LOCK (c->pipeline);
  for (l = GST_BIN (c->pipeline)->children; l; l = l->next)
    if (g_str_equal (G_OBJECT_TYPE_NAME (l->data), "GstSipRecorderBin"))
      found = l->data;
  GST_OBJECT_UNLOCK (c->pipeline);
  fail_unless (found != NULL);
  return found;
}

/* Torn down without gst_sip_recorder_finish(): nothing stays alive (the
 * probes on the call's pads hold no ref on the recorder), the file is
 * there, cut. */
GST_START_TEST (test_teardown_without_finish)
{
  Call *c = call_new (8000, FALSE, FALSE);
  gchar *path = tmp_path ("cut.wav");
  gpointer recorder;

  attach (c, path, GST_SIP_RECORDING_WAV);
  recorder = recorder_of (c);
  g_object_add_weak_pointer (G_OBJECT (recorder), &recorder);
  call_play (c);
  say (c, greeting);
  call_run_until (c, 0.8, NULL);
  call_free (c);
  fail_unless (recorder == NULL, "the recorder outlived its pipeline");
  fail_unless (g_file_test (path, G_FILE_TEST_EXISTS));
  remove_path (path);
}

GST_END_TEST;

GST_START_TEST (test_attach_errors)
{
  Call *c = call_new (8000, FALSE, FALSE);
  GstElement *empty = gst_pipeline_new (NULL);
  gchar *path = tmp_path ("x.wav");
  gchar *nowhere = g_build_filename (path, "no", "such.wav", NULL);
  GError *err = NULL;

  fail_if (gst_sip_recorder_attach (
      GST_BIN (empty), path, GST_SIP_RECORDING_WAV, &err));
  fail_unless (g_error_matches (err, GST_CORE_ERROR, GST_CORE_ERROR_FAILED));
  g_clear_error (&err);
  fail_if (g_file_test (path, G_FILE_TEST_EXISTS));

  fail_if (gst_sip_recorder_attach (
      GST_BIN (c->pipeline), nowhere, GST_SIP_RECORDING_WAV, &err));
  fail_unless (
      g_error_matches (err, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_WRITE));
  g_clear_error (&err);

  fail_unless (gst_sip_recorder_attach (
      GST_BIN (c->pipeline), path, GST_SIP_RECORDING_OGG_OPUS, &err));
  fail_if (gst_sip_recorder_attach (
      GST_BIN (c->pipeline), path, GST_SIP_RECORDING_WAV, &err));
  fail_unless (g_error_matches (err, GST_CORE_ERROR, GST_CORE_ERROR_FAILED));
  g_clear_error (&err);

  /* never played: nothing recorded, no file left */
  fail_unless (g_file_test (path, G_FILE_TEST_EXISTS));
  fail_unless (gst_sip_recorder_finish (GST_BIN (c->pipeline), GST_SECOND));
  fail_if (g_file_test (path, G_FILE_TEST_EXISTS));
  /* again, and without a recording: nothing to do */
  fail_unless (gst_sip_recorder_finish (GST_BIN (c->pipeline), GST_SECOND));
  fail_unless (gst_sip_recorder_finish (GST_BIN (empty), GST_SECOND));

  call_free (c);
  gst_object_unref (empty);
  g_free (nowhere);
  remove_path (path);
}

GST_END_TEST;

static Suite *
siprecorder_suite (void)
{
  Suite *s = suite_create ("siprecorder");
  TCase *tc = tcase_create ("general");

  /* This program links libgstsipagent, so sofia-sip, and never uses it.
   * sofia-sip 1.12's su_uniqueid.c starts with done_once = 1, so at exit
   * its destructor deletes its pthread key (0 when it never created it):
   * that is GLib's first key, and a GLib thread still alive (GStreamer's
   * task pool) then aborts in g_private_set. Creating the key first makes
   * the destructor delete its own. */
  (void) su_random ();
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_wav_narrowband);
  tcase_add_test (tc, test_ogg_opus_wideband);
  tcase_add_test (tc, test_caller_on_hold);
  tcase_add_test (tc, test_caller_never_heard);
  tcase_add_test (tc, test_call_path_untouched);
  tcase_add_test (tc, test_failure_spares_the_call);
  tcase_add_test (tc, test_teardown_without_finish);
  tcase_add_test (tc, test_attach_while_playing);
  tcase_add_test (tc, test_attach_errors);
  return s;
}

GST_CHECK_MAIN (siprecorder);
