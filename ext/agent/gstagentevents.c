/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstagentevents.h"

#include <string.h>

static gboolean
is_custom (GstEvent *event)
{
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CUSTOM_UPSTREAM:
    case GST_EVENT_CUSTOM_DOWNSTREAM:
    case GST_EVENT_CUSTOM_DOWNSTREAM_OOB:
    case GST_EVENT_CUSTOM_DOWNSTREAM_STICKY:
    case GST_EVENT_CUSTOM_BOTH:
    case GST_EVENT_CUSTOM_BOTH_OOB:
      return TRUE;
    default:
      return FALSE;
  }
}

const gchar *
gst_agent_event_name (GstEvent *event)
{
  const GstStructure *s;

  if (!is_custom (event))
    return NULL;
  s = gst_event_get_structure (event);
  return s ? gst_structure_get_name (s) : NULL;
}

gboolean
gst_agent_event_is (GstEvent *event, const gchar *name)
{
  const GstStructure *s;

  if (!is_custom (event))
    return FALSE;
  s = gst_event_get_structure (event);
  return s != NULL && gst_structure_has_name (s, name);
}

GstEvent *
gst_agent_event_new_hints (
    const gchar *state, const gchar *const *phrases, gboolean closed)
{
  static const gchar *const none[] = {NULL};

  return gst_event_new_custom (GST_EVENT_CUSTOM_UPSTREAM,
      gst_structure_new (GST_AGENT_EVENT_HINTS, "state", G_TYPE_STRING,
          state ? state : "", "phrases", G_TYPE_STRV, phrases ? phrases : none,
          "closed", G_TYPE_BOOLEAN, closed, NULL));
}

GstEvent *
gst_agent_event_new_tts (
    const gchar *name, const gchar *text, gboolean interrupted, gboolean idle)
{
  return gst_event_new_custom (GST_EVENT_CUSTOM_UPSTREAM,
      gst_structure_new (name, "text", G_TYPE_STRING, text ? text : "",
          "interrupted", G_TYPE_BOOLEAN, interrupted, "idle", G_TYPE_BOOLEAN,
          idle, NULL));
}

/* A serialized downstream event: ttsbridge must apply it between the
 * sentences pushed before and after it. @backend NULL: the backend of the
 * voice in use; @voice NULL: the element's own voice (or, with @backend,
 * that backend's). */
GstEvent *
gst_agent_event_new_tts_voice (const gchar *backend, const gchar *voice)
{
  GstStructure *s = gst_structure_new_empty (GST_AGENT_EVENT_TTS_VOICE);

  if (backend)
    gst_structure_set (s, "backend", G_TYPE_STRING, backend, NULL);
  if (voice)
    gst_structure_set (s, "voice", G_TYPE_STRING, voice, NULL);
  return gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, s);
}

/* The backends ttsbridge implements (a build may lack one: ttsbridge then
 * warns and keeps its voice). */
static const gchar *const tts_backend_names[] = {"flite", "espeak", NULL};

static gboolean
is_voice_name (const gchar *s)
{
  if (*s == '\0')
    return FALSE;
  for (; *s; s++) {
    if (!g_ascii_isalnum (*s) && !strchr ("-_+.", *s))
      return FALSE;
  }
  return TRUE;
}

/**
 * gst_agent_voice_name_parse:
 * @name: `BACKEND:VOICE` (`espeak:es`, `flite:kal`), `VOICE` (a voice of
 *   the backend in use: `es`) or `default` (the element's own)
 * @backend: (out): the backend, NULL for the one in use
 * @voice: (out): the voice, NULL for the default
 * @why: (out): what is wrong with a malformed @name
 *
 * Splits a voice name as the agent script's `voice` action takes it. Only
 * the form is checked, and the backend against the ones ttsbridge
 * implements; whether the voice exists is for ttsbridge to find out.
 *
 * Returns: FALSE for a malformed @name.
 */
gboolean
gst_agent_voice_name_parse (
    const gchar *name, gchar **backend, gchar **voice, gchar **why)
{
  const gchar *colon = strchr (name, ':');
  gchar *b = NULL, *v;
  guint i;

  *backend = *voice = NULL;
  *why = NULL;
  if (colon) {
    b = g_ascii_strdown (name, colon - name);
    v = g_strdup (colon + 1);
    for (i = 0; tts_backend_names[i]; i++) {
      if (!strcmp (b, tts_backend_names[i]))
        break;
    }
    if (tts_backend_names[i] == NULL) {
      *why = g_strdup_printf ("unknown speech backend \"%s\" in voice \"%s\" "
                              "(known: flite, espeak)",
          b, name);
      goto fail;
    }
  } else {
    v = g_strdup (name);
  }
  if (!is_voice_name (v)) {
    *why = g_strdup_printf ("bad voice \"%s\" (BACKEND:VOICE such as "
                            "espeak:es or flite:kal, a voice such as es, or "
                            "default)",
        name);
    goto fail;
  }
  if (!g_ascii_strcasecmp (v, "default"))
    g_clear_pointer (&v, g_free);
  *backend = b;
  *voice = v;
  return TRUE;

fail:
  g_free (b);
  g_free (v);
  return FALSE;
}
