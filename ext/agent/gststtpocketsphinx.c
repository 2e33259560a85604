/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The pocketsphinx backend of sttbridge: CMU pocketsphinx 5prealpha (the
 * Debian 12 library) with the en-us model of the pocketsphinx-en-us
 * package.
 *
 * Endpointing uses pocketsphinx's own voice activity detector (the front
 * end's, -vad_*) with a short post-speech window; the longer hangover is
 * counted here, so that an utterance whose words already complete a hinted
 * phrase can end early while anything else waits out the full silence.
 *
 * Hints: a closed set of phrases becomes a JSGF grammar search, used
 * instead of the language model until the hints change. Phone-band speech
 * through a generic language model is where pocketsphinx goes wrong; a
 * grammar of the few answers a state expects is how IVRs reach usable
 * accuracy with it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstagentconfig.h"
#include "gststtbackend.h"

#include <string.h>
#include <pocketsphinx.h>
#include <sphinxbase/err.h>
#include <sphinxbase/feat.h>

GST_DEBUG_CATEGORY_STATIC (stt_pocketsphinx_debug);
#define GST_CAT_DEFAULT stt_pocketsphinx_debug

#define PS_RATE 16000
#define FRAME_SAMPLES (PS_RATE / 100) /* the front end's 10 ms frame */
#define VAD_POSTSPEECH_MIN_MS 100
#define INTERIM_EVERY_SAMPLES (PS_RATE / 4)
#define HINTS_SEARCH "hints"
#define CMN_LEN 13 /* cepstra of the en-us model (feat.params -ceplen) */

struct _GstSttBackend
{
  ps_decoder_t *ps;
  GstSttListener listener;
  gchar *lm_search;

  guint hangover_samples;
  guint hint_hangover_samples;
  guint vad_postspeech_samples;

  gboolean in_utterance; /* ps_start_utt called */
  gboolean in_speech; /* the VAD's last verdict */
  gboolean have_speech; /* this utterance heard speech */
  guint64 position; /* samples processed since open or reset */
  guint64 speech_start;
  guint64 silence_start; /* where the VAD last went quiet */
  guint64 last_interim;
  gchar *interim;

  mfcc_t initial_cmn[CMN_LEN];

  gchar **hints; /* normalized, in-dictionary phrases */
  gboolean hints_closed;
  gboolean hints_changed;
};

static GstClockTime
samples_to_time (guint64 samples)
{
  return gst_util_uint64_scale_int (samples, GST_SECOND, PS_RATE);
}

static const gchar *
option (const GstSttBackendConfig *config, const gchar *key)
{
  const gchar *const *o;

  for (o = config->options; o && o[0] && o[1]; o += 2)
    if (g_str_equal (o[0], key))
      return o[1];
  return NULL;
}

