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
 * Each stretch of speech is decoded to the end (the final pass) as soon as
 * the VAD goes quiet, while that hangover runs; the turn's transcript joins
 * the stretches it had, and is ready the moment the hangover is over.
 *
 * Hints: a closed set of phrases becomes a JSGF grammar search, used
 * instead of the language model until the hints change. Phone-band speech
 * through a generic language model is where pocketsphinx goes wrong; a
 * grammar of the few answers a state expects is how IVRs reach usable
 * accuracy with it.
 *
 * Decoders are pooled. ps_init() costs about a quarter of a second of CPU
 * and ~95 MB (language model, dictionary, acoustic model), and the 5prealpha
 * API cannot share any of it between decoders (docs/architecture.md), so a
 * closed backend puts its decoder back, rewound to how ps_init() left it,
 * for the next open of the same configuration. The pool's key is every
 * argument the decoder was configured with.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstagentconfig.h"
#include "gststtbackend.h"

#include <math.h>
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
/* Word insertion probability of hint grammars. With the default (0.65)
 * a grammar of number words heard "five five five oh one two three four"
 * for a caller saying "five five five one two three four" (flite slt
 * through mu-law, the demo's caller); 0.05 hears it right and keeps the
 * closed-set answers of the unit test at 6 of 6. */
#define GRAMMAR_WIP 0.05
#define CMN_LEN 13 /* cepstra of the en-us model (feat.params -ceplen) */

typedef struct _PsPool PsPool;

/* One loaded decoder and what was read from it after ps_init(). */
typedef struct
{
  ps_decoder_t *ps;
  gchar *lm_search;
  mfcc_t initial_cmn[CMN_LEN];
  PsPool *pool;
} PsDecoder;

/* The decoders of one configuration. Lives as long as the process. */
struct _PsPool
{
  gchar *key; /* the decoder's arguments */
  GQueue idle; /* PsDecoder, the most recently returned first */
  guint floor; /* preloaded: at least this many stay idle */
  guint loaded, reused, freed, in_use;
};

static GMutex pools_lock;
static GHashTable *pools; /* key -> PsPool, pools_lock */

struct _GstSttBackend
{
  PsDecoder *dec;
  ps_decoder_t *ps; /* dec->ps */
  guint max_idle;
  GstSttListener listener;

  guint hangover_samples;
  guint hint_hangover_samples;
  guint vad_postspeech_samples;

  gboolean in_utterance; /* ps_start_utt called */
  gboolean in_speech; /* the VAD's last verdict */
  gboolean have_speech; /* this decoder utterance heard speech */
  guint64 position; /* samples processed since open or reset */
  /* The caller's turn: one decoder utterance per stretch of speech, each
   * decoded when the VAD goes quiet; the turn ends after the hangover. */
  gboolean turn_has_speech;
  GString *turn_text; /* the words of the stretches decoded so far */
  gdouble turn_log_confidence; /* sum of words * log (confidence) */
  guint turn_words;
  guint64 speech_start;
  guint64 silence_start; /* where the VAD last went quiet */
  guint64 last_interim;
  gchar *interim;

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

/* ---- the decoder pool ---- */

enum
{
  ARG_HMM,
  ARG_LM,
  ARG_DICT,
  ARG_SAMPRATE,
  ARG_VAD_POSTSPEECH,
  N_ARGS
};

static const gchar *const arg_names[N_ARGS] = {
    "-hmm", "-lm", "-dict", "-samprate", "-vad_postspeech"};

/* The VAD's post-speech window: the shorter hangover, counted on from
 * there by the backend itself. */
static guint
vad_postspeech_ms (const GstSttBackendConfig *config)
{
  guint short_ms = config->hangover_ms;

  if (config->hint_hangover_ms > 0 && config->hint_hangover_ms < short_ms)
    short_ms = config->hint_hangover_ms;
  return MAX (short_ms, VAD_POSTSPEECH_MIN_MS);
}

/* Everything a decoder is configured with, in arg_names order. */
static gboolean
decoder_args (
    const GstSttBackendConfig *config, gchar *args[N_ARGS], GError **error)
{
  const gchar *model_dir = option (config, "model-dir");
  const gchar *hmm = option (config, "hmm");
  const gchar *lm = option (config, "lm");
  const gchar *dict = option (config, "dict");
  guint i;

  if (model_dir == NULL)
    model_dir = POCKETSPHINX_MODEL_DIR;
  args[ARG_HMM] =
      hmm ? g_strdup (hmm) : g_build_filename (model_dir, "en-us", NULL);
  args[ARG_LM] =
      lm ? g_strdup (lm) : g_build_filename (model_dir, "en-us.lm.bin", NULL);
  args[ARG_DICT] = dict
      ? g_strdup (dict)
      : g_build_filename (model_dir, "cmudict-en-us.dict", NULL);
  args[ARG_SAMPRATE] = g_strdup_printf ("%d", PS_RATE);
  args[ARG_VAD_POSTSPEECH] =
      g_strdup_printf ("%u", vad_postspeech_ms (config) / 10);

  /* cmd_ln_init() and ps_init() only print why they fail; check the files
   * so that the error can say which one is missing. */
  if (!g_file_test (args[ARG_HMM], G_FILE_TEST_IS_DIR) ||
      !g_file_test (args[ARG_LM], G_FILE_TEST_IS_REGULAR) ||
      !g_file_test (args[ARG_DICT], G_FILE_TEST_IS_REGULAR)) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
        "pocketsphinx model not found: need the acoustic model directory "
        "%s, the language model %s and the dictionary %s (Debian package "
        "pocketsphinx-en-us)",
        args[ARG_HMM], args[ARG_LM], args[ARG_DICT]);
    for (i = 0; i < N_ARGS; i++)
      g_clear_pointer (&args[i], g_free);
    return FALSE;
  }
  return TRUE;
}

