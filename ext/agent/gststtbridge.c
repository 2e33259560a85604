/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-sttbridge
 * @title: sttbridge
 *
 * Speech to text for a voice agent: raw audio of the caller in, one
 * `text/x-raw, format=utf8` buffer per final utterance out, timestamped
 * with the running time of the utterance's speech.
 *
 * sttbridge takes 8 or 16 kHz mono S16LE and resamples to what its backend
 * recognizes (16 kHz for pocketsphinx). Narrowband (telephone) audio
 * resampled up leaves the band above 4 kHz empty, which a model trained on
 * wideband speech reads as something no speech ever looked like: see
 * #GstSttBridge:band-fill.
 *
 * The backend decides where an utterance ends (pocketsphinx: its voice
 * activity detector and #GstSttBridge:hangover of silence; it decodes while
 * the hangover runs, so the transcript leaves as the hangover ends). The agent
 * element downstream tells sttbridge which phrases its current dialog
 * state expects, with an upstream `agent-hints` event; the pocketsphinx
 * backend then recognizes against a grammar of those phrases, and an
 * utterance that completes one ends after #GstSttBridge:hint-hangover.
 *
 * Once the caller has spoken for #GstSttBridge:min-barge-in, a serialized
 * custom downstream event `stt-speech-started` goes out (the agent stops
 * talking if it was). Events from upstream (the `dtmf-event`,
 * `sip-call-started` and `sip-call-ended` events of sipsrc) are passed on
 * in order; `sip-call-started` also starts recognition afresh, and
 * `sip-call-ended` first reports the utterance in progress.
 *
 * DTMF keys sent as tones in the audio (a phone whose far end offered no
 * telephone-event) are detected with spandsp's detector (the dtmfdetect
 * element, gst-plugins-bad), see #GstSttBridge:dtmf-detect: each key posts
 * `dtmf-event` messages and sends the same structures downstream as
 * serialized custom events, as sipsrc does for RFC 4733 keys: `type` 1,
 * `number` (0-9, 10 = '*', 11 = '#', 12-15 = A-D), `method` 2 (sound, as
 * dtmfdetect has it), `start` TRUE and then FALSE, both when the detector
 * recognizes the key (it reports a key once; there is no `volume` or
 * `duration`).
 *
 * Loading a pocketsphinx decoder takes about a quarter of a second of CPU,
 * so decoders are pooled process-wide: a closing sttbridge leaves its
 * decoder, rewound, for the next one with the same configuration
 * (#GstSttBridge:pool-size), and an application that builds a pipeline per
 * call can load decoders ahead with the #GstSttBridge::preload action
 * signal.
 *
 * ## Messages
 *
 * Element messages on the bus:
 *
 * * `speech-started`: `running-time` (guint64), where the caller began
 *   to speak.
 * * `speech-stopped`: `running-time` (guint64), where the speech
 *   stopped (the utterance may go on if speech resumes within the
 *   hangover).
 * * `transcript`: `text` (string), `final` (boolean; FALSE for the
 *   interim hypotheses posted while the caller speaks), `confidence`
 *   (double, 0..1; 0 for interim), `start-time` and `end-time` (guint64,
 *   running time). A final transcript with empty text means speech was
 *   heard but no words were recognized; an empty buffer goes downstream
 *   for it too, so that the dialog can re-prompt.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=caller.wav ! wavparse ! audioconvert ! audioresample ! sttbridge ! fakesink dump=true
 * ]| Prints each recognized utterance of a recording as text.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstagentconfig.h"
#include "gstagentelements.h"
#include "gstagentevents.h"
#include "gststtbridge.h"
#include "gststtdtmf.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#ifdef __linux__
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

GST_DEBUG_CATEGORY_STATIC (stt_bridge_debug);
#define GST_CAT_DEFAULT stt_bridge_debug

#define DEFAULT_HANGOVER_MS 500
#define DEFAULT_HINT_HANGOVER_MS 200
#define DEFAULT_MIN_BARGE_IN_MS 300
#define DEFAULT_BAND_FILL_DB -50.0
#define BAND_FILL_OFF_DB -120.0
#define FILL_TABLE_LEN 16000
#define FILL_TABLE_RMS 8192.0
#define MAX_GAP_FILL (2 * GST_SECOND)
#define PRIME_MS 500
#define DEFAULT_POOL_SIZE 4
#define DEFAULT_DECODE_NICE 10
#define DEFAULT_DTMF_DETECT GST_STT_DTMF_DETECT_AUTO

enum
{
  PROP_0,
  PROP_BACKEND,
  PROP_MODEL_DIR,
  PROP_HANGOVER,
  PROP_HINT_HANGOVER,
  PROP_MIN_BARGE_IN,
  PROP_BAND_FILL,
  PROP_POOL_SIZE,
  PROP_POOL_STATS,
  PROP_DECODE_NICE,
  PROP_DTMF_DETECT,
};

GType
gst_stt_dtmf_detect_get_type (void)
{
  static GType type;
  static const GEnumValue values[] = {
      {GST_STT_DTMF_DETECT_AUTO,
          "Unless the far end sends RFC 4733 events (sipsrc's "
          "sip-call-started)",
          "auto"},
      {GST_STT_DTMF_DETECT_ON, "Always", "on"},
      {GST_STT_DTMF_DETECT_OFF, "Never", "off"},
      {0, NULL, NULL},
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (
        &type, g_enum_register_static ("GstSttDtmfDetect", values));
  return type;
}

enum
{
  SIGNAL_PRELOAD,
  LAST_SIGNAL
};

static guint signals[LAST_SIGNAL];

typedef enum
{
  RESULT_SPEECH_STARTED,
  RESULT_SPEECH_STOPPED,
  RESULT_TRANSCRIPT,
} ResultType;

struct _GstSttResult
{
  ResultType type;
  GstClockTime at; /* conversation time */
  GstClockTime end;
  gchar *text;
  gdouble confidence;
  gboolean final;
};

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
        GST_STATIC_CAPS ("audio/x-raw, format=(string)S16LE, "
                         "layout=(string)interleaved, channels=(int)1, "
                         "rate=(int){ 8000, 16000 }"));

static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
        GST_STATIC_CAPS ("text/x-raw, format=(string)utf8"));