static GstSttBackend *
ps_backend_open (const GstSttBackendConfig *config,
    const GstSttListener *listener, GError **error)
{
  GstSttBackend *self;
  const gchar *model_dir = option (config, "model-dir");
  const gchar *hmm = option (config, "hmm");
  const gchar *lm = option (config, "lm");
  const gchar *dict = option (config, "dict");
  gchar *hmm_path, *lm_path, *dict_path, *postspeech, *samprate;
  cmd_ln_t *ps_config;
  guint short_ms;

  if (model_dir == NULL)
    model_dir = POCKETSPHINX_MODEL_DIR;
  hmm_path = hmm ? g_strdup (hmm) : g_build_filename (model_dir, "en-us", NULL);
  lm_path =
      lm ? g_strdup (lm) : g_build_filename (model_dir, "en-us.lm.bin", NULL);
  dict_path = dict ? g_strdup (dict)
                   : g_build_filename (model_dir, "cmudict-en-us.dict", NULL);

  /* cmd_ln_init() and ps_init() only print why they fail; check the files
   * so that the error can say which one is missing. */
  if (!g_file_test (hmm_path, G_FILE_TEST_IS_DIR) ||
      !g_file_test (lm_path, G_FILE_TEST_IS_REGULAR) ||
      !g_file_test (dict_path, G_FILE_TEST_IS_REGULAR)) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
        "pocketsphinx model not found: need the acoustic model directory "
        "%s, the language model %s and the dictionary %s (Debian package "
        "pocketsphinx-en-us)",
        hmm_path, lm_path, dict_path);
    g_free (hmm_path);
    g_free (lm_path);
    g_free (dict_path);
    return NULL;
  }

  short_ms = config->hangover_ms;
  if (config->hint_hangover_ms > 0 && config->hint_hangover_ms < short_ms)
    short_ms = config->hint_hangover_ms;
  short_ms = MAX (short_ms, VAD_POSTSPEECH_MIN_MS);
  postspeech = g_strdup_printf ("%u", short_ms / 10);
  samprate = g_strdup_printf ("%d", PS_RATE);

  ps_config = cmd_ln_init (NULL, ps_args (), TRUE, "-hmm", hmm_path, "-lm",
      lm_path, "-dict", dict_path, "-samprate", samprate, "-vad_postspeech",
      postspeech, "-logfn", "/dev/null", NULL);
  g_free (postspeech);
  g_free (samprate);
  g_free (hmm_path);
  g_free (lm_path);
  g_free (dict_path);
  if (ps_config == NULL) {
    g_set_error (error, GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_SETTINGS,
        "pocketsphinx rejected its configuration");
    return NULL;
  }

  self = g_new0 (GstSttBackend, 1);
  self->ps = ps_init (ps_config);
  cmd_ln_free_r (ps_config);
  if (self->ps == NULL) {
    g_set_error (error, GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_INIT,
        "pocketsphinx could not load its model");
    g_free (self);
    return NULL;
  }
  self->listener = *listener;
  self->lm_search = g_strdup (ps_get_search (self->ps));
  if (feat_cepsize (ps_get_feat (self->ps)) != CMN_LEN) {
    g_set_error (error, GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_SETTINGS,
        "pocketsphinx model has %d cepstra, expected %d",
        feat_cepsize (ps_get_feat (self->ps)), CMN_LEN);
    ps_free (self->ps);
    g_free (self->lm_search);
    g_free (self);
    return NULL;
  }
  cmn_live_get (ps_get_feat (self->ps)->cmn_struct, self->initial_cmn);
  self->hangover_samples = config->hangover_ms * (PS_RATE / 1000);
  self->hint_hangover_samples = config->hint_hangover_ms * (PS_RATE / 1000);
  self->vad_postspeech_samples = short_ms * (PS_RATE / 1000);
  GST_DEBUG ("pocketsphinx ready, search %s, VAD post-speech %u ms",
      self->lm_search, short_ms);
  return self;
}

static void
start_utterance (GstSttBackend *self)
{
  if (self->hints_changed) {
    const gchar *search = self->lm_search;

    if (self->hints_closed && self->hints && self->hints[0]) {
      GString *jsgf = g_string_new ("#JSGF V1.0;\ngrammar hints;\n"
                                    "public <hints> = ( ");
      gchar **h;

      for (h = self->hints; *h; h++)
        g_string_append_printf (
            jsgf, "%s%s", h == self->hints ? "" : " | ", *h);
      g_string_append (jsgf, " )+;\n");
      if (ps_set_jsgf_string (self->ps, HINTS_SEARCH, jsgf->str) == 0)
        search = HINTS_SEARCH;
      else
        GST_WARNING (
            "grammar rejected, using the language model: %s", jsgf->str);
      g_string_free (jsgf, TRUE);
    }
    ps_set_search (self->ps, search);
    GST_DEBUG ("search now %s", search);
    self->hints_changed = FALSE;
  }
  ps_start_utt (self->ps);
  self->in_utterance = TRUE;
  self->have_speech = FALSE;
  self->last_interim = 0;
  g_clear_pointer (&self->interim, g_free);
}

/* Whether the words heard so far are one of the expected phrases. */
static gboolean
hyp_completes_hint (GstSttBackend *self, const gchar *hyp)
{
  gchar **h;

  if (hyp == NULL || *hyp == '\0' || self->hints == NULL)
    return FALSE;
  /* A grammar only yields whole expected phrases. */
  if (g_strcmp0 (ps_get_search (self->ps), HINTS_SEARCH) == 0)
    return TRUE;
  for (h = self->hints; *h; h++)
    if (g_str_equal (*h, hyp))
      return TRUE;
  return FALSE;
}

/* The posterior of the whole hypothesis shrinks with every word; its
 * geometric mean per word reads as a confidence. */
