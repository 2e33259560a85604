/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/sip/gstsipdtmf.h>

#include <stdlib.h>
#include <string.h>

/* The longest key press a body may claim: longer is not a key press. */
#define MAX_DURATION_MS 60000
/* Larger bodies are not a key press either (and are not scanned). */
#define MAX_BODY 1024

static const gchar keys[] = "0123456789*#ABCD";

gint
gst_sip_dtmf_number_from_char (gchar c)
{
  const gchar *p;

  if (c == '\0')
    return -1;
  p = strchr (keys, g_ascii_toupper (c));
  return p ? (gint) (p - keys) : -1;
}

gchar
gst_sip_dtmf_char_from_number (gint number)
{
  return number >= 0 && number <= 15 ? keys[number] : 0;
}

/* A key: one character of keys, or its number 0-15 (some gateways send
 * "Signal=11" for '#'). */
static gint
parse_key (const gchar *s)
{
  gchar *end;
  guint64 v;

  if (s[0] != '\0' && s[1] == '\0')
    return gst_sip_dtmf_number_from_char (s[0]);
  if (!g_ascii_isdigit (s[0]))
    return -1;
  v = g_ascii_strtoull (s, &end, 10);
  if (*end != '\0' || v > 15)
    return -1;
  return (gint) v;
}

static gboolean
parse_relay (gchar *text, gint *number, gint *duration_ms, const gchar **why)
{
  gchar **lines = g_strsplit_set (text, "\r\n", -1);
  gboolean have_signal = FALSE, ok = TRUE;
  guint i;

  for (i = 0; lines[i] && ok; i++) {
    gchar *line = g_strstrip (lines[i]);
    gchar *eq, *key, *value;

    if (*line == '\0')
      continue;
    eq = strchr (line, '=');
    if (eq == NULL) {
      *why = "a dtmf-relay line is not Key=Value";
      ok = FALSE;
      break;
    }
    *eq = '\0';
    key = g_strstrip (line);
    value = g_strstrip (eq + 1);
    if (g_ascii_strcasecmp (key, "Signal") == 0) {
      if (have_signal) {
        *why = "more than one Signal";
        ok = FALSE;
      } else if ((*number = parse_key (value)) < 0) {
        *why = "Signal is not a key (0-9, *, #, A-D)";
        ok = FALSE;
      }
      have_signal = TRUE;
    } else if (g_ascii_strcasecmp (key, "Duration") == 0) {
      gchar *end;
      guint64 d = g_ascii_strtoull (value, &end, 10);

      if (*value == '\0' || *end != '\0' || !g_ascii_isdigit (*value) ||
          d == 0 || d > MAX_DURATION_MS) {
        *why = "Duration is not a number of milliseconds (1-60000)";
        ok = FALSE;
      } else {
        *duration_ms = (gint) d;
      }
    }
    /* other keys: ignored, as other implementations do */
  }
  g_strfreev (lines);
  if (ok && !have_signal) {
    *why = "no Signal";
    ok = FALSE;
  }
  return ok;
}

guint
gst_sip_dtmf_parse_info (const gchar *content_type, const gchar *body,
    gsize len, gint *number, gint *duration_ms, const gchar **why)
{
  gchar *type, *text;
  const gchar *semi;
  gboolean relay, ok;

  *number = -1;
  *duration_ms = -1;
  *why = NULL;
  if (content_type == NULL) {
    *why = "no Content-Type";
    return 415;
  }
  semi = strchr (content_type, ';');
  type = g_strstrip (semi ? g_strndup (content_type, semi - content_type)
                          : g_strdup (content_type));
  relay = g_ascii_strcasecmp (type, "application/dtmf-relay") == 0;
  if (!relay && g_ascii_strcasecmp (type, "application/dtmf") != 0) {
    g_free (type);
    *why = "not a key press";
    return 415;
  }
  g_free (type);
  if (body == NULL || len == 0 || len > MAX_BODY || memchr (body, 0, len)) {
    *why = len > MAX_BODY ? "body too large" : "no body";
    return 400;
  }
  text = g_strndup (body, len);
  if (relay) {
    ok = parse_relay (text, number, duration_ms, why);
  } else {
    *number = parse_key (g_strstrip (text));
    ok = *number >= 0;
    if (!ok)
      *why = "body is not a key (0-9, *, #, A-D)";
  }
  g_free (text);
  if (!ok) {
    *number = -1;
    *duration_ms = -1;
    return 400;
  }
  return 200;
}
