/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-ttsbridge
 * @title: ttsbridge
 * @see_also: agent, sttbridge, sipsink
 *
 * ttsbridge speaks the agent's sentences into the call. Text comes in on its
 * "sink" pad (`text/x-raw, format=utf8`, one buffer per sentence; a buffer
 * with several sentences is spoken, and reported, as one); audio leaves its
 * "src" pad as 16-bit mono PCM at the rate downstream asks for (8 kHz in
 * front of `mulawenc`, 16 kHz for G.722; when downstream takes any rate,
 * the backend's own rate, so nothing is resampled twice).
 *
 * The src pad is a live source: one chunk of #GstTtsBridge:chunk-time every
 * chunk-time on the pipeline clock, timestamped with running time and
 * contiguous, speech when there is some and silence in between, so that
 * RTP keeps flowing for as long as the call is up. Its latency is one chunk.
 *
 * Synthesis runs in a thread of its own, never in the thread that pushes
 * the text (upstream that is the call's RTP receive thread): text is queued,
 * the backend delivers audio in chunks as it synthesizes them and a sentence
 * starts playing as soon as its first chunk exists, while the rest is still
 * being made. Backends (#GstTtsBridge:backend): `flite` (voices kal, kal16,
 * slt, awb, rms) and `espeak` (espeak-ng voices such as en-us, es, fr, de),
 * each resampled to the output rate. The pause before each sentence's first
 * sound (flite starts every utterance with 150-330 ms of it) is skipped, so
 * the caller hears the first word that much sooner. A buffer is synthesized as
 * one utterance: the engine analyses all of its text before the first audio
 * exists, which is why the agent sends sentences, not paragraphs.
 *
 * Barge-in: the custom downstream event `agent-barge-in` on the sink pad
 * drops everything queued, text and audio, and cancels the synthesis in
 * progress; the very next chunk is silence. FLUSH_START on the sink pad
 * drops the same way. EOS on the sink pad plays out what is queued, then
 * ends the src pad with EOS. Other events on the sink pad end here: the src
 * pad runs on its own timeline.
 *
 * ## Changing voice
 *
 * The custom serialized downstream event `tts-voice` on the sink pad changes
 * the voice of the sentences that follow it; the sentences queued before it
 * keep theirs, so one call can speak two languages (`agent`'s script action
 * `voice`). Fields: `backend` (string, optional: `flite` or `espeak`;
 * absent, the backend of the voice asked for last) and `voice` (string;
 * absent or `default`: the element's own #GstTtsBridge:backend and
 * #GstTtsBridge:voice, or, with a `backend` other than the element's own,
 * that backend's default voice). Each (backend, voice) is opened once, by
 * the synthesis thread before the first sentence that needs it, and kept
 * until READY->NULL; #GstTtsBridge:backend-options apply to the voices of
 * the element's own backend only. A voice that cannot be opened (an unknown
 * name, a backend not built) posts a warning message and its sentences are
 * spoken in the voice of the sentence before: the call goes on. The output
 * caps do not change: every voice is resampled to the negotiated rate
 * (flite's kal at 8 kHz and espeak-ng's 22050 Hz in the same call). A new
 * stream (READY->PAUSED) starts in the element's own voice again.
 *
 * What happened to each sentence is posted as element messages and sent
 * upstream as custom events on the sink pad (to the agent); all of them come
 * from the streaming thread, in order:
 *
 * - `tts-started`: the first sample of a sentence left on the src pad.
 *   Message fields: `text` (string), `running-time` (guint64, of that
 *   sample). The upstream event carries `text` (and `interrupted` and
 *   `idle`, both FALSE).
 * - `tts-finished`: the last sample of a sentence left, or the sentence was
 *   dropped. Every sentence accepted gets exactly one. Message fields: `text`,
 *   `interrupted` (boolean: dropped by barge-in, flush or a change of output
 *   rate, or synthesis failed), `idle` (boolean: nothing more is queued),
 *   `running-time` (guint64: end of its last sample, or when the drop took
 *   effect), `duration` (guint64: how much of it was played). The upstream
 *   event carries `text`, `interrupted` and `idle`.
 *
 * Both messages also carry `voice` (string, `backend:voice` such as
 * `espeak:es`) once the sentence was synthesized: the voice it was spoken
 * with.
 *
 * ## Example launch line
 * |[
 * echo "Hello, thank you for calling." | gst-launch-1.0 fdsrc fd=0 ! text/x-raw,format=utf8 ! ttsbridge ! audioconvert ! wavenc ! filesink location=out.wav
 * ]| Speaks a line with flite's kal voice into a WAV file, in real time, and
 * stops after it.
 * |[
 * echo "Hola, gracias por llamar." | gst-launch-1.0 fdsrc fd=0 ! text/x-raw,format=utf8 ! ttsbridge backend=espeak voice=es ! audioresample ! mulawenc ! rtppcmupay ! udpsink host=127.0.0.1 port=5004
 * ]| Speaks Spanish with espeak-ng as PCMU RTP, 20 ms per packet.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstttsbridge.h"
#include "gstagentelements.h"
#include "gstagentevents.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_tts_bridge_debug);
#define GST_CAT_DEFAULT gst_tts_bridge_debug

#define DEFAULT_VOICE NULL
#define DEFAULT_CHUNK_TIME (20 * GST_MSECOND)
#define MIN_CHUNK_TIME (5 * GST_MSECOND)
#define MAX_CHUNK_TIME (200 * GST_MSECOND)
#define DEFAULT_SPEED 1.0
#define MIN_SPEED 0.5
#define MAX_SPEED 2.0

#define BPS 2 /* bytes per sample: S16 mono */
/* Where speech begins: the first ONSET_SUSTAIN consecutive windows of
 * ONSET_WINDOW_MS louder than ONSET_LEVEL RMS (-50 dBFS). Flite's lead-in
 * pause stays below it, soft onsets (/h/, /th/) rise above it within a few
 * milliseconds; ONSET_PREROLL_MS before it are kept. A sentence that shows
 * no onset in ONSET_MAX_LEAD_MS is played as it is. */
#define ONSET_LEVEL 100
#define ONSET_WINDOW_MS 5
#define ONSET_SUSTAIN 2
#define ONSET_PREROLL_MS 40
#define ONSET_MAX_LEAD_MS 1000

enum
{
  PROP_0,
  PROP_BACKEND,
  PROP_VOICE,
  PROP_BACKEND_OPTIONS,
  PROP_CHUNK_TIME,
  PROP_SPEED,
  PROP_STATS,
};

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
        GST_STATIC_CAPS ("text/x-raw, format = (string) utf8"));

static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
        GST_STATIC_CAPS ("audio/x-raw, format = (string) S16LE, "
                         "layout = (string) interleaved, channels = (int) 1, "
                         "rate = (int) [ 8000, 48000 ]"));

typedef enum
{
  SENTENCE_PENDING,
  SENTENCE_SYNTHESIZING,
  SENTENCE_DONE,
} SentenceState;

/* One buffer of text. Its audio, once synthesized, sits in the adapter
 * behind the audio of the sentences before it. */
typedef struct
{
  gchar *text;
  GstTtsBridgeVoice *voice; /* asked for: the voice in force when queued */
  GstTtsBridgeVoice *used; /* spoken with, set when synthesis starts */
  SentenceState state;
  gboolean failed;
  gsize bytes_in; /* audio bytes pushed into the adapter */
  gsize bytes_out; /* of which played */
  GstClockTime started; /* running time of its first sample */
  gint64 queued_at; /* monotonic time it arrived, for stats */
} Sentence;