static gdouble
word_confidence (GstSttBackend *self, const gchar *hyp)
{
  gint32 log_posterior = ps_get_prob (self->ps);
  guint words = 1;
  const gchar *p;

  for (p = hyp; p && *p; p++)
    if (*p == ' ')
      words++;
  return logmath_exp (
      ps_get_logmath (self->ps), log_posterior / (gint32) words);
}

static void
end_utterance (GstSttBackend *self, gboolean report)
{
  const gchar *hyp;
  gint32 score;
  gdouble confidence;
  guint64 end;
  gint64 t0;

  if (!self->in_utterance)
    return;
  t0 = g_get_monotonic_time ();
  ps_end_utt (self->ps);
  self->in_utterance = FALSE;
  if (!report || !self->have_speech)
    return;
  hyp = ps_get_hyp (self->ps, &score);
  confidence = word_confidence (self, hyp);
  GST_DEBUG ("final pass of %.2f s of audio took %" G_GINT64_FORMAT " us",
      (gdouble) (self->position - self->speech_start) / PS_RATE,
      g_get_monotonic_time () - t0);
  end = self->in_speech ? self->position : self->silence_start;
  GST_DEBUG ("final: '%s' (confidence %.2f)", GST_STR_NULL (hyp), confidence);
  /* An utterance of noise decodes to nothing (or only fillers, which the
   * hypothesis string leaves out): report it empty, so that the dialog
   * can re-prompt instead of waiting. */
  self->listener.transcript (self->listener.user_data, hyp ? hyp : "",
      CLAMP (confidence, 0.0, 1.0), samples_to_time (self->speech_start),
      samples_to_time (end), TRUE);
}

static void
post_interim (GstSttBackend *self)
{
  gint32 score;
  const gchar *hyp = ps_get_hyp (self->ps, &score);

  self->last_interim = self->position;
  if (hyp == NULL || *hyp == '\0' || g_strcmp0 (hyp, self->interim) == 0)
    return;
  g_free (self->interim);
  self->interim = g_strdup (hyp);
  self->listener.transcript (self->listener.user_data, hyp, 0.0,
      samples_to_time (self->speech_start), samples_to_time (self->position),
      FALSE);
}

/* After the VAD went quiet: has the silence been long enough? */
static gboolean
silence_ends_utterance (GstSttBackend *self)
{
  /* silence_start is where the speech ended, before the VAD's post-speech
   * window. */
  guint64 silence = self->position - self->silence_start;
  gint32 score;

  if (silence >= self->hangover_samples)
    return TRUE;
  if (self->hint_hangover_samples == 0 || silence < self->hint_hangover_samples)
    return FALSE;
  return hyp_completes_hint (self, ps_get_hyp (self->ps, &score));
}

static void
process_frames (GstSttBackend *self, const gint16 *samples, gsize n)
{
  gboolean in_speech;

  if (!self->in_utterance)
    start_utterance (self);
  ps_process_raw (self->ps, samples, n, FALSE, FALSE);
  self->position += n;
  in_speech = ps_get_in_speech (self->ps);

  if (in_speech && !self->in_speech) {
    if (!self->have_speech) {
      /* The VAD fires after -vad_startspeech frames of speech. */
      self->speech_start = self->position > 10 * FRAME_SAMPLES
          ? self->position - 10 * FRAME_SAMPLES
          : 0;
      self->have_speech = TRUE;
    }
    self->listener.speech_started (
        self->listener.user_data, samples_to_time (self->speech_start));
  } else if (!in_speech && self->in_speech) {
    self->silence_start = self->position > self->vad_postspeech_samples
        ? self->position - self->vad_postspeech_samples
        : 0;
    self->listener.speech_stopped (
        self->listener.user_data, samples_to_time (self->silence_start));
  }
  self->in_speech = in_speech;

  if (!self->have_speech)
    return;
  if (in_speech) {
    if (self->position - self->last_interim >= INTERIM_EVERY_SAMPLES)
      post_interim (self);
  } else if (silence_ends_utterance (self)) {
    end_utterance (self, TRUE);
  }
}

static gboolean
ps_backend_process (
    GstSttBackend *self, const gint16 *samples, gsize n_samples, GError **error)
{
  /* Frame by frame, so that the VAD's verdict is seen every 10 ms and not
   * once per (possibly long) buffer. */
  while (n_samples > 0) {
    gsize n = MIN (n_samples, FRAME_SAMPLES);

    process_frames (self, samples, n);
    samples += n;
    n_samples -= n;
  }
  return TRUE;
}

