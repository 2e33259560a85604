/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The speech synthesis backends of ttsbridge.
 *
 * A backend turns one sentence of UTF-8 text into 16-bit mono PCM and hands
 * it over in chunks, as soon as each chunk exists, so that ttsbridge can start
 * playing the sentence while the rest is still being synthesized. The
 * interface is shaped for backends that stream: an embedded engine calling
 * back from inside its synthesis loop (flite, espeak-ng) and a network
 * service read chunk by chunk (an OpenAI-compatible `/v1/audio/speech`
 * response streamed as PCM, a WebSocket).
 *
 * Threads. ttsbridge calls open() at NULL->READY for its own voice and from
 * its synthesis thread for a voice a `tts-voice` event asked for, close() at
 * READY->NULL, and synthesize() from its synthesis thread, one sentence at a
 * time per backend instance; it never calls into one instance from two
 * threads at once. Different ttsbridge instances (one per call) own
 * different backend instances and synthesize concurrently, and one
 * ttsbridge may hold instances of several voices of a backend (opening one
 * while another element synthesizes with another): a library that is not
 * reentrant must be serialized inside its backend (espeak-ng is, see
 * gstttsespeak.c).
 *
 * synthesize() blocks until the sentence is done, has failed or was
 * cancelled. It may deliver audio from whichever thread it likes (a network
 * backend may read on its own GMainContext thread) but never from two threads
 * at once and never after it has returned. Each chunk is passed to the
 * #GstTtsAudioFunc: native-endian S16 mono samples at @rate; the samples
 * belong to the backend and are copied before the call returns. ttsbridge
 * resamples to the negotiated output rate, so @rate may be anything and may
 * even differ between sentences.
 *
 * Cancellation. When the caller barges in, when the text pad is flushed and
 * when the element stops, ttsbridge cancels the #GCancellable given to
 * synthesize() from another thread, and the audio function starts returning
 * FALSE. A backend stops at its next chunk at the latest (embedded engines:
 * return their "stop" code from the synthesis callback; network backends:
 * pass the cancellable to their GIO/libsoup calls so a blocked read returns
 * at once) and returns FALSE with G_IO_ERROR_CANCELLED.
 *
 * Errors. open() fails with a #GError in the GStreamer error domains, which
 * ttsbridge posts as it is: GST_RESOURCE_ERROR_NOT_FOUND for an unknown
 * voice, GST_RESOURCE_ERROR_SETTINGS for bad backend-options,
 * GST_LIBRARY_ERROR_INIT when the engine or service cannot be set up. A
 * synthesize() failure other than cancellation loses only that sentence:
 * ttsbridge posts a warning and reports the sentence as interrupted.
 *
 * Adding a backend: a new gstttsNAME.c that defines a const
 * #GstTtsBackendClass, its declaration and entry in gst_tts_backends() below,
 * and the meson lines that build it. Backend-specific settings (a URL, a
 * key, a model) come in through the element's backend-options structure, so
 * the element itself does not change.
 */
#ifndef __GST_TTS_BACKEND_H__
#define __GST_TTS_BACKEND_H__

#include <gst/gst.h>
#include <gio/gio.h>

#include "gstagentconfig.h"

G_BEGIN_DECLS

typedef struct _GstTtsBackend GstTtsBackend;
typedef struct _GstTtsBackendClass GstTtsBackendClass;

/**
 * GstTtsAudioFunc:
 * @samples: native-endian signed 16-bit mono samples
 * @n_samples: how many
 * @rate: their sample rate in Hz
 * @user_data: what synthesize() was given
 *
 * Takes the next chunk of the sentence being synthesized.
 *
 * Returns: FALSE when the backend must stop synthesizing (cancelled).
 */
typedef gboolean (*GstTtsAudioFunc) (
    const gint16 *samples, gsize n_samples, gint rate, gpointer user_data);

/**
 * GstTtsBackend:
 * @klass: the backend's vtable
 * @rate: the rate its audio will usually have (Hz), set by open(); ttsbridge
 *   prefers it when downstream accepts a range of rates, to avoid resampling
 *
 * One opened voice. Backends embed it as the first member of their own
 * struct.
 */
struct _GstTtsBackend
{
  const GstTtsBackendClass *klass;
  gint rate;
};

/**
 * GstTtsBackendClass:
 * @name: what the element's backend property takes ("flite")
 * @default_voice: the voice used when the voice property is NULL
 * @voices: human-readable description of the voices, for errors and docs
 * @open: checks @voice and @options (may be NULL) and loads what the voice
 *   needs, so that a bad configuration fails at the state change and the
 *   first sentence does not pay for the loading. Returns NULL and sets
 *   @error on failure.
 * @synthesize: synthesizes @text, blocking, calling @audio with each chunk as
 *   it exists. @speed is a tempo factor (1.0 normal, 2.0 twice as fast).
 *   Returns TRUE when the whole sentence was delivered.
 * @close: frees what open() returned.
 */
struct _GstTtsBackendClass
{
  const gchar *name;
  const gchar *default_voice;
  const gchar *voices;

  GstTtsBackend *(*open) (
      const gchar *voice, const GstStructure *options, GError **error);
  gboolean (*synthesize) (GstTtsBackend *backend, const gchar *text,
      gdouble speed, GCancellable *cancellable, GstTtsAudioFunc audio,
      gpointer user_data, GError **error);
  void (*close) (GstTtsBackend *backend);
};

#ifdef HAVE_FLITE
extern const GstTtsBackendClass gst_tts_flite_backend;
#endif
#ifdef HAVE_ESPEAK
extern const GstTtsBackendClass gst_tts_espeak_backend;
#endif

/* The backends built in, in order of preference (the first is the default),
 * NULL-terminated. */
static inline const GstTtsBackendClass *const *
gst_tts_backends (void)
{
  static const GstTtsBackendClass *const backends[] = {
#ifdef HAVE_FLITE
      &gst_tts_flite_backend,
#endif
#ifdef HAVE_ESPEAK
      &gst_tts_espeak_backend,
#endif
      NULL,
  };

  return backends;
}

G_END_DECLS
#endif