#define gst_stt_bridge_parent_class parent_class
G_DEFINE_TYPE (GstSttBridge, gst_stt_bridge, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (
    sttbridge, "sttbridge", GST_RANK_NONE, GST_TYPE_STT_BRIDGE);

static const GstSttBackendClass *const backends[] = {
#ifdef HAVE_POCKETSPHINX
    &gst_stt_pocketsphinx_backend,
#endif
    NULL,
};

const GstSttBackendClass *
gst_stt_backend_find (const gchar *name)
{
  const GstSttBackendClass *const *b;

  for (b = backends; *b; b++)
    if (name == NULL || g_str_equal ((*b)->name, name))
      return *b;
  return NULL;
}

const gchar *
gst_stt_backend_default_name (void)
{
  return backends[0] ? backends[0]->name : "";
}

/* ---- band fill ---- */

/* One second of noise confined to 4-8 kHz at 16 kHz, RMS FILL_TABLE_RMS:
 * low-pass filtered white noise (windowed sinc, cut-off fs/4) shifted up by
 * fs/2, i.e. every other sample negated. Filtered circularly so that the
 * table loops without a click. Made once per process. */
static gpointer
make_fill_table (gpointer unused)
{
  enum
  {
    TAPS = 65
  };
  gdouble taps[TAPS], *white, *band, sum = 0.0, scale;
  gint16 *table = g_new (gint16, FILL_TABLE_LEN);
  GRand *rand = g_rand_new_with_seed (4475);
  gint i, k;

  for (k = 0; k < TAPS; k++) {
    gdouble x = k - (TAPS - 1) / 2.0;
    gdouble sinc = x == 0.0 ? 0.5 : sin (G_PI * 0.5 * x) / (G_PI * x);
    gdouble hamming = 0.54 - 0.46 * cos (2.0 * G_PI * k / (TAPS - 1));

    taps[k] = sinc * hamming;
  }
  white = g_new (gdouble, FILL_TABLE_LEN);
  band = g_new (gdouble, FILL_TABLE_LEN);
  for (i = 0; i < FILL_TABLE_LEN; i++)
    white[i] = g_rand_double_range (rand, -1.0, 1.0);
  for (i = 0; i < FILL_TABLE_LEN; i++) {
    gdouble acc = 0.0;

    for (k = 0; k < TAPS; k++)
      acc += taps[k] * white[(i + FILL_TABLE_LEN - k) % FILL_TABLE_LEN];
    band[i] = (i & 1) ? -acc : acc;
    sum += band[i] * band[i];
  }
  scale = FILL_TABLE_RMS / sqrt (sum / FILL_TABLE_LEN);
  for (i = 0; i < FILL_TABLE_LEN; i++)
    table[i] = (gint16) CLAMP (band[i] * scale, -32768.0, 32767.0);
  g_free (white);
  g_free (band);
  g_rand_free (rand);
  return table;
}

static const gint16 *
fill_table (void)
{
  static GOnce once = G_ONCE_INIT;

  return g_once (&once, make_fill_table, NULL);
}

static void
add_band_fill (GstSttBridge *self, gint16 *samples, gsize n)
{
  gsize i;

  for (i = 0; i < n; i++) {
    gint v = samples[i] +
        ((self->fill_table[self->fill_pos] * self->fill_gain_q15) >> 15);

    samples[i] = (gint16) CLAMP (v, G_MININT16, G_MAXINT16);
    if (++self->fill_pos == FILL_TABLE_LEN)
      self->fill_pos = 0;
  }
}

/* ---- what the backend reports ---- */

static void
queue_result (GstSttBridge *self, GstSttResult *result)
{
  g_mutex_lock (&self->results_lock);
  g_queue_push_tail (&self->results, result);
  g_atomic_int_inc (&self->n_results);
  g_mutex_unlock (&self->results_lock);
}

static void
queue_voice_activity (gpointer user_data, ResultType type, GstClockTime at)
{
  GstSttResult *r = g_new0 (GstSttResult, 1);

  r->type = type;
  r->at = at;
  queue_result (user_data, r);
}

static void
on_speech_started (gpointer user_data, GstClockTime at)
{
  queue_voice_activity (user_data, RESULT_SPEECH_STARTED, at);
}

static void
on_speech_stopped (gpointer user_data, GstClockTime at)
{
  queue_voice_activity (user_data, RESULT_SPEECH_STOPPED, at);
}

static void
on_transcript (gpointer user_data, const gchar *text, gdouble confidence,
    GstClockTime start, GstClockTime end, gboolean final)
{
  GstSttResult *r = g_new0 (GstSttResult, 1);

  r->type = RESULT_TRANSCRIPT;
  r->at = start;
  r->end = end;
  r->text = g_strdup (text);
  r->confidence = confidence;
  r->final = final;
  queue_result (user_data, r);
}

static void
result_free (GstSttResult *r)
{
  g_free (r->text);
  g_free (r);
}

static void
clear_results (GstSttBridge *self)
{
  g_mutex_lock (&self->results_lock);
  g_queue_clear_full (&self->results, (GDestroyNotify) result_free);
  g_atomic_int_set (&self->n_results, 0);
  g_mutex_unlock (&self->results_lock);
}

static GstClockTime
to_running_time (GstSttBridge *self, GstClockTime t)
{
  if (!GST_CLOCK_TIME_IS_VALID (self->base_running_time))
    return t;
  return self->base_running_time + t;
}

static GstClockTime
fed_time (GstSttBridge *self)
{
  return gst_util_uint64_scale_int (
      self->fed_samples, GST_SECOND, self->backend_class->rate);
}

static void
post (GstSttBridge *self, GstStructure *s)
{
  gst_element_post_message (
      GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

static GstFlowReturn
push_transcript (GstSttBridge *self, GstSttResult *r)
{
  gsize len = strlen (r->text);
  GstBuffer *buf = gst_buffer_new_allocate (NULL, len, NULL);

  gst_buffer_fill (buf, 0, r->text, len);
  GST_BUFFER_PTS (buf) = to_running_time (self, r->at);
  if (r->end > r->at)
    GST_BUFFER_DURATION (buf) = r->end - r->at;
  GST_INFO_OBJECT (self, "heard '%s' (%.2f)", r->text, r->confidence);
  return gst_pad_push (self->srcpad, buf);
}

/* Streaming thread: turn what the backend reported into messages, events
 * and text. */
static GstFlowReturn
handle_results (GstSttBridge *self)
{
  GstFlowReturn ret = GST_FLOW_OK;
  GstSttResult *r;

  /* Most packets produce no result: no lock unless there is one. */
  while (g_atomic_int_get (&self->n_results) > 0) {
    g_mutex_lock (&self->results_lock);
    r = g_queue_pop_head (&self->results);
    if (r)
      g_atomic_int_add (&self->n_results, -1);
    g_mutex_unlock (&self->results_lock);
    if (r == NULL)
      break;

    switch (r->type) {
      case RESULT_SPEECH_STARTED:
        if (!self->in_speech) {
          self->in_speech = TRUE;
          self->speech_started_at = r->at;
          self->barge_in_sent = FALSE;
        }
        post (self,
            gst_structure_new (GST_AGENT_MESSAGE_SPEECH_STARTED, "running-time",
                G_TYPE_UINT64, to_running_time (self, r->at), NULL));
        break;
      case RESULT_SPEECH_STOPPED:
        self->in_speech = FALSE;
        post (self,
            gst_structure_new (GST_AGENT_MESSAGE_SPEECH_STOPPED, "running-time",
                G_TYPE_UINT64, to_running_time (self, r->at), NULL));
        break;
      case RESULT_TRANSCRIPT:
        post (self,
            gst_structure_new (GST_AGENT_MESSAGE_TRANSCRIPT, "text",
                G_TYPE_STRING, r->text, "final", G_TYPE_BOOLEAN, r->final,
                "confidence", G_TYPE_DOUBLE, r->confidence, "start-time",
                G_TYPE_UINT64, to_running_time (self, r->at), "end-time",
                G_TYPE_UINT64, to_running_time (self, r->end), NULL));
        if (r->final) {
          self->in_speech = FALSE;
          if (ret == GST_FLOW_OK)
            ret = push_transcript (self, r);
        }
        break;
    }
    result_free (r);
  }
  return ret;
}

static void
maybe_send_barge_in (GstSttBridge *self)
{
  guint min_ms;
  GstClockTime now;

  if (!self->in_speech || self->barge_in_sent)
    return;
  GST_OBJECT_LOCK (self);
  min_ms = self->min_barge_in_ms;
  GST_OBJECT_UNLOCK (self);
  now = fed_time (self);
  if (now < self->speech_started_at + min_ms * GST_MSECOND)
    return;
  self->barge_in_sent = TRUE;
  GST_DEBUG_OBJECT (self, "caller has spoken for %u ms", min_ms);
  gst_pad_push_event (self->srcpad,
      gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
          gst_structure_new (GST_AGENT_EVENT_SPEECH_STARTED, "running-time",
              G_TYPE_UINT64, to_running_time (self, self->speech_started_at),
              NULL)));
}

static void
apply_pending_hints (GstSttBridge *self)
{
  gchar **hints = NULL;
  gboolean closed = FALSE, pending;

  /* Every packet asks; hints change a few times a call. Only take the lock
   * when the flag says there is something to take. */
  if (!g_atomic_int_get (&self->hints_pending))
    return;
  g_mutex_lock (&self->hints_lock);
  pending = self->hints_pending;
  if (pending) {
    hints = self->pending_hints;
    closed = self->pending_hints_closed;
    self->pending_hints = NULL;
    g_atomic_int_set (&self->hints_pending, FALSE);
  }
  g_mutex_unlock (&self->hints_lock);
  if (pending) {
    self->backend_class->set_hints (
        self->backend, (const gchar *const *) hints, closed);
    g_strfreev (hints);
  }
}

/* ---- audio in ---- */

static gboolean
ensure_scratch (GstSttBridge *self, gsize n)
{
  if (n > self->scratch_len) {
    self->scratch = g_renew (gint16, self->scratch, n);
    self->scratch_len = n;
  }
  return TRUE;
}

static GstFlowReturn
feed (GstSttBridge *self, const gint16 *samples, gsize n)
{
  GError *err = NULL;

  apply_pending_hints (self);
  if (!self->backend_class->process (self->backend, samples, n, &err)) {
    GST_ELEMENT_ERROR (self, LIBRARY, FAILED,
        ("Speech recognition failed: %s", err->message), (NULL));
    g_clear_error (&err);
    return GST_FLOW_ERROR;
  }
  self->fed_samples += n;
  maybe_send_barge_in (self);
  return handle_results (self);
}

/* Converts n input samples to the backend's rate into scratch. */
static gsize
convert (GstSttBridge *self, const gint16 *in, gsize n)
{
  gsize out_frames;
  gpointer in_planes[1], out_planes[1];

  if (self->resampler == NULL) {
    ensure_scratch (self, n);
    memcpy (self->scratch, in, n * sizeof (gint16));
    return n;
  }
  out_frames = gst_audio_resampler_get_out_frames (self->resampler, n);
  ensure_scratch (self, out_frames);
  in_planes[0] = (gpointer) in;
  out_planes[0] = self->scratch;
  gst_audio_resampler_resample (
      self->resampler, in_planes, n, out_planes, out_frames);
  if (self->fill_gain_q15 > 0)
    add_band_fill (self, self->scratch, out_frames);
  return out_frames;
}

/* pocketsphinx's voice activity detector takes the first frames of a
 * stream for speech until it has learnt the noise floor: a call that
 * starts with silence gave an empty "utterance" at 20 ms, and the cepstral
 * mean it learnt from it spoilt the first real one ("hm" for "I was in a
 * car accident yesterday"). The noise floor is the line's own (mu-law with
 * band fill, G.722's few LSB of codec noise), so the first PRIME_MS of each
 * conversation go to the backend only to train the detector; then the
 * backend is reset, which also restores the cepstral mean, and what it
 * heard is dropped. A caller who speaks in the first half second after the
 * answer loses it; callers listen to the greeting then. */
static void
settle (GstSttBridge *self, const gint16 *samples, gsize n)
{
  self->backend_class->process (self->backend, samples, n, NULL);
  self->settle_left = n >= self->settle_left ? 0 : self->settle_left - n;
  if (self->settle_left == 0) {
    self->backend_class->reset (self->backend);
    clear_results (self);
    self->needs_priming = FALSE;
    GST_DEBUG_OBJECT (self, "voice activity detector settled");
  }
}

/* ---- the decoding thread's priority ---- */

#ifdef __linux__
/* Lowering a thread's priority needs no privilege, raising it back does
 * (CAP_SYS_NICE, or RLIMIT_NICE): and streaming threads come from GStreamer's
 * shared task pool, so the thread that decoded this call may send another
 * call's audio next. Only lower what can be restored: tried once, on a
 * thread of our own. */
static gpointer
probe_restorable (gpointer unused)
{
  pid_t tid = (pid_t) syscall (SYS_gettid);
  gint was;

  errno = 0;
  was = getpriority (PRIO_PROCESS, tid);
  if (errno != 0 || setpriority (PRIO_PROCESS, tid, MIN (was + 1, 19)) != 0)
    return GINT_TO_POINTER (FALSE);
  return GINT_TO_POINTER (setpriority (PRIO_PROCESS, tid, was) == 0);
}

static gboolean
priority_restorable (void)
{
  static gsize result;

  if (g_once_init_enter (&result)) {
    GThread *t = g_thread_new ("stt-nice-probe", probe_restorable, NULL);
    gboolean ok = GPOINTER_TO_INT (g_thread_join (t));

    if (!ok)
      GST_WARNING ("decode-nice not applied: this process may lower a "
                   "thread's priority but not restore it (no CAP_SYS_NICE, "
                   "RLIMIT_NICE 0), and streaming threads are reused");
    g_once_init_leave (&result, ok ? 2 : 1);
  }
  return result == 2;
}

static void
restore_decode_priority (GstSttBridge *self)
{
  if (self->niced_thread == NULL)
    return;
  if (setpriority (PRIO_PROCESS, self->niced_tid, self->niced_from) != 0)
    GST_WARNING_OBJECT (self, "could not restore thread %d to nice %d: %s",
        (gint) self->niced_tid, self->niced_from, g_strerror (errno));
  else
    GST_DEBUG_OBJECT (self, "thread %d back to nice %d", (gint) self->niced_tid,
        self->niced_from);
  self->niced_thread = NULL;
}

/* Streaming thread, every buffer: one pointer comparison unless the thread
 * changed. */
static void
lower_decode_priority (GstSttBridge *self)
{
  GThread *thread = g_thread_self ();
  gint nice, was;
  pid_t tid;

  if (G_LIKELY (thread == self->niced_thread))
    return;
  GST_OBJECT_LOCK (self);
  nice = self->decode_nice;
  GST_OBJECT_UNLOCK (self);
  if (nice == 0 || !priority_restorable ())
    return;
  restore_decode_priority (self);
  tid = (pid_t) syscall (SYS_gettid);
  errno = 0;
  was = getpriority (PRIO_PROCESS, tid);
  if (errno != 0 || was >= nice || setpriority (PRIO_PROCESS, tid, nice) != 0) {
    /* try again on the next thread only */
    self->niced_thread = thread;
    self->niced_tid = tid;
    self->niced_from = errno == 0 ? was : 0;
    GST_DEBUG_OBJECT (self, "thread %d stays at nice %d", (gint) tid, was);
    return;
  }
  self->niced_thread = thread;
  self->niced_tid = tid;
  self->niced_from = was;
  GST_DEBUG_OBJECT (
      self, "decoding thread %d: nice %d -> %d", (gint) tid, was, nice);
}
#else
static void
lower_decode_priority (GstSttBridge *self)
{
}

static void
restore_decode_priority (GstSttBridge *self)
{
}
#endif

/* Keys dtmfdetect heard in the audio: the same `dtmf-event` as sipsrc's
 * (start, then end: the detector reports a key once, when it is sure of
 * it), method 2 (sound), on the bus and downstream, serialized: after the
 * decoder, nothing holds them back. */
static void
announce_keys (GstSttBridge *self)
{
  guint i, j;

  for (i = 0; i < self->dtmf_keys->len; i++) {
    gint number = g_array_index (self->dtmf_keys, gint, i);

    GST_INFO_OBJECT (self, "in-band DTMF key %d", number);
    for (j = 0; j < 2; j++) {
      GstStructure *s = gst_structure_new (GST_AGENT_EVENT_DTMF, "type",
          G_TYPE_INT, 1, "number", G_TYPE_INT, number, "method", G_TYPE_INT, 2,
          "start", G_TYPE_BOOLEAN, j == 0, NULL);

      gst_pad_push_event (self->srcpad,
          gst_event_new_custom (
              GST_EVENT_CUSTOM_DOWNSTREAM, gst_structure_copy (s)));
      gst_element_post_message (
          GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
    }
  }
  g_array_set_size (self->dtmf_keys, 0);
}

static GstFlowReturn
gst_stt_bridge_chain (GstPad *pad, GstObject *parent, GstBuffer *buf)
{
  GstSttBridge *self = GST_STT_BRIDGE (parent);
  GstMapInfo map;
  GstFlowReturn ret;
  gsize n;

  if (self->backend == NULL || self->in_rate == 0) {
    gst_buffer_unref (buf);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL), ("audio before caps"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (self->held) {
    /* on hold: music or silence from the far end is nobody speaking */
    gst_buffer_unref (buf);
    return GST_FLOW_OK;
  }
  lower_decode_priority (self);
  if (self->fed_samples == 0 && GST_BUFFER_PTS_IS_VALID (buf))
    self->base_running_time = gst_segment_to_running_time (
        &self->segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buf));

  if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
  if (self->dtmf && !self->far_end_rfc4733)
    gst_stt_dtmf_process (self->dtmf, (const gint16 *) map.data,
        map.size / sizeof (gint16), self->in_rate, self->dtmf_keys);
  n = convert (self, (const gint16 *) map.data, map.size / sizeof (gint16));
  gst_buffer_unmap (buf, &map);
  gst_buffer_unref (buf);
  if (G_UNLIKELY (self->dtmf_keys->len > 0))
    announce_keys (self);
  if (self->needs_priming) {
    if (self->settle_left == 0)
      self->settle_left = self->backend_class->rate * PRIME_MS / 1000;
    settle (self, self->scratch, n);
    return GST_FLOW_OK;
  }
  ret = feed (self, self->scratch, n);
  return ret;
}

static GstFlowReturn
feed_silence (GstSttBridge *self, GstClockTime duration)
{
  gsize n = gst_util_uint64_scale_int (
      MIN (duration, MAX_GAP_FILL), self->backend_class->rate, GST_SECOND);

  ensure_scratch (self, n);
  memset (self->scratch, 0, n * sizeof (gint16));
  if (self->resampler && self->fill_gain_q15 > 0)
    add_band_fill (self, self->scratch, n);
  return feed (self, self->scratch, n);
}

static gboolean
setup_format (GstSttBridge *self, GstCaps *caps)
{
  GstAudioInfo info;
  gdouble db;

  if (!gst_audio_info_from_caps (&info, caps))
    return FALSE;
  if (info.rate == self->in_rate)
    return TRUE;
  g_clear_pointer (&self->resampler, gst_audio_resampler_free);
  self->in_rate = info.rate;
  self->fill_gain_q15 = 0;
  if (info.rate != self->backend_class->rate) {
    self->resampler = gst_audio_resampler_new (
        GST_AUDIO_RESAMPLER_METHOD_KAISER, GST_AUDIO_RESAMPLER_FLAG_NONE,
        GST_AUDIO_FORMAT_S16, 1, info.rate, self->backend_class->rate, NULL);
    GST_OBJECT_LOCK (self);
    db = self->band_fill_db;
    GST_OBJECT_UNLOCK (self);
    if (info.rate < self->backend_class->rate && db > BAND_FILL_OFF_DB) {
      gdouble gain = pow (10.0, db / 20.0) * 32768.0 / FILL_TABLE_RMS;

      self->fill_table = fill_table ();
      self->fill_gain_q15 = (gint16) CLAMP (gain * 32768.0, 0, G_MAXINT16);
    }
  }
  GST_INFO_OBJECT (self, "%d Hz in, backend at %d Hz, band fill gain %d/32768",
      info.rate, self->backend_class->rate, self->fill_gain_q15);
  return TRUE;
}

static void
start_conversation (GstSttBridge *self)
{
  self->backend_class->reset (self->backend);
  clear_results (self);
  self->fed_samples = 0;
  self->base_running_time = GST_CLOCK_TIME_NONE;
  self->in_speech = FALSE;
  self->barge_in_sent = FALSE;
  self->needs_priming = TRUE;
  self->settle_left = 0;
}

static gboolean
gst_stt_bridge_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstSttBridge *self = GST_STT_BRIDGE (parent);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS: {
      GstCaps *caps;
      gboolean ok;

      gst_event_parse_caps (event, &caps);
      ok = self->backend && setup_format (self, caps);
      gst_event_unref (event);
      if (!ok)
        return FALSE;
      if (!self->caps_sent) {
        GstCaps *text = gst_static_pad_template_get_caps (&src_template);

        self->caps_sent =
            gst_pad_push_event (self->srcpad, gst_event_new_caps (text));
        gst_caps_unref (text);
      }
      return TRUE;
    }
    case GST_EVENT_SEGMENT:
      gst_event_copy_segment (event, &self->segment);
      if (self->segment.format != GST_FORMAT_TIME) {
        GST_ELEMENT_ERROR (self, CORE, EVENT, (NULL),
            ("need a TIME segment, got %s",
                gst_format_get_name (self->segment.format)));
        gst_event_unref (event);
        return FALSE;
      }
      break;
    case GST_EVENT_GAP: {
      GstClockTime ts, duration;

      gst_event_parse_gap (event, &ts, &duration);
      if (self->backend && self->in_rate && GST_CLOCK_TIME_IS_VALID (duration))
        feed_silence (self, duration);
      break;
    }
    case GST_EVENT_EOS:
      if (self->backend) {
        self->backend_class->finish (self->backend);
        handle_results (self);
      }
      break;
    case GST_EVENT_FLUSH_STOP:
      if (self->backend)
        start_conversation (self);
      gst_segment_init (&self->segment, GST_FORMAT_TIME);
      break;
    default:
      if (gst_agent_event_is (event, GST_AGENT_EVENT_SIP_CALL_STARTED) &&
          self->backend) {
        gint pt = -1;

        /* sipbin's is out of band: the stream lock keeps it from running
         * alongside the chain function if a queue sits upstream */
        GST_INFO_OBJECT (self, "new call: recognition starts afresh");
        GST_PAD_STREAM_LOCK (pad);
        self->held = FALSE;
        start_conversation (self);
        /* auto: keys come as RFC 4733 events from sipsrc when the far end
         * offered telephone-event, else as tones */
        self->far_end_rfc4733 = self->dtmf_detect == GST_STT_DTMF_DETECT_AUTO &&
            gst_structure_get_int (gst_event_get_structure (event),
                "telephone-event-payload", &pt) &&
            pt >= 0;
        if (self->dtmf) {
          GST_INFO_OBJECT (self, "in-band DTMF detection %s",
              self->far_end_rfc4733 ? "off (RFC 4733)" : "on");
          gst_stt_dtmf_reset (self->dtmf);
        }
        GST_PAD_STREAM_UNLOCK (pad);
      } else if (gst_agent_event_is (event, GST_AGENT_EVENT_SIP_CALL_HOLD) &&
          self->backend) {
        gboolean held = FALSE;

        gst_structure_get_boolean (
            gst_event_get_structure (event), "held", &held);
        GST_INFO_OBJECT (self, "%s",
            held ? "on hold: not listening" : "off hold: listening afresh");
        /* what was being heard when the hold began is dropped, and
         * recognition starts afresh (noise floor included) on resume */
        GST_PAD_STREAM_LOCK (pad);
        self->held = held;
        start_conversation (self);
        GST_PAD_STREAM_UNLOCK (pad);
      } else if (gst_agent_event_is (event, GST_AGENT_EVENT_SIP_CALL_ENDED) &&
          self->backend && self->in_rate) {
        /* A caller who hangs up mid-sentence: what was said so far is
         * reported before the call's end goes on. The event is out of band
         * (see sipsrc): the stream lock keeps it from running alongside
         * the chain function if a queue sits upstream. */
        GST_INFO_OBJECT (self, "call ended: finishing the utterance");
        GST_PAD_STREAM_LOCK (pad);
        self->backend_class->finish (self->backend);
        handle_results (self);
        start_conversation (self);
        GST_PAD_STREAM_UNLOCK (pad);
      }
      break;
  }
  return gst_pad_event_default (pad, parent, event);
}

static gboolean
gst_stt_bridge_src_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstSttBridge *self = GST_STT_BRIDGE (parent);

  if (gst_agent_event_is (event, GST_AGENT_EVENT_HINTS)) {
    const GstStructure *s = gst_event_get_structure (event);
    gchar **phrases = NULL;
    gboolean closed = FALSE;

    gst_structure_get (s, "phrases", G_TYPE_STRV, &phrases, "closed",
        G_TYPE_BOOLEAN, &closed, NULL);
    GST_DEBUG_OBJECT (self, "hints: %" GST_PTR_FORMAT, s);
    /* Applied by the streaming thread, between two buffers. */
    g_mutex_lock (&self->hints_lock);
    g_strfreev (self->pending_hints);
    self->pending_hints = phrases;
    self->pending_hints_closed = closed;
    g_atomic_int_set (&self->hints_pending, TRUE);
    g_mutex_unlock (&self->hints_lock);
    gst_event_unref (event);
    return TRUE;
  }
  return gst_pad_event_default (pad, parent, event);
}

