/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_KEY_FILE_H__
#define __GST_SIP_KEY_FILE_H__

#include <glib.h>

G_BEGIN_DECLS

/* A GKeyFile that knows the line of every group and key, for errors that
 * name FILE:LINE. GKeyFile reports no line numbers and silently keeps the
 * last of duplicate keys; the scan here rejects duplicates instead.
 * Internal: compiled into libgstsipagent and the agent plugin (whose
 * scripts use the same format). */

typedef struct
{
  gchar *name;
  guint line;
  GHashTable *keys; /* key -> line */
  GPtrArray *key_order; /* (element-type utf8): keys in file order */
} GstSipKeyGroup;

typedef struct
{
  gchar *filename;
  GKeyFile *kf;
  GPtrArray *groups; /* (element-type GstSipKeyGroup): in file order */
  GHashTable *by_name;
} GstSipKeyFile;

/* @list_separator: GKeyFile's list separator (';' is GKeyFile's own). */
GstSipKeyFile *gst_sip_key_file_load (const gchar *filename, const gchar *text,
    gchar list_separator, GError **error);
void gst_sip_key_file_free (GstSipKeyFile *keys);

GstSipKeyGroup *gst_sip_key_file_get_group (
    GstSipKeyFile *keys, const gchar *group);
/* The line of @key in @group, of @group itself when @key is NULL; 1 when
 * there is no such group, 0 when there is no such key. */
guint gst_sip_key_file_line (
    GstSipKeyFile *keys, const gchar *group, const gchar *key);

/* Sets @error to "FILE:LINE: message" (GST_RESOURCE_ERROR_SETTINGS) and
 * returns FALSE. */
gboolean gst_sip_key_file_fail (GstSipKeyFile *keys, GError **error, guint line,
    const gchar *format, ...) G_GNUC_PRINTF (4, 5);

G_END_DECLS
#endif