static gchar *
args_key (gchar *args[N_ARGS])
{
  GString *key = g_string_new (NULL);
  guint i;

  for (i = 0; i < N_ARGS; i++)
    g_string_append_printf (key, "%s %s\n", arg_names[i], args[i]);
  return g_string_free (key, FALSE);
}

static void
args_clear (gchar *args[N_ARGS])
{
  guint i;

  for (i = 0; i < N_ARGS; i++)
    g_clear_pointer (&args[i], g_free);
}

/* The pool of this configuration, created on first use. pools_lock held. */
static PsPool *
pool_lookup (const gchar *key)
{
  PsPool *pool;

  if (pools == NULL)
    pools = g_hash_table_new (g_str_hash, g_str_equal);
  pool = g_hash_table_lookup (pools, key);
  if (pool == NULL) {
    pool = g_new0 (PsPool, 1);
    pool->key = g_strdup (key);
    g_queue_init (&pool->idle);
    g_hash_table_insert (pools, pool->key, pool);
  }
  return pool;
}

static PsPool *
pool_for_args (gchar *args[N_ARGS])
{
  gchar *key = args_key (args);
  PsPool *pool;

  g_mutex_lock (&pools_lock);
  pool = pool_lookup (key);
  g_mutex_unlock (&pools_lock);
  g_free (key);
  return pool;
}

static void
decoder_free (PsDecoder *dec)
{
  ps_free (dec->ps);
  g_free (dec->lm_search);
  g_free (dec);
}

/* ps_init(): slow, called without the lock. */
static PsDecoder *
decoder_load (gchar *args[N_ARGS], PsPool *pool, GError **error)
{
  PsDecoder *dec;
  cmd_ln_t *ps_config;
  gint64 t0 = g_get_monotonic_time ();

  G_STATIC_ASSERT (N_ARGS == 5);
  ps_config = cmd_ln_init (NULL, ps_args (), TRUE, arg_names[0], args[0],
      arg_names[1], args[1], arg_names[2], args[2], arg_names[3], args[3],
      arg_names[4], args[4], NULL);
  if (ps_config == NULL) {
    g_set_error (error, GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_SETTINGS,
        "pocketsphinx rejected its configuration");
    return NULL;
  }
  dec = g_new0 (PsDecoder, 1);
  dec->pool = pool;
  dec->ps = ps_init (ps_config);
  cmd_ln_free_r (ps_config);
  if (dec->ps == NULL) {
    g_set_error (error, GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_INIT,
        "pocketsphinx could not load its model");
    g_free (dec);
    return NULL;
  }
  if (feat_cepsize (ps_get_feat (dec->ps)) != CMN_LEN) {
    g_set_error (error, GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_SETTINGS,
        "pocketsphinx model has %d cepstra, expected %d",
        feat_cepsize (ps_get_feat (dec->ps)), CMN_LEN);
    decoder_free (dec);
    return NULL;
  }
  dec->lm_search = g_strdup (ps_get_search (dec->ps));
  cmn_live_get (ps_get_feat (dec->ps)->cmn_struct, dec->initial_cmn);
  GST_DEBUG ("loaded a decoder in %" G_GINT64_FORMAT " ms, search %s",
      (g_get_monotonic_time () - t0) / 1000, dec->lm_search);
  return dec;
}