static gboolean
gst_stt_bridge_src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstSttBridge *self = GST_STT_BRIDGE (parent);

  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    gboolean live;
    GstClockTime min, max, ours = 0;

    if (!gst_pad_peer_query (self->sinkpad, query))
      return FALSE;
    gst_query_parse_latency (query, &live, &min, &max);
    /* A transcript leaves after the hangover that ends its utterance. */
    GST_OBJECT_LOCK (self);
    if (self->backend)
      ours = self->backend_class->latency (self->backend);
    GST_OBJECT_UNLOCK (self);
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID (max))
      max += ours;
    gst_query_set_latency (query, live, min, max);
    return TRUE;
  }
  return gst_pad_query_default (pad, parent, query);
}

/* ---- lifecycle ---- */

/* The backend's configuration, from the properties. */
typedef struct
{
  GstSttBackendConfig config;
  gchar *name;
  gchar *model_dir;
  const gchar *options[3];
} BackendSettings;

static const GstSttBackendClass *
backend_settings_init (GstSttBridge *self, BackendSettings *b)
{
  memset (b, 0, sizeof (*b));
  GST_OBJECT_LOCK (self);
  b->name = g_strdup (self->backend_name);
  b->model_dir = g_strdup (self->model_dir);
  b->config.hangover_ms = self->hangover_ms;
  b->config.hint_hangover_ms = self->hint_hangover_ms;
  b->config.max_idle = self->pool_size;
  GST_OBJECT_UNLOCK (self);
  if (b->model_dir) {
    b->options[0] = "model-dir";
    b->options[1] = b->model_dir;
  }
  b->config.options = b->options;
  return gst_stt_backend_find (b->name);
}

