/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The espeak-ng backend of ttsbridge (libespeak-ng 1.51): many languages at
 * 22050 Hz, voices named as `espeak-ng -v` takes them ("en", "en-us", "es",
 * "fr", "de", "en-us+f3" for a variant, ...).
 *
 * espeak-ng is one global engine per process and is not thread safe: the
 * current voice, the rate and pitch, the synthesis callback and the
 * synthesis itself are all process state. This backend therefore
 *
 * - initializes the engine once per process, in synchronous mode
 *   (AUDIO_OUTPUT_SYNCHRONOUS: espeak_ng_Synthesize() runs in the calling
 *   thread and hands over each ~20 ms of audio through the synth callback;
 *   no audio device, no thread of espeak-ng's own);
 * - holds one global mutex around everything that touches the engine:
 *   selecting a voice, setting rate and pitch, and a whole sentence's
 *   synthesis. Calls (one ttsbridge per call) take turns sentence by
 *   sentence; espeak-ng synthesizes far faster than real time (a 3 s
 *   sentence in about 2 ms here), so a waiting sentence is delayed by
 *   milliseconds. The element's streaming thread never takes this mutex.
 *
 * The voice last selected is remembered so that consecutive sentences of
 * the same voice do not reload it. A cancelled synthesis stops at the next
 * callback (returning 1 from it aborts espeak-ng's synthesis).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstttsbackend.h"

#include <string.h>
#include <espeak-ng/espeak_ng.h>
#include <espeak-ng/speak_lib.h>

GST_DEBUG_CATEGORY_STATIC (gst_tts_espeak_debug);
#define GST_CAT_DEFAULT gst_tts_espeak_debug

/* milliseconds of audio per synth callback */
#define ESPEAK_BUFFER_MS 20
#define ESPEAK_DEFAULT_PITCH 50

typedef struct
{
  GstTtsBackend parent;
  gchar *voice;
  gint pitch;
} GstTtsEspeak;

typedef struct
{
  GCancellable *cancellable;
  GstTtsAudioFunc audio;
  gpointer user_data;
  gint rate;
  gboolean stopped;
} EspeakSynth;

/* espeak_lock guards the engine and everything below it */
static GMutex espeak_lock;
static gboolean espeak_initialized;
static gchar *espeak_init_error;
static gint espeak_rate;
static gchar *espeak_current_voice;
/* the synthesis in progress: only one can be, under espeak_lock */
static EspeakSynth *espeak_active;

static gchar *
espeak_status_message (espeak_ng_STATUS status)
{
  gchar buf[256];

  espeak_ng_GetStatusCodeMessage (status, buf, sizeof (buf));
  return g_strdup (buf);
}

static int
espeak_synth_cb (short *wav, int numsamples, espeak_EVENT *events)
{
  EspeakSynth *synth = espeak_active;

  if (synth == NULL)
    return 1;
  if (g_cancellable_is_cancelled (synth->cancellable)) {
    synth->stopped = TRUE;
    return 1;
  }
  /* wav is NULL at the end of the text */
  if (wav != NULL && numsamples > 0 &&
      !synth->audio (wav, numsamples, synth->rate, synth->user_data)) {
    synth->stopped = TRUE;
    return 1;
  }
  return 0;
}

/* Called with espeak_lock held. */
static gboolean
espeak_init_locked (GError **error)
{
  if (!espeak_initialized) {
    espeak_ng_ERROR_CONTEXT context = NULL;
    espeak_ng_STATUS status;

    GST_DEBUG_CATEGORY_INIT (
        gst_tts_espeak_debug, "ttsespeak", 0, "ttsbridge espeak-ng backend");
    espeak_initialized = TRUE;
    espeak_ng_InitializePath (NULL);
    status = espeak_ng_Initialize (&context);
    if (status == ENS_OK)
      status = espeak_ng_InitializeOutput (
          ENOUTPUT_MODE_SYNCHRONOUS, ESPEAK_BUFFER_MS, NULL);
    espeak_ng_ClearErrorContext (&context);
    if (status != ENS_OK) {
      espeak_init_error = espeak_status_message (status);
    } else {
      espeak_SetSynthCallback (espeak_synth_cb);
      espeak_rate = espeak_ng_GetSampleRate ();
      GST_INFO ("espeak-ng initialized, %d Hz", espeak_rate);
    }
  }
  if (espeak_init_error != NULL) {
    g_set_error (error, GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_INIT,
        "Could not initialize espeak-ng: %s", espeak_init_error);
    return FALSE;
  }
  return TRUE;
}

/* Called with espeak_lock held. */
static gboolean
espeak_select_voice_locked (const gchar *voice, GError **error)
{
  espeak_ng_STATUS status;

  if (g_strcmp0 (espeak_current_voice, voice) == 0)
    return TRUE;

  g_clear_pointer (&espeak_current_voice, g_free);
  status = espeak_ng_SetVoiceByName (voice);
  if (status != ENS_OK) {
    gchar *msg = espeak_status_message (status);

    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
        "espeak-ng has no voice \"%s\" (%s; voices: %s)", voice, msg,
        gst_tts_espeak_backend.voices);
    g_free (msg);
    return FALSE;
  }
  espeak_current_voice = g_strdup (voice);
  return TRUE;
}

static gboolean
espeak_parse_options (
    GstTtsEspeak *self, const GstStructure *options, GError **error)
{
  guint i, n;

  self->pitch = ESPEAK_DEFAULT_PITCH;
  if (options == NULL)
    return TRUE;

  n = gst_structure_n_fields (options);
  for (i = 0; i < n; i++) {
    const gchar *field = gst_structure_nth_field_name (options, i);

    if (g_str_equal (field, "pitch")) {
      if (!gst_structure_get_int (options, "pitch", &self->pitch) ||
          self->pitch < 0 || self->pitch > 100) {
        g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
            "espeak backend-options: pitch must be an int from 0 to 100 "
            "(50 is the voice's own)");
        return FALSE;
      }
    } else {
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
          "espeak backend-options: unknown field \"%s\" (known: pitch)", field);
      return FALSE;
    }
  }
  return TRUE;
}