/* Back to what ps_init() left: the language model search (the grammar of
 * the hints is dropped), the model's initial cepstral mean, and a new
 * stream, which resets the front end's noise estimate (the VAD's floor).
 * What stays is what no caller leaves a trace in: the models, the
 * dictionary (no words are ever added), and the language model's score
 * caches, which only make lookups faster. No speaker adaptation (MLLR)
 * and no AGC are configured. The utterance has ended. */
static void
decoder_rewind (PsDecoder *dec)
{
  const gchar *search = ps_get_search (dec->ps);

  if (g_strcmp0 (search, dec->lm_search) != 0)
    ps_set_search (dec->ps, dec->lm_search);
  /* -1 when no hints were ever set */
  ps_unset_search (dec->ps, HINTS_SEARCH);
  cmn_live_set (ps_get_feat (dec->ps)->cmn_struct, dec->initial_cmn);
  ps_start_stream (dec->ps);
}

static PsDecoder *
decoder_take (gchar *args[N_ARGS], GError **error)
{
  PsPool *pool = pool_for_args (args);
  PsDecoder *dec;

  g_mutex_lock (&pools_lock);
  dec = g_queue_pop_head (&pool->idle);
  if (dec) {
    pool->reused++;
    pool->in_use++;
  }
  g_mutex_unlock (&pools_lock);
  if (dec) {
    GST_DEBUG ("reusing an idle decoder");
    return dec;
  }
  dec = decoder_load (args, pool, error);
  if (dec) {
    g_mutex_lock (&pools_lock);
    pool->loaded++;
    pool->in_use++;
    g_mutex_unlock (&pools_lock);
  }
  return dec;
}

static void
decoder_give_back (PsDecoder *dec, guint max_idle)
{
  PsPool *pool = dec->pool;
  gboolean keep;

  decoder_rewind (dec);
  g_mutex_lock (&pools_lock);
  pool->in_use--;
  keep = g_queue_get_length (&pool->idle) < MAX (max_idle, pool->floor);
  if (keep)
    g_queue_push_head (&pool->idle, dec);
  else
    pool->freed++;
  g_mutex_unlock (&pools_lock);
  if (!keep)
    decoder_free (dec);
  GST_DEBUG ("decoder %s", keep ? "idle for the next open" : "freed");
}

static gint
pool_preload (gchar *args[N_ARGS], guint n, GError **error)
{
  PsPool *pool = pool_for_args (args);
  guint idle;

  for (;;) {
    PsDecoder *dec;

    g_mutex_lock (&pools_lock);
    pool->floor = MAX (pool->floor, n);
    idle = g_queue_get_length (&pool->idle);
    g_mutex_unlock (&pools_lock);
    if (idle >= n)
      return idle;
    dec = decoder_load (args, pool, error);
    if (dec == NULL)
      return -1;
    g_mutex_lock (&pools_lock);
    pool->loaded++;
    g_queue_push_tail (&pool->idle, dec);
    g_mutex_unlock (&pools_lock);
  }
}

/* ---- the backend ---- */

static GstSttBackend *
ps_backend_open (const GstSttBackendConfig *config,
    const GstSttListener *listener, GError **error)
{
  GstSttBackend *self;
  gchar *args[N_ARGS] = {NULL};
  PsDecoder *dec;
  guint short_ms = vad_postspeech_ms (config);

  if (!decoder_args (config, args, error))
    return NULL;
  dec = decoder_take (args, error);
  args_clear (args);
  if (dec == NULL)
    return NULL;

  self = g_new0 (GstSttBackend, 1);
  self->dec = dec;
  self->ps = dec->ps;
  self->max_idle = config->max_idle;
  self->listener = *listener;
  self->hangover_samples = config->hangover_ms * (PS_RATE / 1000);
  self->hint_hangover_samples = config->hint_hangover_ms * (PS_RATE / 1000);
  self->vad_postspeech_samples = short_ms * (PS_RATE / 1000);
  self->turn_text = g_string_new (NULL);
  GST_DEBUG ("pocketsphinx ready, search %s, VAD post-speech %u ms",
      dec->lm_search, short_ms);
  return self;
}

/* The hints' grammar search, made with its own word insertion
 * probability; the language model search keeps the model's. */