static void
backend_settings_clear (BackendSettings *b)
{
  g_free (b->name);
  g_free (b->model_dir);
}

static gboolean
open_backend (GstSttBridge *self)
{
  GstSttListener listener = {
      self, on_speech_started, on_speech_stopped, on_transcript};
  BackendSettings settings;
  const GstSttBackendClass *klass;
  GstSttBackend *backend;
  GError *err = NULL;

  klass = backend_settings_init (self, &settings);
  if (klass == NULL) {
    GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN,
        ("No speech recognition backend '%s' (built: %s)",
            GST_STR_NULL (settings.name),
            backends[0] ? backends[0]->name : "none"),
        (NULL));
    backend_settings_clear (&settings);
    return FALSE;
  }
  backend = klass->open (&settings.config, &listener, &err);
  backend_settings_clear (&settings);
  if (backend == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("Could not start speech recognition: %s", err->message), (NULL));
    g_clear_error (&err);
    return FALSE;
  }
  GST_OBJECT_LOCK (self);
  self->backend_class = klass;
  self->backend = backend;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static void
close_backend (GstSttBridge *self)
{
  GstSttBackend *backend;

  GST_OBJECT_LOCK (self);
  backend = self->backend;
  self->backend = NULL;
  GST_OBJECT_UNLOCK (self);
  if (backend)
    self->backend_class->close (backend);
  clear_results (self);
  g_mutex_lock (&self->hints_lock);
  g_clear_pointer (&self->pending_hints, g_strfreev);
  g_atomic_int_set (&self->hints_pending, FALSE);
  g_mutex_unlock (&self->hints_lock);
}

