/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsipkeyfile.h"

#include <gst/gst.h>
#include <string.h>

static void
group_free (gpointer data)
{
  GstSipKeyGroup *g = data;

  g_free (g->name);
  g_hash_table_unref (g->keys);
  g_ptr_array_unref (g->key_order);
  g_free (g);
}

void
gst_sip_key_file_free (GstSipKeyFile *keys)
{
  if (keys == NULL)
    return;
  g_free (keys->filename);
  if (keys->kf)
    g_key_file_unref (keys->kf);
  g_hash_table_unref (keys->by_name);
  g_ptr_array_unref (keys->groups);
  g_free (keys);
}

gboolean
gst_sip_key_file_fail (
    GstSipKeyFile *keys, GError **error, guint line, const gchar *format, ...)
{
  va_list args;
  gchar *msg;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
      "%s:%u: %s", keys->filename, line, msg);
  g_free (msg);
  return FALSE;
}

GstSipKeyGroup *
gst_sip_key_file_get_group (GstSipKeyFile *keys, const gchar *group)
{
  return g_hash_table_lookup (keys->by_name, group);
}

guint
gst_sip_key_file_line (
    GstSipKeyFile *keys, const gchar *group, const gchar *key)
{
  GstSipKeyGroup *g = g_hash_table_lookup (keys->by_name, group);

  if (g == NULL)
    return 1;
  if (key == NULL)
    return g->line;
  return GPOINTER_TO_UINT (g_hash_table_lookup (g->keys, key));
}

static gboolean
scan_group_line (GstSipKeyFile *keys, gchar *line, guint n,
    GstSipKeyGroup **current, GError **error)
{
  gchar *end = strchr (line, ']');
  GstSipKeyGroup *g, *prev;

  if (end == NULL || end[1] != '\0')
    return gst_sip_key_file_fail (
        keys, error, n, "a group line must be [name] and nothing after it");
  *end = '\0';
  if (line[1] == '\0')
    return gst_sip_key_file_fail (keys, error, n, "empty group name");
  if ((prev = g_hash_table_lookup (keys->by_name, line + 1)) != NULL)
    return gst_sip_key_file_fail (keys, error, n,
        "duplicate group [%s] (first at line %u)", line + 1, prev->line);
  g = g_new0 (GstSipKeyGroup, 1);
  g->name = g_strdup (line + 1);
  g->line = n;
  g->keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g->key_order = g_ptr_array_new ();
  g_ptr_array_add (keys->groups, g);
  g_hash_table_insert (keys->by_name, g->name, g);
  *current = g;
  return TRUE;
}

static gboolean
scan_key_line (GstSipKeyFile *keys, gchar *line, guint n,
    GstSipKeyGroup *current, GError **error)
{
  gchar *eq = strchr (line, '='), *key, *owned;
  guint prev;

  if (line[0] == ';')
    return gst_sip_key_file_fail (
        keys, error, n, "comments start with #, not ;");
  if (eq == NULL)
    return gst_sip_key_file_fail (keys, error, n,
        "expected [group], key = value or # comment, got \"%s\"", line);
  *eq = '\0';
  key = g_strstrip (line);
  if (*key == '\0')
    return gst_sip_key_file_fail (keys, error, n, "missing key name before =");
  if (current == NULL)
    return gst_sip_key_file_fail (
        keys, error, n, "key \"%s\" before the first [group]", key);
  if ((prev = GPOINTER_TO_UINT (g_hash_table_lookup (current->keys, key))))
    return gst_sip_key_file_fail (keys, error, n,
        "duplicate key \"%s\" in [%s] (first at line %u)", key, current->name,
        prev);
  owned = g_strdup (key);
  g_hash_table_insert (current->keys, owned, GUINT_TO_POINTER (n));
  g_ptr_array_add (current->key_order, owned);
  return TRUE;
}

static gboolean
scan_lines (GstSipKeyFile *keys, const gchar *text, GError **error)
{
  gchar **lines = g_strsplit (text, "\n", -1);
  GstSipKeyGroup *current = NULL;
  gboolean ok = TRUE;
  guint i;

  for (i = 0; lines[i] && ok; i++) {
    gchar *line = g_strstrip (lines[i]);

    if (*line == '\0' || *line == '#')
      continue;
    if (*line == '[')
      ok = scan_group_line (keys, line, i + 1, &current, error);
    else
      ok = scan_key_line (keys, line, i + 1, current, error);
  }
  g_strfreev (lines);
  return ok;
}

GstSipKeyFile *
gst_sip_key_file_load (const gchar *filename, const gchar *text,
    gchar list_separator, GError **error)
{
  GstSipKeyFile *keys = g_new0 (GstSipKeyFile, 1);
  GError *err = NULL;

  keys->filename = g_strdup (filename);
  keys->groups = g_ptr_array_new_with_free_func (group_free);
  keys->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  if (!g_utf8_validate (text, -1, NULL)) {
    gst_sip_key_file_fail (keys, error, 1, "not UTF-8 text");
    goto failed;
  }
  if (!scan_lines (keys, text, error))
    goto failed;
  keys->kf = g_key_file_new ();
  g_key_file_set_list_separator (keys->kf, list_separator);
  if (!g_key_file_load_from_data (keys->kf, text, -1, G_KEY_FILE_NONE, &err)) {
    /* the scan accepts what GKeyFile does, so this is rare: no line */
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "%s: %s", filename, err->message);
    g_error_free (err);
    goto failed;
  }
  return keys;

failed:
  gst_sip_key_file_free (keys);
  return NULL;
}
