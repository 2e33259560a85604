/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The flite backend of ttsbridge: CMU Flite 2.2 with its built-in US English
 * voices, kal (8 kHz diphone), kal16 (16 kHz diphone), slt, awb and rms
 * (16 kHz clustergen).
 *
 * Flite streams: with a "streaming_info" feature on the utterance its wave
 * synthesis calls back every few milliseconds of audio (lpc_resynth for the
 * diphone voices, mlsa_resynthesis for the clustergen ones), so the first
 * audio of a sentence exists once the text analysis of the whole sentence
 * is done, well before its last sample. Returning CST_AUDIO_STREAM_STOP from
 * the callback ends the synthesis (the utterance is then marked
 * "Interrupted").
 *
 * Flite is reentrant for synthesis (Cepstral made the regex matcher and
 * value constants state-free); utterances of different threads share the
 * registered voices read-only, so no lock is held while synthesizing. What
 * is not thread safe is registration: every register_cmu_us_*() initializes
 * the shared CMU lexicon on first use, so registrations are serialized and
 * each voice is registered once per process.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstttsbackend.h"

#include <flite/flite.h>

GST_DEBUG_CATEGORY_STATIC (gst_tts_flite_debug);
#define GST_CAT_DEFAULT gst_tts_flite_debug

/* The libflite_cmu_us_* libraries declare these in no header. */
cst_voice *register_cmu_us_kal (const char *voxdir);
cst_voice *register_cmu_us_kal16 (const char *voxdir);
cst_voice *register_cmu_us_slt (const char *voxdir);
cst_voice *register_cmu_us_awb (const char *voxdir);
cst_voice *register_cmu_us_rms (const char *voxdir);

typedef struct
{
  const gchar *name;
  cst_voice *(*reg) (const char *voxdir);
} FliteVoiceEntry;

static const FliteVoiceEntry flite_voices[] = {
    {"kal", register_cmu_us_kal},
    {"kal16", register_cmu_us_kal16},
    {"slt", register_cmu_us_slt},
    {"awb", register_cmu_us_awb},
    {"rms", register_cmu_us_rms},
};

static cst_voice *registered[G_N_ELEMENTS (flite_voices)];
static GMutex register_lock;

typedef struct
{
  GstTtsBackend parent;
  cst_voice *voice;
  gfloat stretch; /* the voice's own duration_stretch */
} GstTtsFlite;

typedef struct
{
  GCancellable *cancellable;
  GstTtsAudioFunc audio;
  gpointer user_data;
  gboolean stopped;
} FliteSynth;

static void
flite_init_once (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done)) {
    GST_DEBUG_CATEGORY_INIT (
        gst_tts_flite_debug, "ttsflite", 0, "ttsbridge flite backend");
    flite_init ();
    g_once_init_leave (&done, 1);
  }
}

static cst_voice *
flite_get_voice (guint i)
{
  cst_voice *voice;

  g_mutex_lock (&register_lock);
  if (registered[i] == NULL) {
    registered[i] = flite_voices[i].reg (NULL);
    GST_INFO ("registered flite voice %s", flite_voices[i].name);
  }
  voice = registered[i];
  g_mutex_unlock (&register_lock);
  return voice;
}

static GstTtsBackend *
gst_tts_flite_open (
    const gchar *voice_name, const GstStructure *options, GError **error)
{
  GstTtsFlite *self;
  cst_voice *voice = NULL;
  guint i;

  flite_init_once ();

  if (options != NULL && gst_structure_n_fields (options) > 0) {
    gchar *str = gst_structure_to_string (options);

    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "The flite backend takes no backend-options (got %s)", str);
    g_free (str);
    return NULL;
  }

  for (i = 0; i < G_N_ELEMENTS (flite_voices); i++) {
    if (g_ascii_strcasecmp (voice_name, flite_voices[i].name) == 0) {
      voice = flite_get_voice (i);
      break;
    }
  }
  if (voice == NULL) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
        "flite has no voice \"%s\" (voices: %s)", voice_name,
        gst_tts_flite_backend.voices);
    return NULL;
  }

  self = g_new0 (GstTtsFlite, 1);
  self->parent.klass = &gst_tts_flite_backend;
  self->parent.rate =
      flite_get_param_int (voice->features, "sample_rate", 16000);
  self->voice = voice;
  self->stretch =
      flite_get_param_float (voice->features, "duration_stretch", 1.0);
  return &self->parent;
}

/* Called from inside flite's wave synthesis with the samples made since the
 * previous call. */
static int
flite_stream_chunk (const cst_wave *w, int start, int size, int last,
    cst_audio_streaming_info *asi)
{
  FliteSynth *synth = asi->userdata;

  if (g_cancellable_is_cancelled (synth->cancellable)) {
    synth->stopped = TRUE;
    return CST_AUDIO_STREAM_STOP;
  }
  if (size > 0 &&
      !synth->audio (
          &w->samples[start], size, w->sample_rate, synth->user_data)) {
    synth->stopped = TRUE;
    return CST_AUDIO_STREAM_STOP;
  }
  return CST_AUDIO_STREAM_CONT;
}

static gboolean
gst_tts_flite_synthesize (GstTtsBackend *backend, const gchar *text,
    gdouble speed, GCancellable *cancellable, GstTtsAudioFunc audio,
    gpointer user_data, GError **error)
{
  GstTtsFlite *self = (GstTtsFlite *) backend;
  FliteSynth synth = {cancellable, audio, user_data, FALSE};
  cst_audio_streaming_info *asi;
  cst_utterance *utt;
  gchar *ascii;

  /* The voices are US English only; their letter-to-sound rules spell out
   * the bytes of anything else, so "café" is better said as "cafe". */
  ascii = g_str_to_ascii (text, "C");

  utt = new_utterance ();
  utt_set_input_text (utt, ascii);
  /* On the utterance, not the shared voice: the utterance's features are
   * searched before the voice's, and other threads use the same voice. The
   * utterance owns asi and frees it with its features. */
  asi = new_audio_streaming_info ();
  asi->asc = flite_stream_chunk;
  asi->userdata = &synth;
  /* about 10 ms per callback */
  asi->min_buffsize = MAX (backend->rate / 100, 80);
  feat_set (utt->features, "streaming_info", audio_streaming_info_val (asi));
  feat_set_float (utt->features, "duration_stretch", self->stretch / speed);

  GST_LOG ("synthesizing \"%s\"", ascii);
  utt = flite_do_synth (utt, self->voice, utt_synth);
  g_free (ascii);
  if (utt != NULL)
    delete_utterance (utt);

  if (synth.stopped || g_cancellable_is_cancelled (cancellable)) {
    g_set_error_literal (
        error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Synthesis cancelled");
    return FALSE;
  }
  if (utt == NULL) {
    g_set_error_literal (error, GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_FAILED,
        "flite could not synthesize the sentence");
    return FALSE;
  }
  return TRUE;
}

static void
gst_tts_flite_close (GstTtsBackend *backend)
{
  /* the voice stays registered for the next element */
  g_free (backend);
}

const GstTtsBackendClass gst_tts_flite_backend = {
    "flite",
    "kal",
    "kal (8 kHz diphone), kal16 (16 kHz diphone), slt, awb, rms (16 kHz)",
    gst_tts_flite_open,
    gst_tts_flite_synthesize,
    gst_tts_flite_close,
};