/* Action signal: load decoders for this element's configuration ahead of
 * the calls that will need them. */
static gint
gst_stt_bridge_preload (GstSttBridge *self, guint n)
{
  BackendSettings settings;
  const GstSttBackendClass *klass = backend_settings_init (self, &settings);
  GError *err = NULL;
  gint idle = 0;

  if (klass && klass->preload) {
    idle = klass->preload (&settings.config, n, &err);
    if (idle < 0) {
      GST_WARNING_OBJECT (self, "preloading %u failed: %s", n, err->message);
      g_clear_error (&err);
    } else {
      GST_INFO_OBJECT (self, "%d decoders idle", idle);
    }
  } else if (klass == NULL) {
    GST_WARNING_OBJECT (self, "no backend '%s'", GST_STR_NULL (settings.name));
    idle = -1;
  }
  backend_settings_clear (&settings);
  return idle;
}

static GstStructure *
pool_stats (GstSttBridge *self)
{
  BackendSettings settings;
  const GstSttBackendClass *klass = backend_settings_init (self, &settings);
  GstStructure *s = NULL;

  if (klass && klass->pool_stats)
    s = klass->pool_stats (&settings.config);
  backend_settings_clear (&settings);
  return s;
}

static void
reset_stream (GstSttBridge *self)
{
  g_clear_pointer (&self->resampler, gst_audio_resampler_free);
  self->in_rate = 0;
  self->fill_gain_q15 = 0;
  self->fill_pos = 0;
  self->caps_sent = FALSE;
  self->fed_samples = 0;
  self->base_running_time = GST_CLOCK_TIME_NONE;
  self->in_speech = FALSE;
  self->barge_in_sent = FALSE;
  self->needs_priming = TRUE;
  self->settle_left = 0;
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
}

