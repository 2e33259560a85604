/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstagentevents.h"

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