static gboolean
set_grammar (GstSttBackend *self, const gchar *jsgf)
{
  cmd_ln_t *config = ps_get_config (self->ps);
  gdouble wip = cmd_ln_float_r (config, "-wip");
  gboolean ok;

  cmd_ln_set_float_r (config, "-wip", GRAMMAR_WIP);
  ok = ps_set_jsgf_string (self->ps, HINTS_SEARCH, jsgf) == 0;
  cmd_ln_set_float_r (config, "-wip", wip);
  return ok;
}

static void
start_utterance (GstSttBackend *self)
{
  if (self->hints_changed) {
    const gchar *search = self->dec->lm_search;

    if (self->hints_closed && self->hints && self->hints[0]) {
      GString *jsgf = g_string_new ("#JSGF V1.0;\ngrammar hints;\n"
                                    "public <hints> = ( ");
      gchar **h;

      for (h = self->hints; *h; h++)
        g_string_append_printf (
            jsgf, "%s%s", h == self->hints ? "" : " | ", *h);
      g_string_append (jsgf, " )+;\n");
      if (set_grammar (self, jsgf->str))
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

static guint
count_words (const gchar *text)
{
  guint words = 0;
  gchar **w, **split = g_strsplit (text, " ", -1);

  for (w = split; *w; w++)
    words += **w != '\0';
  g_strfreev (split);
  return words;
}

/* The final pass over the stretch of speech the decoder heard since the
 * last one; its words join the turn's. Run when the VAD goes quiet, while
 * the hangover is still being waited out, so that the final pass (70-180
 * ms for a sentence) is done by the time the turn ends. */
static void
decode_stretch (GstSttBackend *self)
{
  const gchar *hyp;
  gint32 score;
  gint64 t0 = g_get_monotonic_time ();
  guint words;

  if (!self->in_utterance)
    return;
  ps_end_utt (self->ps);
  self->in_utterance = FALSE;
  if (!self->have_speech)
    return;
  hyp = ps_get_hyp (self->ps, &score);
  words = hyp ? count_words (hyp) : 0;
  if (words > 0) {
    gdouble confidence = CLAMP (word_confidence (self, hyp), 1e-6, 1.0);

    if (self->turn_text->len)
      g_string_append_c (self->turn_text, ' ');
    g_string_append (self->turn_text, hyp);
    self->turn_log_confidence += words * log (confidence);
    self->turn_words += words;
  }
  GST_DEBUG ("final pass of a stretch took %" G_GINT64_FORMAT " us: '%s'",
      g_get_monotonic_time () - t0, GST_STR_NULL (hyp));
}

/* The turn's words so far, with what the decoder holds now. */
static gchar *
turn_hypothesis (GstSttBackend *self)
{
  gint32 score;
  const gchar *hyp = self->in_utterance && self->have_speech
      ? ps_get_hyp (self->ps, &score)
      : NULL;

  if (hyp == NULL || *hyp == '\0')
    return g_strdup (self->turn_text->str);
  if (self->turn_text->len == 0)
    return g_strdup (hyp);
  return g_strconcat (self->turn_text->str, " ", hyp, NULL);
}

static void
end_turn (GstSttBackend *self, gboolean report)
{
  if (report) {
    decode_stretch (self);
  } else if (self->in_utterance) {
    ps_end_utt (self->ps);
    self->in_utterance = FALSE;
  }
  if (report && self->turn_has_speech) {
    guint64 end = self->in_speech ? self->position : self->silence_start;
    gdouble confidence = self->turn_words
        ? exp (self->turn_log_confidence / self->turn_words)
        : 0.0;

    GST_DEBUG (
        "final: '%s' (confidence %.2f)", self->turn_text->str, confidence);
    /* An utterance of noise decodes to nothing (or only fillers, which the
     * hypothesis string leaves out): report it empty, so that the dialog
     * can re-prompt instead of waiting. */
    self->listener.transcript (self->listener.user_data, self->turn_text->str,
        CLAMP (confidence, 0.0, 1.0), samples_to_time (self->speech_start),
        samples_to_time (end), TRUE);
  }
  self->turn_has_speech = FALSE;
  g_string_truncate (self->turn_text, 0);
  self->turn_log_confidence = 0;
  self->turn_words = 0;
}

static void
post_interim (GstSttBackend *self)
{
  gchar *hyp = turn_hypothesis (self);

  self->last_interim = self->position;
  if (*hyp == '\0' || g_strcmp0 (hyp, self->interim) == 0) {
    g_free (hyp);
    return;
  }
  g_free (self->interim);
  self->interim = hyp;
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

  if (silence >= self->hangover_samples)
    return TRUE;
  if (self->hint_hangover_samples == 0 || silence < self->hint_hangover_samples)
    return FALSE;
  /* the stretch before this silence was decoded when the VAD went quiet:
   * the turn's words are all there is */
  return hyp_completes_hint (self, self->turn_text->str);
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
    if (!self->turn_has_speech) {
      /* The VAD fires after -vad_startspeech frames of speech. */
      self->speech_start = self->position > 10 * FRAME_SAMPLES
          ? self->position - 10 * FRAME_SAMPLES
          : 0;
      self->turn_has_speech = TRUE;
    }
    self->have_speech = TRUE;
    self->listener.speech_started (
        self->listener.user_data, samples_to_time (self->speech_start));
  } else if (!in_speech && self->in_speech) {
    self->silence_start = self->position > self->vad_postspeech_samples
        ? self->position - self->vad_postspeech_samples
        : 0;
    self->listener.speech_stopped (
        self->listener.user_data, samples_to_time (self->silence_start));
    decode_stretch (self);
  }
  self->in_speech = in_speech;

  if (!self->turn_has_speech)
    return;
  if (in_speech) {
    if (self->position - self->last_interim >= INTERIM_EVERY_SAMPLES)
      post_interim (self);
  } else if (silence_ends_utterance (self)) {
    end_turn (self, TRUE);
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
  if (self->in_utterance && !self->turn_has_speech)
    end_turn (self, FALSE);
}

static void
ps_backend_finish (GstSttBackend *self)
{
  end_turn (self, TRUE);
  self->in_speech = FALSE;
}

/* A new caller: the live cepstral mean learnt from the previous one (or
 * from the noise that primed the detector) would skew the first
 * utterances, so it goes back to the model's initial value. */
static void
ps_backend_reset (GstSttBackend *self)
{
  end_turn (self, FALSE);
  self->in_speech = FALSE;
  self->position = 0;
  cmn_live_set (ps_get_feat (self->ps)->cmn_struct, self->dec->initial_cmn);
}

static GstClockTime
ps_backend_latency (GstSttBackend *self)
{
  return samples_to_time (self->hangover_samples);
}

static void
ps_backend_close (GstSttBackend *self)
{
  end_turn (self, FALSE);
  decoder_give_back (self->dec, self->max_idle);
  g_string_free (self->turn_text, TRUE);
  g_free (self->interim);
  g_strfreev (self->hints);
  g_free (self);
}

static void
ensure_initialized (void)
{
  static gsize initialized;

  if (g_once_init_enter (&initialized)) {
    GST_DEBUG_CATEGORY_INIT (
        stt_pocketsphinx_debug, "sttpocketsphinx", 0, "pocketsphinx backend");
    /* pocketsphinx logs to stderr through a process-wide setting: off.
     * Not with -logfn, which makes every ps_init() close and reopen the
     * process's log file: two decoders loading at once on two threads
     * closed the same FILE twice (heap corruption, found by
     * test_pool_concurrent). */
    err_set_logfp (NULL);
    g_once_init_leave (&initialized, 1);
  }
}

static GstSttBackend *
ps_backend_open_once (const GstSttBackendConfig *config,
    const GstSttListener *listener, GError **error)
{
  ensure_initialized ();
  return ps_backend_open (config, listener, error);
}

static gint
ps_backend_preload (const GstSttBackendConfig *config, guint n, GError **error)
{
  gchar *args[N_ARGS] = {NULL};
  gint idle;

  ensure_initialized ();
  if (!decoder_args (config, args, error))
    return -1;
  idle = pool_preload (args, n, error);
  args_clear (args);
  return idle;
}

static GstStructure *
ps_backend_pool_stats (const GstSttBackendConfig *config)
{
  gchar *args[N_ARGS] = {NULL};
  GstStructure *s;
  PsPool *pool;

  ensure_initialized ();
  if (!decoder_args (config, args, NULL))
    return NULL;
  pool = pool_for_args (args);
  args_clear (args);
  g_mutex_lock (&pools_lock);
  s = gst_structure_new ("sttpocketsphinx-pool", "loaded", G_TYPE_UINT,
      pool->loaded, "reused", G_TYPE_UINT, pool->reused, "freed", G_TYPE_UINT,
      pool->freed, "idle", G_TYPE_UINT, g_queue_get_length (&pool->idle),
      "in-use", G_TYPE_UINT, pool->in_use, NULL);
  g_mutex_unlock (&pools_lock);
  return s;
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
    .preload = ps_backend_preload,
    .pool_stats = ps_backend_pool_stats,
};