static gboolean
open_dtmf (GstSttBridge *self)
{
  GST_OBJECT_LOCK (self);
  self->dtmf_detect = self->dtmf_detect_prop;
  GST_OBJECT_UNLOCK (self);
  self->far_end_rfc4733 = FALSE;
  if (self->dtmf_detect == GST_STT_DTMF_DETECT_OFF)
    return TRUE;
  self->dtmf = gst_stt_dtmf_new (GST_ELEMENT (self));
  if (self->dtmf)
    return TRUE;
  if (self->dtmf_detect == GST_STT_DTMF_DETECT_ON) {
    GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN,
        ("dtmfdetect (gst-plugins-bad, spandsp) is missing"),
        ("dtmf-detect=on needs the dtmfdetect element"));
    return FALSE;
  }
  GST_WARNING_OBJECT (self,
      "no dtmfdetect element (gst-plugins-bad, "
      "spandsp): keys sent as tones are not detected");
  return TRUE;
}

static GstStateChangeReturn
gst_stt_bridge_change_state (GstElement *element, GstStateChange transition)
{
  GstSttBridge *self = GST_STT_BRIDGE (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_NULL_TO_READY:
      if (!open_backend (self))
        return GST_STATE_CHANGE_FAILURE;
      if (!open_dtmf (self)) {
        close_backend (self);
        return GST_STATE_CHANGE_FAILURE;
      }
      break;
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      reset_stream (self);
      self->backend_class->reset (self->backend);
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      /* the streaming thread has stopped */
      restore_decode_priority (self);
      reset_stream (self);
      clear_results (self);
      break;
    case GST_STATE_CHANGE_READY_TO_NULL:
      close_backend (self);
      g_clear_pointer (&self->dtmf, gst_stt_dtmf_free);
      break;
    default:
      break;
  }
  return ret;
}