/* A tts-started / tts-finished to report once the lock is released. */
typedef struct
{
  const gchar *name;
  gchar *text;
  gchar *voice; /* "backend:voice" it was spoken with, NULL if never */
  gboolean interrupted;
  gboolean idle;
  GstClockTime running_time;
  GstClockTime duration;
} Note;

/* A (backend, voice) pair. The element's own is opened in NULL->READY;
 * the others are added by tts-voice events (under lock) and opened by the
 * synthesis thread before the first sentence that needs them. backend and
 * failed change under lock; the entry lives until READY->NULL. */
struct _GstTtsBridgeVoice
{
  const GstTtsBackendClass *klass;
  gchar *name; /* the voice, the backend's default filled in */
  gchar *label; /* "espeak:es", for messages and logs */
  GstTtsBackend *backend; /* NULL until opened */
  gboolean failed; /* could not be opened: never tried again */
};

/* What the synthesis thread keeps for the sentence it is working on. */
typedef struct
{
  GstTtsBridge *self;
  Sentence *sentence; /* only touched under lock, while generation holds */
  guint generation;
  GCancellable *cancellable;
  gint out_rate;
  GstAudioResampler *resampler; /* NULL when in_rate == out_rate */
  gint in_rate;
  gboolean voiced; /* speech began: audio goes straight through */
  GArray *lead; /* of gint16: audio held back until speech begins */
  gint lead_rate;
  gsize scan_pos; /* next window of lead to look at */
  guint loud_run; /* loud windows in a row up to scan_pos */
} SynthJob;

#define gst_tts_bridge_parent_class parent_class
G_DEFINE_TYPE (GstTtsBridge, gst_tts_bridge, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE (
    ttsbridge, "ttsbridge", GST_RANK_NONE, GST_TYPE_TTS_BRIDGE);

static void gst_tts_bridge_finalize (GObject *object);
static void gst_tts_bridge_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec);
static void gst_tts_bridge_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec);
static GstStateChangeReturn gst_tts_bridge_change_state (
    GstElement *element, GstStateChange transition);
static gboolean gst_tts_bridge_start (GstBaseSrc *bsrc);
static gboolean gst_tts_bridge_stop (GstBaseSrc *bsrc);
static gboolean gst_tts_bridge_unlock (GstBaseSrc *bsrc);
static gboolean gst_tts_bridge_unlock_stop (GstBaseSrc *bsrc);
static GstCaps *gst_tts_bridge_fixate (GstBaseSrc *bsrc, GstCaps *caps);
static gboolean gst_tts_bridge_set_caps (GstBaseSrc *bsrc, GstCaps *caps);
static gboolean gst_tts_bridge_query (GstBaseSrc *bsrc, GstQuery *query);
static GstFlowReturn gst_tts_bridge_create (
    GstPushSrc *psrc, GstBuffer **outbuf);
static GstFlowReturn gst_tts_bridge_chain (
    GstPad *pad, GstObject *parent, GstBuffer *buffer);
static gboolean gst_tts_bridge_sink_event (
    GstPad *pad, GstObject *parent, GstEvent *event);
static gboolean gst_tts_bridge_sink_query (
    GstPad *pad, GstObject *parent, GstQuery *query);
static gpointer gst_tts_bridge_synth_thread (gpointer data);

static const GstTtsBackendClass *
find_backend (const gchar *name)
{
  const GstTtsBackendClass *const *b;

  for (b = gst_tts_backends (); name && *b; b++)
    if (g_ascii_strcasecmp ((*b)->name, name) == 0)
      return *b;
  return NULL;
}

static gchar *
backend_names (void)
{
  const GstTtsBackendClass *const *b;
  GString *s = g_string_new (NULL);

  for (b = gst_tts_backends (); *b; b++)
    g_string_append_printf (s, "%s%s", s->len ? ", " : "", (*b)->name);
  if (s->len == 0)
    g_string_append (s, "none (built without flite and espeak-ng)");
  return g_string_free (s, FALSE);
}

static GstTtsBridgeVoice *
voice_new (const GstTtsBackendClass *klass, const gchar *name)
{
  GstTtsBridgeVoice *v = g_new0 (GstTtsBridgeVoice, 1);

  v->klass = klass;
  v->name = g_strdup (name);
  v->label = g_strdup_printf ("%s:%s", klass->name, name);
  return v;
}

static void
voice_free (GstTtsBridgeVoice *v)
{
  if (v->backend)
    v->backend->klass->close (v->backend);
  g_free (v->name);
  g_free (v->label);
  g_free (v);
}

/* The entry for (@klass, @name), added when there is none yet. Called
 * with the lock held. */
static GstTtsBridgeVoice *
voice_lookup_locked (
    GstTtsBridge *self, const GstTtsBackendClass *klass, const gchar *name)
{
  GstTtsBridgeVoice *v;
  guint i;

  for (i = 0; i < self->voices->len; i++) {
    v = g_ptr_array_index (self->voices, i);
    if (v->klass == klass && g_ascii_strcasecmp (v->name, name) == 0)
      return v;
  }
  v = voice_new (klass, name);
  g_ptr_array_add (self->voices, v);
  return v;
}

static Sentence *
sentence_new (gchar *text, GstTtsBridgeVoice *voice)
{
  Sentence *s = g_new0 (Sentence, 1);

  s->text = text;
  s->voice = voice;
  s->state = SENTENCE_PENDING;
  s->started = GST_CLOCK_TIME_NONE;
  s->queued_at = g_get_monotonic_time ();
  return s;
}

static void
sentence_free (Sentence *s)
{
  g_free (s->text);
  g_free (s);
}