static GstTtsBackend *
gst_tts_espeak_open (
    const gchar *voice, const GstStructure *options, GError **error)
{
  GstTtsEspeak *self = g_new0 (GstTtsEspeak, 1);
  gboolean ok;

  self->parent.klass = &gst_tts_espeak_backend;
  self->voice = g_strdup (voice);
  if (!espeak_parse_options (self, options, error)) {
    g_free (self->voice);
    g_free (self);
    return NULL;
  }

  /* Selecting the voice checks it and loads its data now rather than at
   * the first sentence. */
  g_mutex_lock (&espeak_lock);
  ok = espeak_init_locked (error) && espeak_select_voice_locked (voice, error);
  self->parent.rate = espeak_rate;
  g_mutex_unlock (&espeak_lock);

  if (!ok) {
    g_free (self->voice);
    g_free (self);
    return NULL;
  }
  return &self->parent;
}

static gboolean
gst_tts_espeak_synthesize (GstTtsBackend *backend, const gchar *text,
    gdouble speed, GCancellable *cancellable, GstTtsAudioFunc audio,
    gpointer user_data, GError **error)
{
  GstTtsEspeak *self = (GstTtsEspeak *) backend;
  EspeakSynth synth = {cancellable, audio, user_data, backend->rate, FALSE};
  espeak_ng_STATUS status = ENS_OK;
  gint wpm;

  wpm = CLAMP ((gint) (espeakRATE_NORMAL * speed + 0.5), espeakRATE_MINIMUM,
      espeakRATE_MAXIMUM);

  g_mutex_lock (&espeak_lock);
  if (!g_cancellable_is_cancelled (cancellable)) {
    if (!espeak_select_voice_locked (self->voice, error)) {
      g_mutex_unlock (&espeak_lock);
      return FALSE;
    }
    /* another element may have changed them since */
    espeak_ng_SetParameter (espeakRATE, wpm, 0);
    espeak_ng_SetParameter (espeakPITCH, self->pitch, 0);
    espeak_active = &synth;
    GST_LOG ("synthesizing \"%s\" with %s at %d wpm", text, self->voice, wpm);
    status = espeak_ng_Synthesize (text, strlen (text) + 1, 0, POS_CHARACTER, 0,
        espeakCHARS_UTF8, NULL, &synth);
    espeak_active = NULL;
  }
  g_mutex_unlock (&espeak_lock);

  if (synth.stopped || g_cancellable_is_cancelled (cancellable)) {
    g_set_error_literal (
        error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Synthesis cancelled");
    return FALSE;
  }
  if (status != ENS_OK) {
    gchar *msg = espeak_status_message (status);

    g_set_error (error, GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_FAILED,
        "espeak-ng could not synthesize the sentence: %s", msg);
    g_free (msg);
    return FALSE;
  }
  return TRUE;
}

static void
gst_tts_espeak_close (GstTtsBackend *backend)
{
  GstTtsEspeak *self = (GstTtsEspeak *) backend;

  /* the engine stays initialized for the rest of the process */
  g_free (self->voice);
  g_free (self);
}

const GstTtsBackendClass gst_tts_espeak_backend = {
    "espeak",
    "en-us",
    "espeak-ng voice names: en, en-us, en-gb, es, fr, de, it, pt, ... "
    "(espeak-ng --voices), optionally with a variant (en-us+f3)",
    gst_tts_espeak_open,
    gst_tts_espeak_synthesize,
    gst_tts_espeak_close,
};