/* ---- GObject ---- */

static void
gst_stt_bridge_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstSttBridge *self = GST_STT_BRIDGE (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_BACKEND:
      g_free (self->backend_name);
      self->backend_name = g_value_dup_string (value);
      break;
    case PROP_MODEL_DIR:
      g_free (self->model_dir);
      self->model_dir = g_value_dup_string (value);
      break;
    case PROP_HANGOVER:
      self->hangover_ms = g_value_get_uint (value);
      break;
    case PROP_HINT_HANGOVER:
      self->hint_hangover_ms = g_value_get_uint (value);
      break;
    case PROP_MIN_BARGE_IN:
      self->min_barge_in_ms = g_value_get_uint (value);
      break;
    case PROP_BAND_FILL:
      self->band_fill_db = g_value_get_double (value);
      break;
    case PROP_POOL_SIZE:
      self->pool_size = g_value_get_uint (value);
      break;
    case PROP_DECODE_NICE:
      self->decode_nice = g_value_get_int (value);
      break;
    case PROP_DTMF_DETECT:
      self->dtmf_detect_prop = g_value_get_enum (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_stt_bridge_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstSttBridge *self = GST_STT_BRIDGE (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_BACKEND:
      g_value_set_string (value, self->backend_name);
      break;
    case PROP_MODEL_DIR:
      g_value_set_string (value, self->model_dir);
      break;
    case PROP_HANGOVER:
      g_value_set_uint (value, self->hangover_ms);
      break;
    case PROP_HINT_HANGOVER:
      g_value_set_uint (value, self->hint_hangover_ms);
      break;
    case PROP_MIN_BARGE_IN:
      g_value_set_uint (value, self->min_barge_in_ms);
      break;
    case PROP_BAND_FILL:
      g_value_set_double (value, self->band_fill_db);
      break;
    case PROP_POOL_SIZE:
      g_value_set_uint (value, self->pool_size);
      break;
    case PROP_DECODE_NICE:
      g_value_set_int (value, self->decode_nice);
      break;
    case PROP_DTMF_DETECT:
      g_value_set_enum (value, self->dtmf_detect_prop);
      break;
    case PROP_POOL_STATS:
      /* reads the properties itself */
      GST_OBJECT_UNLOCK (self);
      g_value_take_boxed (value, pool_stats (self));
      return;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_stt_bridge_finalize (GObject *object)
{
  GstSttBridge *self = GST_STT_BRIDGE (object);

  restore_decode_priority (self);
  g_free (self->backend_name);
  g_free (self->model_dir);
  g_free (self->scratch);
  g_clear_pointer (&self->resampler, gst_audio_resampler_free);
  g_array_free (self->dtmf_keys, TRUE);
  g_mutex_clear (&self->results_lock);
  g_mutex_clear (&self->hints_lock);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_stt_bridge_class_init (GstSttBridgeClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  gobject_class->set_property = gst_stt_bridge_set_property;
  gobject_class->get_property = gst_stt_bridge_get_property;
  gobject_class->finalize = gst_stt_bridge_finalize;

  g_object_class_install_property (gobject_class, PROP_BACKEND,
      g_param_spec_string ("backend", "Backend",
          "Speech recognition engine (built in this copy: pocketsphinx)",
          gst_stt_backend_default_name (),
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_MODEL_DIR,
      g_param_spec_string ("model-dir", "Model directory",
          "pocketsphinx: directory with the acoustic model (en-us/), "
          "en-us.lm.bin and cmudict-en-us.dict (NULL: the "
          "pocketsphinx-en-us package's)",
          NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_HANGOVER,
      g_param_spec_uint ("hangover", "Hangover",
          "Silence (ms) that ends an utterance", 100, 5000, DEFAULT_HANGOVER_MS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_HINT_HANGOVER,
      g_param_spec_uint ("hint-hangover", "Hint hangover",
          "Silence (ms) that ends an utterance whose words complete a phrase "
          "the dialog expects (0: always wait the full hangover)",
          0, 5000, DEFAULT_HINT_HANGOVER_MS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_MIN_BARGE_IN,
      g_param_spec_uint ("min-barge-in", "Minimum barge-in",
          "Speech (ms) before the caller counts as interrupting", 0, 5000,
          DEFAULT_MIN_BARGE_IN_MS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstSttBridge:band-fill:
   *
   * Level (dBFS RMS) of noise added between 4 and 8 kHz when 8 kHz audio
   * is resampled for a 16 kHz recognizer. The en-us pocketsphinx model
   * recognizes nothing of upsampled telephone audio ("hm" for a whole
   * sentence) because the empty upper band gives log filter-bank energies
   * no training speech had; a low noise floor there restores it (see
   * docs/benchmarks.md for the word error rates). -120 turns it off.
   */
  g_object_class_install_property (gobject_class, PROP_BAND_FILL,
      g_param_spec_double ("band-fill", "Band fill",
          "Noise level (dBFS) added above 4 kHz to upsampled narrowband "
          "audio (-120: off)",
          BAND_FILL_OFF_DB, 0.0, DEFAULT_BAND_FILL_DB,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));

  /**
   * GstSttBridge:pool-size:
   *
   * Backends that load a model per instance (pocketsphinx: ~0.27 s of CPU
   * and ~95 MB a decoder) keep closed instances for the next sttbridge
   * that opens with the same configuration (model files, sample rate, the
   * voice activity detector's window from #GstSttBridge:hangover and
   * #GstSttBridge:hint-hangover). The pool is process-wide, one per
   * configuration; this is how many idle instances of its configuration
   * stay loaded when this element closes (READY->NULL), the rest are freed.
   * A reused decoder is rewound first: language model search, initial
   * cepstral mean, new noise estimate.
   */
  g_object_class_install_property (gobject_class, PROP_POOL_SIZE,
      g_param_spec_uint ("pool-size", "Pool size",
          "Idle decoders of this configuration kept process-wide for reuse "
          "after close (0: free at close)",
          0, G_MAXINT, DEFAULT_POOL_SIZE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  /**
   * GstSttBridge:pool-stats:
   *
   * Counters of the process-wide pool of this element's configuration:
   * `loaded` (decoders created), `reused` (opens served by an idle one),
   * `freed`, `idle` and `in-use` (all guint). NULL for backends without a
   * pool.
   */
  g_object_class_install_property (gobject_class, PROP_POOL_STATS,
      g_param_spec_boxed ("pool-stats", "Pool statistics",
          "Counters of the decoder pool of this configuration (loaded, "
          "reused, freed, idle, in-use)",
          GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * GstSttBridge:decode-nice:
   *
   * Nice value (Linux, per thread) given to the thread that runs
   * sttbridge's chain function, where the decoding happens: the call's
   * receive thread. Higher is lower priority, so that threads sending RTP
   * (ttsbridge's) get the CPU first when decoders of many calls compete.
   * Restored when the element leaves PAUSED; applied only when the process
   * may restore it (root, CAP_SYS_NICE or RLIMIT_NICE), because GStreamer
   * reuses streaming threads. 0: leave the thread alone. Measured with
   * ten language-model calls arriving at 2 per second on 2 cores
   * (bench/speech.py part C): RTP send jitter p99 3.2 ms at 0, 1.2 ms at
   * 10, with every turn still answered (turn latency p95 1.2 -> 1.4 s).
   */
  g_object_class_install_property (gobject_class, PROP_DECODE_NICE,
      g_param_spec_int ("decode-nice", "Decode nice",
          "Nice value for the decoding (receive) thread, Linux only "
          "(0: unchanged)",
          0, 19, DEFAULT_DECODE_NICE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstSttBridge:dtmf-detect:
   *
   * Whether sttbridge listens for DTMF tones in the caller's audio
   * (spandsp's detector, the dtmfdetect element of gst-plugins-bad). A
   * phone whose far end offered no telephone-event (RFC 4733) sends its
   * keys as tones; sttbridge is the first element of the call's pipeline
   * that sees decoded audio, so it turns them into the same `dtmf-event`
   * as sipsrc's. `auto` listens unless sipsrc's `sip-call-started` says the
   * call has telephone-event (then sipsrc reports the keys, and a phone
   * that sends both is not heard twice); without sipsrc it listens. Read
   * when the element goes to READY.
   */
  g_object_class_install_property (gobject_class, PROP_DTMF_DETECT,
      g_param_spec_enum ("dtmf-detect", "DTMF detection",
          "When to detect DTMF tones in the audio", GST_TYPE_STT_DTMF_DETECT,
          DEFAULT_DTMF_DETECT, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));

  /**
   * GstSttBridge::preload:
   * @sttbridge: the element
   * @n: how many decoders should be idle
   *
   * Loads decoders of the element's current configuration (set the
   * properties first; the element may be in NULL) until @n are idle in
   * the process-wide pool, and keeps at least @n idle from then on,
   * whatever #GstSttBridge:pool-size says. Blocks while loading (about
   * 0.27 s of CPU per pocketsphinx decoder): call it at start-up, from a
   * thread that has time. An application that builds a pipeline per call
   * makes one sttbridge with the properties of its template, preloads and
   * drops it.
   *
   * Returns: the number of idle decoders, -1 on error (logged).
   */
  signals[SIGNAL_PRELOAD] = g_signal_new_class_handler ("preload",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
      G_CALLBACK (gst_stt_bridge_preload), NULL, NULL, NULL, G_TYPE_INT, 1,
      G_TYPE_UINT);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Speech to text bridge",
      "Filter/Analyzer/Audio",
      "Recognizes the caller's utterances: audio in, one text buffer per "
      "utterance out, with voice activity and barge-in events",
      "gst-sip-agent developers");
  gst_element_class_add_metadata (element_class, "Example",
      "gst-launch-1.0 filesrc location=caller.wav ! wavparse ! audioconvert ! "
      "audioresample ! sttbridge ! fakesink dump=true");
  gst_element_class_add_metadata (element_class, "Messages",
      "speech-started, speech-stopped (running-time); transcript (text, "
      "final, confidence, start-time, end-time); dtmf-event (type 1, "
      "number, method 2, start) for keys heard as tones");
  gst_type_mark_as_plugin_api (GST_TYPE_STT_DTMF_DETECT, 0);

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_stt_bridge_change_state);

  GST_DEBUG_CATEGORY_INIT (
      stt_bridge_debug, "sttbridge", 0, "Speech to text bridge");
}

static void
gst_stt_bridge_init (GstSttBridge *self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (
      self->sinkpad, GST_DEBUG_FUNCPTR (gst_stt_bridge_chain));
  gst_pad_set_event_function (
      self->sinkpad, GST_DEBUG_FUNCPTR (gst_stt_bridge_sink_event));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_event_function (
      self->srcpad, GST_DEBUG_FUNCPTR (gst_stt_bridge_src_event));
  gst_pad_set_query_function (
      self->srcpad, GST_DEBUG_FUNCPTR (gst_stt_bridge_src_query));
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->backend_name = g_strdup (gst_stt_backend_default_name ());
  self->hangover_ms = DEFAULT_HANGOVER_MS;
  self->hint_hangover_ms = DEFAULT_HINT_HANGOVER_MS;
  self->min_barge_in_ms = DEFAULT_MIN_BARGE_IN_MS;
  self->band_fill_db = DEFAULT_BAND_FILL_DB;
  self->pool_size = DEFAULT_POOL_SIZE;
  self->decode_nice = DEFAULT_DECODE_NICE;
  self->dtmf_detect_prop = DEFAULT_DTMF_DETECT;
  self->dtmf_keys = g_array_new (FALSE, FALSE, sizeof (gint));
  g_mutex_init (&self->results_lock);
  g_mutex_init (&self->hints_lock);
  g_queue_init (&self->results);
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  self->base_running_time = GST_CLOCK_TIME_NONE;
}