static void
gst_tts_bridge_class_init (GstTtsBridgeClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS (klass);
  const GstTtsBackendClass *default_backend = gst_tts_backends ()[0];
  gchar *names = backend_names ();
  gchar *blurb;

  gobject_class->finalize = gst_tts_bridge_finalize;
  gobject_class->set_property = gst_tts_bridge_set_property;
  gobject_class->get_property = gst_tts_bridge_get_property;

  /* The blurb lists the backends of this build (GLib copies a blurb
   * without G_PARAM_STATIC_BLURB). */
  blurb = g_strdup_printf ("Speech synthesis backend (built: %s)", names);
  g_object_class_install_property (gobject_class, PROP_BACKEND,
      g_param_spec_string ("backend", "Backend", blurb,
          default_backend ? default_backend->name : NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_NAME | G_PARAM_STATIC_NICK |
              GST_PARAM_MUTABLE_READY));
  g_free (blurb);
  g_free (names);
  g_object_class_install_property (gobject_class, PROP_VOICE,
      g_param_spec_string ("voice", "Voice",
          "Voice of the backend; NULL: the backend's default. flite: kal "
          "(default, 8 kHz), kal16, slt, awb, rms. espeak: an espeak-ng "
          "voice name, en-us (default), en, es, fr, de, ... "
          "(espeak-ng --voices)",
          DEFAULT_VOICE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  /**
   * GstTtsBridge:backend-options:
   *
   * Settings only one backend understands, for example
   * `options,pitch=60` for espeak (pitch 0-100, 50 is the voice's own).
   * flite takes none. A field the backend does not know is an error at
   * NULL->READY.
   */
  g_object_class_install_property (gobject_class, PROP_BACKEND_OPTIONS,
      g_param_spec_boxed ("backend-options", "Backend options",
          "Backend-specific settings (espeak: pitch, 0-100)",
          GST_TYPE_STRUCTURE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_CHUNK_TIME,
      g_param_spec_uint64 ("chunk-time", "Chunk time",
          "Duration of each output buffer in nanoseconds (the packet time "
          "downstream); also the latency ttsbridge adds",
          MIN_CHUNK_TIME, MAX_CHUNK_TIME, DEFAULT_CHUNK_TIME,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_SPEED,
      g_param_spec_double ("speed", "Speed",
          "Speaking rate, 1.0 is the voice's own; applies from the next "
          "sentence (flite: duration stretch; espeak: 175 words per minute "
          "times speed)",
          MIN_SPEED, MAX_SPEED, DEFAULT_SPEED,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstTtsBridge:stats:
   *
   * An `application/x-ttsbridge-stats` structure: `sentences` (accepted),
   * `finished` (played to the end), `interrupted` (dropped or failed),
   * `failed` (synthesis errors), `barge-ins`, `underruns` (chunks in which a
   * started sentence's next audio was not synthesized yet and silence was
   * sent instead), all guint64; `queued-sentences` and `pending-synthesis`
   * (sentences not finished playing / not finished synthesizing, guint);
   * `queued-time` (synthesized audio not yet played),
   * `first-audio-latency` (of the last sentence: from its text arriving to
   * its first audio being ready to play) and `max-first-audio-latency`, all
   * guint64 nanoseconds; `open-voices` (guint: the voices opened, the
   * element's own and those `tts-voice` events asked for).
   */
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "Counters, queue state and first-audio latency", GST_TYPE_STRUCTURE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Text to speech bridge",
      "Source/Audio",
      "Speaks the agent's sentences as a live audio stream: silence between "
      "them, barge-in, started/finished reports",
      "gst-sip-agent developers");
  gst_element_class_add_static_metadata (element_class, "example",
      "echo \"Hello, thank you for calling.\" | gst-launch-1.0 fdsrc fd=0 ! "
      "text/x-raw,format=utf8 ! ttsbridge ! audioconvert ! wavenc ! "
      "filesink location=out.wav");
  gst_element_class_add_static_metadata (element_class, "messages",
      "tts-started: text, running-time, voice; tts-finished: text, "
      "interrupted, idle, running-time, duration, voice; both also sent "
      "upstream on the sink pad as custom events (text, interrupted, idle)");
  gst_element_class_add_static_metadata (element_class, "events",
      "agent-barge-in (custom downstream, on the sink pad): drop all queued "
      "text and audio; tts-voice (custom downstream, serialized: backend, "
      "voice): the voice of the sentences queued after it");

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_tts_bridge_change_state);
  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_tts_bridge_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_tts_bridge_stop);
  basesrc_class->unlock = GST_DEBUG_FUNCPTR (gst_tts_bridge_unlock);
  basesrc_class->unlock_stop = GST_DEBUG_FUNCPTR (gst_tts_bridge_unlock_stop);
  basesrc_class->fixate = GST_DEBUG_FUNCPTR (gst_tts_bridge_fixate);
  basesrc_class->set_caps = GST_DEBUG_FUNCPTR (gst_tts_bridge_set_caps);
  basesrc_class->query = GST_DEBUG_FUNCPTR (gst_tts_bridge_query);
  pushsrc_class->create = GST_DEBUG_FUNCPTR (gst_tts_bridge_create);

  GST_DEBUG_CATEGORY_INIT (
      gst_tts_bridge_debug, "ttsbridge", 0, "Text to speech bridge");
}

static void
gst_tts_bridge_init (GstTtsBridge *self)
{
  const GstTtsBackendClass *default_backend = gst_tts_backends ()[0];

  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (
      self->sinkpad, GST_DEBUG_FUNCPTR (gst_tts_bridge_chain));
  gst_pad_set_event_function (
      self->sinkpad, GST_DEBUG_FUNCPTR (gst_tts_bridge_sink_event));
  gst_pad_set_query_function (
      self->sinkpad, GST_DEBUG_FUNCPTR (gst_tts_bridge_sink_query));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->backend_name =
      g_strdup (default_backend ? default_backend->name : NULL);
  self->voice = g_strdup (DEFAULT_VOICE);
  self->chunk_time = DEFAULT_CHUNK_TIME;
  self->speed = DEFAULT_SPEED;

  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_queue_init (&self->sentences);
  g_queue_init (&self->dropped);
  self->adapter = gst_adapter_new ();
  self->stats.first_audio_latency = GST_CLOCK_TIME_NONE;
  self->stats.max_first_audio_latency = GST_CLOCK_TIME_NONE;

  gst_base_src_set_live (GST_BASE_SRC (self), TRUE);
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
}

static void
gst_tts_bridge_finalize (GObject *object)
{
  GstTtsBridge *self = GST_TTS_BRIDGE (object);

  g_free (self->backend_name);
  g_free (self->voice);
  if (self->backend_options)
    gst_structure_free (self->backend_options);
  g_queue_clear_full (&self->sentences, (GDestroyNotify) sentence_free);
  g_queue_clear_full (&self->dropped, (GDestroyNotify) sentence_free);
  g_clear_pointer (&self->voices, g_ptr_array_unref);
  g_clear_pointer (&self->open_options, gst_structure_free);
  g_object_unref (self->adapter);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_tts_bridge_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstTtsBridge *self = GST_TTS_BRIDGE (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_BACKEND:
      g_free (self->backend_name);
      self->backend_name = g_value_dup_string (value);
      break;
    case PROP_VOICE:
      g_free (self->voice);
      self->voice = g_value_dup_string (value);
      break;
    case PROP_BACKEND_OPTIONS:
      if (self->backend_options)
        gst_structure_free (self->backend_options);
      self->backend_options = g_value_dup_boxed (value);
      break;
    case PROP_CHUNK_TIME:
      self->chunk_time = g_value_get_uint64 (value);
      break;
    case PROP_SPEED:
      self->speed = g_value_get_double (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static GstStructure *
gst_tts_bridge_get_stats (GstTtsBridge *self)
{
  GstStructure *s;
  GList *l;
  guint pending = 0, open_voices = 0, i;

  g_mutex_lock (&self->lock);
  for (l = self->sentences.head; l; l = l->next)
    if (((Sentence *) l->data)->state != SENTENCE_DONE)
      pending++;
  for (i = 0; self->voices && i < self->voices->len; i++)
    if (((GstTtsBridgeVoice *) g_ptr_array_index (self->voices, i))->backend)
      open_voices++;
  s = gst_structure_new ("application/x-ttsbridge-stats", "sentences",
      G_TYPE_UINT64, self->stats.sentences, "finished", G_TYPE_UINT64,
      self->stats.finished, "interrupted", G_TYPE_UINT64,
      self->stats.interrupted, "failed", G_TYPE_UINT64, self->stats.failed,
      "barge-ins", G_TYPE_UINT64, self->stats.barge_ins, "underruns",
      G_TYPE_UINT64, self->stats.underruns, "queued-sentences", G_TYPE_UINT,
      self->sentences.length, "pending-synthesis", G_TYPE_UINT, pending,
      "queued-time", G_TYPE_UINT64,
      self->rate
          ? gst_util_uint64_scale (gst_adapter_available (self->adapter) / BPS,
                GST_SECOND, self->rate)
          : (guint64) 0,
      "first-audio-latency", G_TYPE_UINT64, self->stats.first_audio_latency,
      "max-first-audio-latency", G_TYPE_UINT64,
      self->stats.max_first_audio_latency, "open-voices", G_TYPE_UINT,
      open_voices, NULL);
  g_mutex_unlock (&self->lock);
  return s;
}

static void
gst_tts_bridge_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstTtsBridge *self = GST_TTS_BRIDGE (object);

  if (prop_id == PROP_STATS) {
    g_value_take_boxed (value, gst_tts_bridge_get_stats (self));
    return;
  }

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_BACKEND:
      g_value_set_string (value, self->backend_name);
      break;
    case PROP_VOICE:
      g_value_set_string (value, self->voice);
      break;
    case PROP_BACKEND_OPTIONS:
      g_value_set_boxed (value, self->backend_options);
      break;
    case PROP_CHUNK_TIME:
      g_value_set_uint64 (value, self->chunk_time);
      break;
    case PROP_SPEED:
      g_value_set_double (value, self->speed);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* NULL->READY: a wrong backend, voice or option fails here, with the
 * backend's own explanation, rather than at the first sentence. */
static gboolean
gst_tts_bridge_open (GstTtsBridge *self)
{
  const GstTtsBackendClass *klass;
  GstTtsBridgeVoice *default_voice;
  GstStructure *options;
  GError *error = NULL;
  gchar *name, *voice;
  gboolean ok = FALSE;

  GST_OBJECT_LOCK (self);
  name = g_strdup (self->backend_name);
  voice = g_strdup (self->voice);
  options =
      self->backend_options ? gst_structure_copy (self->backend_options) : NULL;
  GST_OBJECT_UNLOCK (self);

  klass = find_backend (name);
  if (klass == NULL) {
    gchar *names = backend_names ();

    GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN,
        ("No speech synthesis backend \"%s\" in this build (available: %s)",
            GST_STR_NULL (name), names),
        (NULL));
    g_free (names);
    goto done;
  }

  default_voice = voice_new (klass, voice ? voice : klass->default_voice);
  default_voice->backend = klass->open (default_voice->name, options, &error);
  if (default_voice->backend == NULL) {
    /* the backend's error is in the GStreamer domains already */
    gst_element_message_full (GST_ELEMENT (self), GST_MESSAGE_ERROR,
        error->domain, error->code, g_strdup (error->message),
        g_strdup_printf ("backend %s, voice %s", klass->name,
            voice ? voice : klass->default_voice),
        __FILE__, GST_FUNCTION, __LINE__);
    g_clear_error (&error);
    voice_free (default_voice);
    goto done;
  }
  GST_INFO_OBJECT (self, "backend %s, voice %s, %d Hz", klass->name,
      default_voice->name, default_voice->backend->rate);

  g_mutex_lock (&self->lock);
  self->voices = g_ptr_array_new_with_free_func ((GDestroyNotify) voice_free);
  g_ptr_array_add (self->voices, default_voice);
  self->default_voice = default_voice;
  self->next_voice = default_voice;
  self->open_options = g_steal_pointer (&options);
  g_mutex_unlock (&self->lock);
  ok = TRUE;

done:
  g_free (name);
  g_free (voice);
  if (options)
    gst_structure_free (options);
  return ok;
}

/* READY->NULL (the synthesis thread is gone): closes every voice. */
static void
gst_tts_bridge_close (GstTtsBridge *self)
{
  GPtrArray *voices;

  g_mutex_lock (&self->lock);
  voices = g_steal_pointer (&self->voices);
  self->default_voice = NULL;
  self->next_voice = NULL;
  g_clear_pointer (&self->open_options, gst_structure_free);
  g_mutex_unlock (&self->lock);
  if (voices) {
    GST_DEBUG_OBJECT (self, "closing %u voices", voices->len);
    g_ptr_array_unref (voices);
  }
}

static GstStateChangeReturn
gst_tts_bridge_change_state (GstElement *element, GstStateChange transition)
{
  GstTtsBridge *self = GST_TTS_BRIDGE (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    if (!gst_tts_bridge_open (self))
      return GST_STATE_CHANGE_FAILURE;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  if (transition == GST_STATE_CHANGE_READY_TO_NULL ||
      (transition == GST_STATE_CHANGE_NULL_TO_READY &&
          ret == GST_STATE_CHANGE_FAILURE))
    gst_tts_bridge_close (self);
  return ret;
}

static gboolean
gst_tts_bridge_start (GstBaseSrc *bsrc)
{
  GstTtsBridge *self = GST_TTS_BRIDGE (bsrc);
  GError *error = NULL;

  g_mutex_lock (&self->lock);
  self->running = TRUE;
  self->flushing = FALSE;
  self->eos = FALSE;
  self->rate = 0;
  /* a new stream (a new call) starts in the element's own voice */
  self->next_voice = self->default_voice;
  g_mutex_unlock (&self->lock);
  self->started = FALSE;

  self->worker = g_thread_try_new (
      "ttsbridge-synth", gst_tts_bridge_synth_thread, self, &error);
  if (self->worker == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Could not start the synthesis thread"), ("%s", error->message));
    g_clear_error (&error);
    g_mutex_lock (&self->lock);
    self->running = FALSE;
    g_mutex_unlock (&self->lock);
    return FALSE;
  }
  return TRUE;
}

static gboolean
gst_tts_bridge_stop (GstBaseSrc *bsrc)
{
  GstTtsBridge *self = GST_TTS_BRIDGE (bsrc);
  GCancellable *cancellable = NULL;

  g_mutex_lock (&self->lock);
  self->running = FALSE;
  self->generation++;
  if (self->cancellable)
    cancellable = g_object_ref (self->cancellable);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);

  /* Cancelled outside our lock: cancelling runs the backend's handlers,
   * which may wait for the synthesis thread, which may want our lock. */
  if (cancellable) {
    g_cancellable_cancel (cancellable);
    g_object_unref (cancellable);
  }
  if (self->worker) {
    g_thread_join (self->worker);
    self->worker = NULL;
  }

  /* The element is going away from the call: nothing left to report to. */
  g_mutex_lock (&self->lock);
  g_queue_clear_full (&self->sentences, (GDestroyNotify) sentence_free);
  g_queue_clear_full (&self->dropped, (GDestroyNotify) sentence_free);
  gst_adapter_clear (self->adapter);
  self->eos = FALSE;
  self->rate = 0;
  if (self->clock_id) {
    gst_clock_id_unref (self->clock_id);
    self->clock_id = NULL;
  }
  g_mutex_unlock (&self->lock);
  self->started = FALSE;
  return TRUE;
}

static gboolean
gst_tts_bridge_unlock (GstBaseSrc *bsrc)
{
  GstTtsBridge *self = GST_TTS_BRIDGE (bsrc);

  g_mutex_lock (&self->lock);
  self->flushing = TRUE;
  if (self->clock_id)
    gst_clock_id_unschedule (self->clock_id);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static gboolean
gst_tts_bridge_unlock_stop (GstBaseSrc *bsrc)
{
  GstTtsBridge *self = GST_TTS_BRIDGE (bsrc);

  g_mutex_lock (&self->lock);
  self->flushing = FALSE;
  g_mutex_unlock (&self->lock);
  return TRUE;
}

/* Moves every queued sentence to the dropped list, which the next create()
 * reports, throws their audio away and makes the synthesis in progress
 * stale. Returns the cancellable to cancel once the lock is released. */
static GCancellable *
gst_tts_bridge_drop_locked (GstTtsBridge *self, const gchar *why)
{
  Sentence *s;

  if (self->sentences.length > 0)
    GST_DEBUG_OBJECT (
        self, "%s: dropping %u sentences", why, self->sentences.length);
  while ((s = g_queue_pop_head (&self->sentences)) != NULL) {
    g_queue_push_tail (&self->dropped, s);
    self->stats.interrupted++;
  }
  gst_adapter_clear (self->adapter);
  self->generation++;
  return self->cancellable ? g_object_ref (self->cancellable) : NULL;
}

static void
gst_tts_bridge_drop (GstTtsBridge *self, const gchar *why, gboolean barge_in)
{
  GCancellable *cancellable;

  g_mutex_lock (&self->lock);
  if (barge_in)
    self->stats.barge_ins++;
  cancellable = gst_tts_bridge_drop_locked (self, why);
  g_mutex_unlock (&self->lock);

  if (cancellable) {
    g_cancellable_cancel (cancellable);
    g_object_unref (cancellable);
  }
}

/* When downstream takes a range of rates, prefer the backend's own rate so
 * that the audio is resampled at most once, by whoever needs another rate.
 * When it takes a fixed rate first (audioresample puts the rate of the
 * element after it first), that is the rate. */
static GstCaps *
gst_tts_bridge_fixate (GstBaseSrc *bsrc, GstCaps *caps)
{
  GstTtsBridge *self = GST_TTS_BRIDGE (bsrc);
  GstStructure *s;

  caps = gst_caps_truncate (caps);
  caps = gst_caps_make_writable (caps);
  s = gst_caps_get_structure (caps, 0);
  gst_structure_fixate_field_nearest_int (s, "rate",
      self->default_voice ? self->default_voice->backend->rate : 16000);
  return GST_BASE_SRC_CLASS (parent_class)->fixate (bsrc, caps);
}

static gboolean
gst_tts_bridge_set_caps (GstBaseSrc *bsrc, GstCaps *caps)
{
  GstTtsBridge *self = GST_TTS_BRIDGE (bsrc);
  GCancellable *cancellable = NULL;
  GstAudioInfo info;
  gint old_rate;

  if (!gst_audio_info_from_caps (&info, caps)) {
    GST_WARNING_OBJECT (self, "invalid caps %" GST_PTR_FORMAT, caps);
    return FALSE;
  }

  g_mutex_lock (&self->lock);
  old_rate = self->rate;
  if (old_rate != info.rate) {
    GST_INFO_OBJECT (self, "output rate %d", info.rate);
    /* Audio queued at the old rate would play at the wrong pitch; what was
     * queued is reported interrupted (renegotiation in a call is rare). */
    if (old_rate != 0)
      cancellable = gst_tts_bridge_drop_locked (self, "rate changed");
    self->rate = info.rate;
    g_cond_broadcast (&self->cond);
  }
  g_mutex_unlock (&self->lock);

  if (cancellable) {
    g_cancellable_cancel (cancellable);
    g_object_unref (cancellable);
  }
  /* set_caps runs in the streaming thread, between two create()s: keep the
   * timeline contiguous across the new rate */
  if (old_rate != 0 && old_rate != info.rate) {
    self->ts_offset +=
        gst_util_uint64_scale (self->n_samples, GST_SECOND, old_rate);
    self->n_samples = 0;
  }
  return TRUE;
}

static guint64
chunk_samples (GstTtsBridge *self, gint rate)
{
  GstClockTime chunk_time;

  GST_OBJECT_LOCK (self);
  chunk_time = self->chunk_time;
  GST_OBJECT_UNLOCK (self);
  return MAX (gst_util_uint64_scale_round (chunk_time, rate, GST_SECOND), 1);
}

static gboolean
gst_tts_bridge_query (GstBaseSrc *bsrc, GstQuery *query)
{
  GstTtsBridge *self = GST_TTS_BRIDGE (bsrc);

  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    GstClockTime latency;
    gint rate;

    g_mutex_lock (&self->lock);
    rate = self->rate;
    g_mutex_unlock (&self->lock);
    if (rate > 0) {
      latency =
          gst_util_uint64_scale (chunk_samples (self, rate), GST_SECOND, rate);
    } else {
      GST_OBJECT_LOCK (self);
      latency = self->chunk_time;
      GST_OBJECT_UNLOCK (self);
    }
    /* A chunk is complete, like a capture, at its end: one chunk of
     * latency. It is generated, not captured, so it could wait forever. */
    GST_DEBUG_OBJECT (
        self, "latency %" GST_TIME_FORMAT, GST_TIME_ARGS (latency));
    gst_query_set_latency (query, TRUE, latency, GST_CLOCK_TIME_NONE);
    return TRUE;
  }
  return GST_BASE_SRC_CLASS (parent_class)->query (bsrc, query);
}

static void
note_add (GQueue *notes, const gchar *name, const Sentence *s,
    gboolean interrupted, gboolean idle, GstClockTime running_time)
{
  Note *n = g_new0 (Note, 1);

  n->name = name;
  n->text = g_strdup (s->text);
  n->voice = s->used ? g_strdup (s->used->label) : NULL;
  n->interrupted = interrupted;
  n->idle = idle;
  n->running_time = running_time;
  n->duration =
      GST_CLOCK_TIME_IS_VALID (s->started) && running_time > s->started
      ? running_time - s->started
      : 0;
  g_queue_push_tail (notes, n);
}

/* Fills one chunk from the queue, under lock: the rest of the playing
 * sentence, then the next ones back to back, then silence. */
static void
gst_tts_bridge_fill_locked (GstTtsBridge *self, guint8 *data, gsize size,
    GstClockTime ts, gint rate, GQueue *notes)
{
  Sentence *s;
  gsize pos = 0;

  /* a drop takes effect at the start of this chunk */
  while ((s = g_queue_pop_head (&self->dropped)) != NULL) {
    note_add (notes, GST_AGENT_MESSAGE_TTS_FINISHED, s, TRUE,
        self->dropped.length == 0 && self->sentences.length == 0, ts);
    sentence_free (s);
  }

  while ((s = g_queue_peek_head (&self->sentences)) != NULL) {
    gsize avail = s->bytes_in - s->bytes_out;

    if (avail > 0) {
      gsize take;

      if (pos == size)
        break;
      take = MIN (avail, size - pos);
      if (!GST_CLOCK_TIME_IS_VALID (s->started)) {
        s->started = ts + gst_util_uint64_scale (pos / BPS, GST_SECOND, rate);
        note_add (
            notes, GST_AGENT_MESSAGE_TTS_STARTED, s, FALSE, FALSE, s->started);
      }
      gst_adapter_copy (self->adapter, data + pos, 0, take);
      gst_adapter_flush (self->adapter, take);
      s->bytes_out += take;
      pos += take;
    } else if (s->state == SENTENCE_DONE) {
      GstClockTime end =
          ts + gst_util_uint64_scale (pos / BPS, GST_SECOND, rate);

      g_queue_pop_head (&self->sentences);
      if (s->failed)
        self->stats.interrupted++;
      else
        self->stats.finished++;
      note_add (notes, GST_AGENT_MESSAGE_TTS_FINISHED, s, s->failed,
          self->sentences.length == 0, end);
      sentence_free (s);
    } else {
      /* its audio is due but not synthesized yet */
      if (GST_CLOCK_TIME_IS_VALID (s->started))
        self->stats.underruns++;
      break;
    }
  }

  if (pos < size)
    memset (data + pos, 0, size - pos);
}

static void
gst_tts_bridge_send_notes (GstTtsBridge *self, GQueue *notes)
{
  Note *n;

  while ((n = g_queue_pop_head (notes)) != NULL) {
    gboolean finished = g_str_equal (n->name, GST_AGENT_MESSAGE_TTS_FINISHED);
    GstStructure *s;
    GstEvent *event;

    GST_DEBUG_OBJECT (self,
        "%s at %" GST_TIME_FORMAT " (interrupted %d, idle %d): \"%s\"", n->name,
        GST_TIME_ARGS (n->running_time), n->interrupted, n->idle, n->text);
    s = gst_structure_new (n->name, "text", G_TYPE_STRING, n->text,
        "running-time", G_TYPE_UINT64, n->running_time, NULL);
    if (finished)
      gst_structure_set (s, "interrupted", G_TYPE_BOOLEAN, n->interrupted,
          "idle", G_TYPE_BOOLEAN, n->idle, "duration", G_TYPE_UINT64,
          n->duration, NULL);
    if (n->voice)
      gst_structure_set (s, "voice", G_TYPE_STRING, n->voice, NULL);
    gst_element_post_message (
        GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));

    event = gst_agent_event_new_tts (
        finished ? GST_AGENT_EVENT_TTS_FINISHED : GST_AGENT_EVENT_TTS_STARTED,
        n->text, n->interrupted, n->idle);
    if (!gst_pad_push_event (self->sinkpad, event))
      GST_LOG_OBJECT (self, "nobody upstream took %s", n->name);

    g_free (n->text);
    g_free (n->voice);
    g_free (n);
  }
}

/* Waits until the pipeline clock reaches @time. The clock entry is reused
 * from chunk to chunk rather than allocated every 20 ms. */
static GstFlowReturn
gst_tts_bridge_wait (GstTtsBridge *self, GstClock *clock, GstClockTime time)
{
  GstClockReturn cret;
  GstClockID id;
  gboolean flushing;

  g_mutex_lock (&self->lock);
  if (self->flushing) {
    g_mutex_unlock (&self->lock);
    return GST_FLOW_FLUSHING;
  }
  if (self->clock_id == NULL ||
      !gst_clock_id_uses_clock (self->clock_id, clock) ||
      !gst_clock_single_shot_id_reinit (clock, self->clock_id, time)) {
    if (self->clock_id)
      gst_clock_id_unref (self->clock_id);
    self->clock_id = gst_clock_new_single_shot_id (clock, time);
  }
  /* unlock() may unschedule it from now on */
  id = gst_clock_id_ref (self->clock_id);
  g_mutex_unlock (&self->lock);

  cret = gst_clock_id_wait (id, NULL);
  gst_clock_id_unref (id);

  g_mutex_lock (&self->lock);
  flushing = self->flushing;
  g_mutex_unlock (&self->lock);

  if (flushing || cret == GST_CLOCK_UNSCHEDULED)
    return GST_FLOW_FLUSHING;
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_tts_bridge_create (GstPushSrc *psrc, GstBuffer **outbuf)
{
  GstTtsBridge *self = GST_TTS_BRIDGE (psrc);
  GQueue notes = G_QUEUE_INIT;
  GstClockTime base_time, ts, next;
  GstFlowReturn ret;
  GstClock *clock;
  GstBuffer *buf;
  GstMapInfo map;
  guint64 n;
  gint rate;

  g_mutex_lock (&self->lock);
  rate = self->rate;
  if (self->eos && self->sentences.length == 0 && self->dropped.length == 0) {
    g_mutex_unlock (&self->lock);
    GST_DEBUG_OBJECT (self, "all played out after EOS");
    return GST_FLOW_EOS;
  }
  g_mutex_unlock (&self->lock);
  if (rate == 0)
    return GST_FLOW_NOT_NEGOTIATED;

  /* Without a pipeline there is no clock; a live source still keeps time. */
  clock = gst_element_get_clock (GST_ELEMENT (self));
  if (clock == NULL)
    clock = gst_system_clock_obtain ();
  base_time = gst_element_get_base_time (GST_ELEMENT (self));

  if (!self->started) {
    GstClockTime now = gst_clock_get_time (clock);

    self->ts_offset = now > base_time ? now - base_time : 0;
    self->n_samples = 0;
  }
  n = chunk_samples (self, rate);
  ts = self->ts_offset +
      gst_util_uint64_scale (self->n_samples, GST_SECOND, rate);
  next = self->ts_offset +
      gst_util_uint64_scale (self->n_samples + n, GST_SECOND, rate);

  /* Fill after the wait, not before: a barge-in that arrives while we wait
   * already silences this chunk. */
  ret = gst_tts_bridge_wait (self, clock, base_time + next);
  gst_object_unref (clock);
  if (ret != GST_FLOW_OK)
    return ret;

  buf = gst_buffer_new_allocate (NULL, n * BPS, NULL);
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  g_mutex_lock (&self->lock);
  gst_tts_bridge_fill_locked (self, map.data, map.size, ts, rate, &notes);
  g_mutex_unlock (&self->lock);
  gst_buffer_unmap (buf, &map);

  GST_BUFFER_PTS (buf) = ts;
  GST_BUFFER_DTS (buf) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (buf) = next - ts;
  GST_BUFFER_OFFSET (buf) = self->n_samples;
  GST_BUFFER_OFFSET_END (buf) = self->n_samples + n;
  if (!self->started) {
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    self->started = TRUE;
  }
  self->n_samples += n;

  gst_tts_bridge_send_notes (self, &notes);
  *outbuf = buf;
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_tts_bridge_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstTtsBridge *self = GST_TTS_BRIDGE (parent);
  GstMapInfo map;
  gchar *text;

  if (!gst_buffer_map (buffer, &map, GST_MAP_READ)) {
    gst_buffer_unref (buffer);
    GST_ELEMENT_ERROR (self, STREAM, FAILED, (NULL), ("Could not map text"));
    return GST_FLOW_ERROR;
  }
  text = g_utf8_make_valid ((const gchar *) map.data, map.size);
  gst_buffer_unmap (buffer, &map);
  gst_buffer_unref (buffer);

  g_strstrip (text);
  if (*text == '\0') {
    GST_LOG_OBJECT (self, "nothing to say in an empty buffer");
    g_free (text);
    return GST_FLOW_OK;
  }

  g_mutex_lock (&self->lock);
  if (!self->running) {
    g_mutex_unlock (&self->lock);
    g_free (text);
    return GST_FLOW_FLUSHING;
  }
  GST_DEBUG_OBJECT (
      self, "queueing \"%s\" (%s)", text, self->next_voice->label);
  g_queue_push_tail (&self->sentences, sentence_new (text, self->next_voice));
  self->stats.sentences++;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  return GST_FLOW_OK;
}

/* tts-voice: the sentences queued from now on are spoken in that voice.
 * Only bookkeeping here (the synthesis thread opens the voice): this runs in
 * the thread that pushes the text. */
static void
gst_tts_bridge_set_voice (GstTtsBridge *self, const GstStructure *s)
{
  const gchar *backend = gst_structure_get_string (s, "backend");
  const gchar *voice = gst_structure_get_string (s, "voice");
  const GstTtsBackendClass *klass = NULL;
  GstTtsBridgeVoice *v = NULL;

  if (voice && (*voice == '\0' || g_ascii_strcasecmp (voice, "default") == 0))
    voice = NULL;
  if (backend && (klass = find_backend (backend)) == NULL) {
    gchar *names = backend_names ();

    GST_ELEMENT_WARNING (self, CORE, MISSING_PLUGIN,
        ("No speech synthesis backend \"%s\" in this build (available: %s); "
         "keeping the current voice",
            backend, names),
        ("%" GST_PTR_FORMAT, s));
    g_free (names);
    return;
  }

  g_mutex_lock (&self->lock);
  if (self->voices == NULL || self->next_voice == NULL) {
    g_mutex_unlock (&self->lock);
    return;
  }
  if (klass == NULL)
    klass = voice ? self->next_voice->klass : self->default_voice->klass;
  if (voice == NULL && klass == self->default_voice->klass)
    v = self->default_voice;
  else
    v = voice_lookup_locked (self, klass, voice ? voice : klass->default_voice);
  if (v != self->next_voice)
    GST_INFO_OBJECT (self, "voice %s from the next sentence on (was %s)",
        v->label, self->next_voice->label);
  self->next_voice = v;
  g_mutex_unlock (&self->lock);
}

static gboolean
gst_tts_bridge_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstTtsBridge *self = GST_TTS_BRIDGE (parent);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_START:
      gst_tts_bridge_drop (self, "flush", FALSE);
      break;
    case GST_EVENT_FLUSH_STOP:
      g_mutex_lock (&self->lock);
      self->eos = FALSE;
      g_mutex_unlock (&self->lock);
      break;
    case GST_EVENT_EOS:
      GST_DEBUG_OBJECT (self, "EOS on the text: playing out what is queued");
      g_mutex_lock (&self->lock);
      self->eos = TRUE;
      g_mutex_unlock (&self->lock);
      break;
    default:
      if (gst_agent_event_is (event, GST_AGENT_EVENT_BARGE_IN))
        gst_tts_bridge_drop (self, "barge-in", TRUE);
      else if (gst_agent_event_is (event, GST_AGENT_EVENT_TTS_VOICE))
        gst_tts_bridge_set_voice (self, gst_event_get_structure (event));
      break;
  }
  /* Nothing crosses to the src pad: it has its own timeline and caps. */
  gst_event_unref (event);
  return TRUE;
}

static gboolean
gst_tts_bridge_sink_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_CAPS:
    case GST_QUERY_ACCEPT_CAPS:
      return gst_pad_query_default (pad, parent, query);
    default:
      /* the default would forward text queries to the audio side */
      return FALSE;
  }
}

/* Resamples a backend chunk to the output rate, into a new buffer. */
static GstBuffer *
synth_job_convert (SynthJob *job, const gint16 *samples, gsize n, gint rate)
{
  GstBuffer *buf;
  GstMapInfo map;
  gsize out_n;

  if (rate != job->in_rate) {
    /* a backend may change rate between chunks; the old filter's tail is
     * lost, which only happens at such a change */
    g_clear_pointer (&job->resampler, gst_audio_resampler_free);
    job->in_rate = rate;
    if (rate != job->out_rate) {
      GstStructure *options = gst_structure_new_empty ("options");

      gst_audio_resampler_options_set_quality (
          GST_AUDIO_RESAMPLER_METHOD_KAISER,
          GST_AUDIO_RESAMPLER_QUALITY_DEFAULT, rate, job->out_rate, options);
      job->resampler = gst_audio_resampler_new (
          GST_AUDIO_RESAMPLER_METHOD_KAISER, GST_AUDIO_RESAMPLER_FLAG_NONE,
          GST_AUDIO_FORMAT_S16, 1, rate, job->out_rate, options);
      gst_structure_free (options);
      GST_DEBUG_OBJECT (
          job->self, "resampling %d Hz to %d Hz", rate, job->out_rate);
    }
  }

  if (job->resampler == NULL) {
    buf = gst_buffer_new_memdup (samples, n * BPS);
  } else {
    gpointer in[1] = {(gpointer) samples};
    gpointer out[1];

    out_n = gst_audio_resampler_get_out_frames (job->resampler, n);
    buf = gst_buffer_new_allocate (NULL, out_n * BPS, NULL);
    gst_buffer_map (buf, &map, GST_MAP_WRITE);
    out[0] = map.data;
    /* with in == NULL the resampler reads silence (the drain) */
    gst_audio_resampler_resample (
        job->resampler, samples ? in : NULL, n, out, out_n);
    gst_buffer_unmap (buf, &map);
  }

#if G_BYTE_ORDER == G_BIG_ENDIAN
  gst_buffer_map (buf, &map, GST_MAP_READWRITE);
  {
    gint16 *p = (gint16 *) map.data;
    gsize i;

    for (i = 0; i < map.size / BPS; i++)
      p[i] = GUINT16_SWAP_LE_BE (p[i]);
  }
  gst_buffer_unmap (buf, &map);
#endif
  return buf;
}

/* Appends audio to the sentence, unless it was dropped meanwhile. */
static gboolean
synth_job_push (SynthJob *job, GstBuffer *buf)
{
  GstTtsBridge *self = job->self;
  gsize size = gst_buffer_get_size (buf);

  g_mutex_lock (&self->lock);
  if (job->generation != self->generation || !self->running) {
    g_mutex_unlock (&self->lock);
    gst_buffer_unref (buf);
    return FALSE;
  }
  if (size > 0) {
    if (job->sentence->bytes_in == 0) {
      GstClockTime latency =
          (g_get_monotonic_time () - job->sentence->queued_at) * GST_USECOND;

      self->stats.first_audio_latency = latency;
      if (!GST_CLOCK_TIME_IS_VALID (self->stats.max_first_audio_latency) ||
          latency > self->stats.max_first_audio_latency)
        self->stats.max_first_audio_latency = latency;
      GST_DEBUG_OBJECT (
          self, "first audio after %" GST_TIME_FORMAT, GST_TIME_ARGS (latency));
    }
    job->sentence->bytes_in += size;
    gst_adapter_push (self->adapter, buf);
  } else {
    gst_buffer_unref (buf);
  }
  g_mutex_unlock (&self->lock);
  return TRUE;
}

/* Speech began at @start in the held-back lead-in: plays it from there. */
static gboolean
synth_job_start_speech (SynthJob *job, gsize start)
{
  const gint16 *lead = (const gint16 *) job->lead->data;
  gboolean ok = TRUE;

  job->voiced = TRUE;
  if (job->lead->len > start)
    ok = synth_job_push (job,
        synth_job_convert (
            job, lead + start, job->lead->len - start, job->lead_rate));
  g_array_set_size (job->lead, 0);
  return ok;
}

/* The sample where speech begins in the lead-in, or -1 for not yet. */
static gssize
synth_job_find_onset (SynthJob *job)
{
  const gint16 *s = (const gint16 *) job->lead->data;
  gsize win = MAX (job->lead_rate * ONSET_WINDOW_MS / 1000, 1);

  for (; job->scan_pos + win <= job->lead->len; job->scan_pos += win) {
    gint64 energy = 0;
    gsize i;

    for (i = 0; i < win; i++)
      energy += (gint64) s[job->scan_pos + i] * s[job->scan_pos + i];
    if (energy > (gint64) ONSET_LEVEL * ONSET_LEVEL * (gint64) win) {
      if (++job->loud_run == ONSET_SUSTAIN)
        return job->scan_pos - (ONSET_SUSTAIN - 1) * win;
    } else {
      job->loud_run = 0;
    }
  }
  return -1;
}

/* GstTtsAudioFunc: runs in the backend's synthesis, never with our lock. */
static gboolean
synth_job_audio (
    const gint16 *samples, gsize n_samples, gint rate, gpointer user_data)
{
  SynthJob *job = user_data;

  if (g_cancellable_is_cancelled (job->cancellable))
    return FALSE;
  if (rate <= 0)
    return FALSE;

  /* Flite starts every utterance with 150-330 ms of pause, network
   * services often with some silence too: holding a sentence back until
   * its speech begins gets the caller's ear that much sooner to the first
   * word. */
  if (!job->voiced && job->lead->len > 0 && rate != job->lead_rate) {
    if (!synth_job_start_speech (job, 0))
      return FALSE;
  }
  if (!job->voiced) {
    gssize onset;

    job->lead_rate = rate;
    g_array_append_vals (job->lead, samples, n_samples);
    onset = synth_job_find_onset (job);
    if (onset >= 0) {
      gssize preroll = rate * ONSET_PREROLL_MS / 1000;

      return synth_job_start_speech (job, MAX (onset - preroll, 0));
    }
    if (job->lead->len >= (gsize) rate * ONSET_MAX_LEAD_MS / 1000)
      return synth_job_start_speech (job, 0);
    return TRUE;
  }
  return synth_job_push (
      job, synth_job_convert (job, samples, n_samples, rate));
}

static Sentence *
next_pending_locked (GstTtsBridge *self)
{
  GList *l;

  for (l = self->sentences.head; l; l = l->next) {
    Sentence *s = l->data;

    if (s->state == SENTENCE_PENDING)
      return s;
  }
  return NULL;
}

/* Opens a voice a tts-voice event asked for, on the synthesis thread and
 * without the lock: espeak-ng's engine lock or flite's voice registration
 * may take a moment. A voice that does not open is a warning, not an
 * error: its sentences are spoken in the voice of the sentence before. */
static void
gst_tts_bridge_open_voice (GstTtsBridge *self, GstTtsBridgeVoice *v)
{
  const GstStructure *options = NULL;
  GstTtsBackend *backend;
  GError *error = NULL;

  /* backend-options are for the element's own backend: another one may
   * not take the same fields (flite takes none) */
  if (v->klass == self->default_voice->klass)
    options = self->open_options;
  backend = v->klass->open (v->name, options, &error);

  g_mutex_lock (&self->lock);
  v->backend = backend;
  v->failed = backend == NULL;
  g_mutex_unlock (&self->lock);

  if (backend == NULL && error == NULL)
    g_set_error (&error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
        "%s could not open voice %s", v->klass->name, v->name);
  if (backend) {
    GST_INFO_OBJECT (self, "opened voice %s, %d Hz", v->label, backend->rate);
  } else {
    GST_WARNING_OBJECT (
        self, "cannot open voice %s: %s", v->label, error->message);
    gst_element_message_full (GST_ELEMENT (self), GST_MESSAGE_WARNING,
        error->domain, error->code,
        g_strdup_printf ("%s; keeping the current voice", error->message),
        g_strdup_printf ("voice %s", v->label), __FILE__, GST_FUNCTION,
        __LINE__);
    g_clear_error (&error);
  }
}

static gpointer
gst_tts_bridge_synth_thread (gpointer data)
{
  GstTtsBridge *self = data;
  SynthJob job = {self, NULL, 0, NULL, 0, NULL, 0, FALSE, NULL, 0, 0, 0};
  /* the voice of the last sentence, for one whose voice does not open */
  GstTtsBridgeVoice *current = self->default_voice;

  job.lead = g_array_new (FALSE, FALSE, sizeof (gint16));
  g_mutex_lock (&self->lock);
  while (TRUE) {
    Sentence *s = NULL;
    GstTtsBackend *backend;
    GError *error = NULL;
    gboolean ok, cancelled;
    gdouble speed;
    gchar *text;

    while (self->running &&
        (self->rate == 0 || (s = next_pending_locked (self)) == NULL))
      g_cond_wait (&self->cond, &self->lock);
    if (!self->running)
      break;

    if (s->voice->backend == NULL && !s->voice->failed) {
      GstTtsBridgeVoice *v = s->voice;

      /* the entry outlives the sentence, which a drop may free meanwhile:
       * look at the queue again afterwards */
      g_mutex_unlock (&self->lock);
      gst_tts_bridge_open_voice (self, v);
      g_mutex_lock (&self->lock);
      continue;
    }
    if (s->voice->backend)
      current = s->voice;
    s->used = current;
    backend = current->backend;
    s->state = SENTENCE_SYNTHESIZING;
    text = g_strdup (s->text);
    job.sentence = s;
    job.generation = self->generation;
    if (job.out_rate != self->rate) {
      g_clear_pointer (&job.resampler, gst_audio_resampler_free);
      job.in_rate = 0;
      job.out_rate = self->rate;
    }
    if (job.resampler)
      gst_audio_resampler_reset (job.resampler);
    job.voiced = FALSE;
    g_array_set_size (job.lead, 0);
    job.scan_pos = 0;
    job.loud_run = 0;
    job.cancellable = g_cancellable_new ();
    self->cancellable = g_object_ref (job.cancellable);
    GST_OBJECT_LOCK (self);
    speed = self->speed;
    GST_OBJECT_UNLOCK (self);
    g_mutex_unlock (&self->lock);

    GST_DEBUG_OBJECT (
        self, "synthesizing \"%s\" with %s", text, current->label);
    ok = backend->klass->synthesize (
        backend, text, speed, job.cancellable, synth_job_audio, &job, &error);
    /* a sentence too quiet to show an onset is played as it is */
    if (ok && !job.voiced && job.lead->len > 0)
      ok = synth_job_start_speech (&job, 0);
    /* the resampler holds the last few milliseconds back */
    if (ok && job.resampler && job.voiced)
      ok = synth_job_push (&job,
          synth_job_convert (&job, NULL,
              gst_audio_resampler_get_max_latency (job.resampler),
              job.in_rate));

    g_mutex_lock (&self->lock);
    cancelled = job.generation != self->generation ||
        g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    if (!cancelled) {
      s->state = SENTENCE_DONE;
      s->failed = !ok;
      if (!ok)
        self->stats.failed++;
    }
    g_clear_object (&self->cancellable);
    g_clear_object (&job.cancellable);
    job.sentence = NULL;
    g_mutex_unlock (&self->lock);

    if (!ok && !cancelled) {
      GST_ELEMENT_WARNING (self, LIBRARY, FAILED,
          ("Could not synthesize \"%s\"", text),
          ("%s", error ? error->message : "unknown error"));
    }
    GST_DEBUG_OBJECT (
        self, "done with \"%s\" (ok %d, cancelled %d)", text, ok, cancelled);
    g_clear_error (&error);
    g_free (text);

    g_mutex_lock (&self->lock);
  }
  g_mutex_unlock (&self->lock);

  g_clear_pointer (&job.resampler, gst_audio_resampler_free);
  g_array_unref (job.lead);
  return NULL;
}
