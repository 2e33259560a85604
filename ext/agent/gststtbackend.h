/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * What sttbridge needs from a speech recognition engine.
 *
 * sttbridge owns the pads, the caps, resampling to the backend's rate, the
 * bus messages and the events; a backend only turns audio into what it
 * heard. A backend instance belongs to one element and is driven from one
 * thread at a time (the sink pad's streaming thread); it reports what it
 * hears through GstSttListener as it happens, from inside process() or
 * finish(), or from its own thread for engines that answer asynchronously
 * (a streaming WebSocket service, for instance). Every listener call may
 * come from any thread.
 *
 * Endpointing belongs to the backend because engines do it differently:
 * pocketsphinx runs its own voice activity detector in its front end; a
 * network service decides where an utterance ends on its side.
 */
#ifndef __GST_STT_BACKEND_H__
#define __GST_STT_BACKEND_H__

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct _GstSttListener GstSttListener;
typedef struct _GstSttBackend GstSttBackend;
typedef struct _GstSttBackendConfig GstSttBackendConfig;

/* Times are sample positions of the audio given to process(), in
 * nanoseconds from the start of the conversation (the element maps them to
 * running time). */
struct _GstSttListener
{
  gpointer user_data;
  void (*speech_started) (gpointer user_data, GstClockTime at);
  void (*speech_stopped) (gpointer user_data, GstClockTime at);
  /* Interim hypotheses may be posted as often as the backend likes. */
  void (*transcript) (gpointer user_data, const gchar *text, gdouble confidence,
      GstClockTime start, GstClockTime end, gboolean final);
};

struct _GstSttBackendConfig
{
  /* Silence, in ms, after which an utterance ends. */
  guint hangover_ms;
  /* Shorter silence that ends an utterance whose words complete one of the
   * hinted phrases (0: off). */
  guint hint_hangover_ms;
  /* Backend specific settings (model paths ...), from the element's
   * properties; NULL-terminated key/value list. */
  const gchar *const *options;
  /* Engines that load models per instance (pocketsphinx) keep up to this
   * many closed instances of the same configuration, process-wide, for
   * the next open (0: free at close). */
  guint max_idle;
};

typedef struct
{
  const gchar *name;
  /* The sample rate (S16LE mono) process() takes. */
  gint rate;
  /* Load models and connect; errors here fail the state change with
   * a message the user can act on. */
  GstSttBackend *(*open) (const GstSttBackendConfig *config,
      const GstSttListener *listener, GError **error);
  /* Audio, in order, without gaps (the element fills gaps with silence). */
  gboolean (*process) (GstSttBackend *backend, const gint16 *samples,
      gsize n_samples, GError **error);
  /* Phrases the dialog expects now. closed: nothing else makes sense. */
  void (*set_hints) (
      GstSttBackend *backend, const gchar *const *phrases, gboolean closed);
  /* End of stream or a new conversation: finish the utterance in progress
   * (reporting it if it has words) and start over. */
  void (*finish) (GstSttBackend *backend);
  /* Forget the utterance in progress without reporting it (flush). */
  void (*reset) (GstSttBackend *backend);
  /* How long the backend holds audio before it reports, for the latency
   * query. */
  GstClockTime (*latency) (GstSttBackend *backend);
  /* Back to its initial state and to the backend's pool of idle instances
   * (or freed, when config->max_idle of them are idle already). */
  void (*close) (GstSttBackend *backend);

  /* Optional, for backends that keep idle instances. Loads instances of
   * this configuration until n are idle (and keeps at least n idle from
   * then on); returns how many are idle, or -1 with error set. Blocks:
   * about a quarter of a second of CPU per pocketsphinx decoder. */
  gint (*preload) (const GstSttBackendConfig *config, guint n, GError **error);
  /* Optional: counters of this configuration's pool ("loaded", "reused",
   * "freed", "idle", "in-use", all guint). */
  GstStructure *(*pool_stats) (const GstSttBackendConfig *config);
} GstSttBackendClass;

/* Each backend defines one; NULL-terminated list of those built. */
extern const GstSttBackendClass gst_stt_pocketsphinx_backend;

const GstSttBackendClass *gst_stt_backend_find (const gchar *name);
const gchar *gst_stt_backend_default_name (void);

G_END_DECLS
#endif