/* Lower case, letters, digits and apostrophes; NULL when a word is not in
 * the dictionary (a grammar with it would not load). */
static gchar *
normalize_phrase (GstSttBackend *self, const gchar *phrase)
{
  gchar *lower = g_utf8_strdown (phrase, -1);
  gchar **words;
  GString *out = g_string_new (NULL);
  gchar *p, **w;

  for (p = lower; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '\'')
      *p = ' ';
  words = g_strsplit (lower, " ", -1);
  g_free (lower);
  for (w = words; *w; w++) {
    gchar *pron;

    if (**w == '\0')
      continue;
    pron = ps_lookup_word (self->ps, *w);
    if (pron == NULL) {
      GST_DEBUG ("hint '%s': '%s' is not in the dictionary", phrase, *w);
      g_strfreev (words);
      g_string_free (out, TRUE);
      return NULL;
    }
    ckd_free (pron);
    if (out->len)
      g_string_append_c (out, ' ');
    g_string_append (out, *w);
  }
  g_strfreev (words);
  if (out->len == 0) {
    g_string_free (out, TRUE);
    return NULL;
  }
  return g_string_free (out, FALSE);
}

static void
ps_backend_set_hints (
    GstSttBackend *self, const gchar *const *phrases, gboolean closed)
{
  GPtrArray *kept = g_ptr_array_new ();
  const gchar *const *p;

  for (p = phrases; p && *p; p++) {
    gchar *n = normalize_phrase (self, *p);

    if (n && !g_ptr_array_find_with_equal_func (kept, n, g_str_equal, NULL))
      g_ptr_array_add (kept, n);
    else
      g_free (n);
  }
  g_ptr_array_add (kept, NULL);
  g_strfreev (self->hints);
  self->hints = (gchar **) g_ptr_array_free (kept, FALSE);
  self->hints_closed = closed;
  self->hints_changed = TRUE;
  GST_DEBUG (
      "%u hints (%s)", g_strv_length (self->hints), closed ? "closed" : "open");
  /* The search can only change between utterances; one that has not heard
   * speech yet is restarted now. */
  if (self->in_utterance && !self->have_speech)
    end_utterance (self, FALSE);
}

static void
ps_backend_finish (GstSttBackend *self)
{
  end_utterance (self, TRUE);
  self->in_speech = FALSE;
}

/* A new caller: the live cepstral mean learnt from the previous one (or
 * from the noise that primed the detector) would skew the first
 * utterances, so it goes back to the model's initial value. */
static void
ps_backend_reset (GstSttBackend *self)
{
  end_utterance (self, FALSE);
  self->in_speech = FALSE;
  self->position = 0;
  cmn_live_set (ps_get_feat (self->ps)->cmn_struct, self->initial_cmn);
}

static GstClockTime
ps_backend_latency (GstSttBackend *self)
{
  return samples_to_time (self->hangover_samples);
}

static void
ps_backend_close (GstSttBackend *self)
{
  end_utterance (self, FALSE);
  ps_free (self->ps);
  g_free (self->lm_search);
  g_free (self->interim);
  g_strfreev (self->hints);
  g_free (self);
}

static GstSttBackend *
ps_backend_open_once (const GstSttBackendConfig *config,
    const GstSttListener *listener, GError **error)
{
  static gsize initialized;

  if (g_once_init_enter (&initialized)) {
    GST_DEBUG_CATEGORY_INIT (
        stt_pocketsphinx_debug, "sttpocketsphinx", 0, "pocketsphinx backend");
    /* pocketsphinx logs to stderr through a process-wide setting. */
    err_set_logfp (NULL);
    g_once_init_leave (&initialized, 1);
  }
  return ps_backend_open (config, listener, error);
}

const GstSttBackendClass gst_stt_pocketsphinx_backend = {
    .name = "pocketsphinx",
    .rate = PS_RATE,
    .open = ps_backend_open_once,
    .process = ps_backend_process,
    .set_hints = ps_backend_set_hints,
    .finish = ps_backend_finish,
    .reset = ps_backend_reset,
    .latency = ps_backend_latency,
    .close = ps_backend_close,
};
