/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/sip/gstsiprecord.h>

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

GST_DEBUG_CATEGORY_STATIC (gst_sip_record_debug);
#define GST_CAT_DEFAULT gst_sip_record_debug

#define RECORD_VERSION 1

typedef struct
{
  gchar *role;
  gchar *text;
  gdouble start, end, confidence;
  gboolean interrupted;
} Turn;

typedef struct
{
  gchar *type, *target, *reason, *result;
} Action;

struct _GstSipRecord
{
  gint refcount;
  GMutex lock;

  gchar *path;
  gchar *tmp_path;
  gchar *call_id, *from, *to, *did, *office, *trunk;
  gboolean outbound;
  gint64 start_mono;
  GDateTime *invite, *answer, *end;
  gchar *end_reason;
  gchar *error;
  gchar *recording;
  gint sip_status;
  GArray *turns;
  GPtrArray *intake_order;
  GHashTable *intake;
  gboolean intake_complete;
  GArray *actions;
  GstStructure *media;

  /* writer: a save is queued (and not yet started) */
  gboolean queued;
  gboolean failed; /* the last write failed: log the next success */
};

static GThreadPool *writer;
static GMutex pending_lock;
static GCond pending_cond;
static guint pending;

static void
turn_clear (gpointer data)
{
  Turn *t = data;
  g_free (t->role);
  g_free (t->text);
}

static void
action_clear (gpointer data)
{
  Action *a = data;
  g_free (a->type);
  g_free (a->target);
  g_free (a->reason);
  g_free (a->result);
}

/* A Call-ID in a file name: anything but [A-Za-z0-9.-] becomes _, and it
 * is cut short (Call-IDs are only meant to be unique, not short). */
static gchar *
file_name_part (const gchar *call_id)
{
  GString *s = g_string_new (NULL);
  const gchar *p;

  for (p = call_id; *p && s->len < 64; p++)
    g_string_append_c (
        s, g_ascii_isalnum (*p) || *p == '.' || *p == '-' ? *p : '_');
  if (s->len == 0)
    g_string_append (s, "no-call-id");
  return g_string_free (s, FALSE);
}

GstSipRecord *
gst_sip_record_new (const gchar *dir, const gchar *call_id, const gchar *from,
    const gchar *to, const gchar *did, const gchar *office)
{
  static gsize init = 0;
  GstSipRecord *r = g_new0 (GstSipRecord, 1);
  gchar *stamp, *part, *name;

  if (g_once_init_enter (&init)) {
    GST_DEBUG_CATEGORY_INIT (
        gst_sip_record_debug, "siprecord", 0, "gst-sip-agent call records");
    g_once_init_leave (&init, 1);
  }
  r->refcount = 1;
  g_mutex_init (&r->lock);
  r->call_id = g_strdup (call_id);
  r->from = g_strdup (from);
  r->to = g_strdup (to);
  r->did = g_strdup (did);
  r->office = g_strdup (office);
  r->start_mono = g_get_monotonic_time ();
  r->invite = g_date_time_new_now_utc ();
  r->turns = g_array_new (FALSE, TRUE, sizeof (Turn));
  g_array_set_clear_func (r->turns, turn_clear);
  r->actions = g_array_new (FALSE, TRUE, sizeof (Action));
  g_array_set_clear_func (r->actions, action_clear);
  r->intake = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  r->intake_order = g_ptr_array_new_with_free_func (g_free);

  /* sorts by time in a directory listing; the Call-ID makes it unique */
  stamp = g_date_time_format (r->invite, "%Y%m%dT%H%M%S");
  part = file_name_part (call_id ? call_id : "");
  name = g_strdup_printf ("%s.%03dZ-%s.json", stamp,
      g_date_time_get_microsecond (r->invite) / 1000, part);
  r->path = g_build_filename (dir, name, NULL);
  g_free (name);
  name = g_strdup_printf (".%s.%03dZ-%s.json.tmp", stamp,
      g_date_time_get_microsecond (r->invite) / 1000, part);
  r->tmp_path = g_build_filename (dir, name, NULL);
  g_free (name);
  g_free (stamp);
  g_free (part);
  return r;
}

GstSipRecord *
gst_sip_record_ref (GstSipRecord *r)
{
  g_atomic_int_inc (&r->refcount);
  return r;
}

void
gst_sip_record_unref (GstSipRecord *r)
{
  if (!g_atomic_int_dec_and_test (&r->refcount))
    return;
  g_free (r->path);
  g_free (r->tmp_path);
  g_free (r->call_id);
  g_free (r->from);
  g_free (r->to);
  g_free (r->did);
  g_free (r->office);
  g_free (r->trunk);
  g_date_time_unref (r->invite);
  if (r->answer)
    g_date_time_unref (r->answer);
  if (r->end)
    g_date_time_unref (r->end);
  g_free (r->end_reason);
  g_free (r->error);
  g_free (r->recording);
  g_array_unref (r->turns);
  g_array_unref (r->actions);
  g_hash_table_unref (r->intake);
  g_ptr_array_unref (r->intake_order);
  if (r->media)
    gst_structure_free (r->media);
  g_mutex_clear (&r->lock);
  g_free (r);
}

const gchar *
gst_sip_record_get_path (GstSipRecord *r)
{
  return r->path;
}

gint64
gst_sip_record_get_start_time (GstSipRecord *r)
{
  return r->start_mono;
}

void
gst_sip_record_set_answered (GstSipRecord *r)
{
  g_mutex_lock (&r->lock);
  if (r->answer == NULL)
    r->answer = g_date_time_new_now_utc ();
  g_mutex_unlock (&r->lock);
}

/* The agent's sentences of one reply play back to back: they make one turn.
 * Seconds between sentences that still count as one reply. */
#define AGENT_SENTENCE_GAP 0.3

void
gst_sip_record_add_turn (GstSipRecord *r, const gchar *role, const gchar *text,
    gdouble start, gdouble end, gdouble confidence, gboolean interrupted)
{
  Turn t = {0};
  Turn *prev;
  guint i;

  g_mutex_lock (&r->lock);
  /* Turns arrive when they are complete (a caller's after its last word,
   * the agent's after playout), not in the order they began. */
  for (i = r->turns->len; i > 0; i--) {
    if (g_array_index (r->turns, Turn, i - 1).start <= start)
      break;
  }
  prev = i > 0 ? &g_array_index (r->turns, Turn, i - 1) : NULL;
  if (prev && i == r->turns->len && g_strcmp0 (role, "agent") == 0 &&
      g_strcmp0 (prev->role, "agent") == 0 && !prev->interrupted &&
      start - prev->end < AGENT_SENTENCE_GAP) {
    gchar *joined = g_strconcat (prev->text, " ", text, NULL);

    g_free (prev->text);
    prev->text = joined;
    prev->end = MAX (prev->end, end);
    prev->interrupted = interrupted;
    g_mutex_unlock (&r->lock);
    return;
  }
  t.role = g_strdup (role);
  t.text = g_strdup (text);
  t.start = start;
  t.end = end;
  t.confidence = confidence;
  t.interrupted = interrupted;
  g_array_insert_val (r->turns, i, t);
  g_mutex_unlock (&r->lock);
}

void
gst_sip_record_set_intake_field (
    GstSipRecord *r, const gchar *field, const gchar *value)
{
  gpointer key;

  g_mutex_lock (&r->lock);
  /* the keys belong to intake_order, which keeps the order fields came in */
  if (!g_hash_table_lookup_extended (r->intake, field, &key, NULL)) {
    key = g_strdup (field);
    g_ptr_array_add (r->intake_order, key);
  }
  g_hash_table_insert (r->intake, key, g_strdup (value));
  g_mutex_unlock (&r->lock);
}

void
gst_sip_record_set_intake_complete (GstSipRecord *r, gboolean complete)
{
  g_mutex_lock (&r->lock);
  r->intake_complete = complete;
  g_mutex_unlock (&r->lock);
}

void
gst_sip_record_add_action (GstSipRecord *r, const gchar *type,
    const gchar *target, const gchar *reason)
{
  Action a = {0};

  a.type = g_strdup (type);
  a.target = g_strdup (target);
  a.reason = g_strdup (reason);
  g_mutex_lock (&r->lock);
  g_array_append_val (r->actions, a);
  g_mutex_unlock (&r->lock);
}

void
gst_sip_record_set_action_result (
    GstSipRecord *r, const gchar *type, const gchar *result)
{
  guint i;

  g_mutex_lock (&r->lock);
  for (i = r->actions->len; i > 0; i--) {
    Action *a = &g_array_index (r->actions, Action, i - 1);
    if (g_strcmp0 (a->type, type) == 0) {
      g_free (a->result);
      a->result = g_strdup (result);
      break;
    }
  }
  g_mutex_unlock (&r->lock);
}

typedef struct
{
  GstStructure *into;
  const gchar *prefix;
} MediaCopy;

static gboolean
copy_number (GQuark field, const GValue *value, gpointer data)
{
  MediaCopy *mc = data;
  gchar *name;
  GValue d = G_VALUE_INIT;

  if (!g_value_type_transformable (G_VALUE_TYPE (value), G_TYPE_DOUBLE) ||
      G_VALUE_TYPE (value) == G_TYPE_BOOLEAN ||
      G_VALUE_TYPE (value) == G_TYPE_STRING)
    return TRUE;
  g_value_init (&d, G_TYPE_DOUBLE);
  g_value_transform (value, &d);
  name = g_strdup_printf ("%s%s", mc->prefix, g_quark_to_string (field));
  g_strdelimit (name, "-", '_');
  gst_structure_set_value (mc->into, name, &d);
  g_free (name);
  g_value_unset (&d);
  return TRUE;
}

void
gst_sip_record_set_media_stats (
    GstSipRecord *r, const gchar *prefix, const GstStructure *stats)
{
  MediaCopy mc;

  g_mutex_lock (&r->lock);
  if (r->media == NULL)
    r->media = gst_structure_new_empty ("media");
  mc.into = r->media;
  mc.prefix = prefix ? prefix : "";
  gst_structure_foreach (stats, copy_number, &mc);
  g_mutex_unlock (&r->lock);
}

void
gst_sip_record_set_outbound (GstSipRecord *r)
{
  g_mutex_lock (&r->lock);
  r->outbound = TRUE;
  g_mutex_unlock (&r->lock);
}

void
gst_sip_record_set_trunk (GstSipRecord *r, const gchar *trunk)
{
  g_mutex_lock (&r->lock);
  g_free (r->trunk);
  r->trunk = g_strdup (trunk);
  g_mutex_unlock (&r->lock);
}

void
gst_sip_record_set_recording (GstSipRecord *r, const gchar *path)
{
  g_mutex_lock (&r->lock);
  g_free (r->recording);
  r->recording = g_strdup (path);
  g_mutex_unlock (&r->lock);
}

void
gst_sip_record_set_error (GstSipRecord *r, const gchar *message)
{
  g_mutex_lock (&r->lock);
  if (r->error == NULL && r->end == NULL)
    r->error = g_strdup (message);
  g_mutex_unlock (&r->lock);
}

void
gst_sip_record_end (GstSipRecord *r, const gchar *reason, gint sip_status)
{
  g_mutex_lock (&r->lock);
  if (r->end == NULL) {
    r->end = g_date_time_new_now_utc ();
    /* the hangup that follows an error is not why the call ended */
    r->end_reason = g_strdup (r->error ? "error" : reason);
    r->sip_status = sip_status;
  }
  g_mutex_unlock (&r->lock);
}

/* --- JSON -------------------------------------------------------------- */

static void
add_time (JsonBuilder *b, const gchar *name, GDateTime *t)
{
  json_builder_set_member_name (b, name);
  if (t) {
    gchar *s = g_date_time_format (t, "%Y-%m-%dT%H:%M:%S");
    gchar *full =
        g_strdup_printf ("%s.%03dZ", s, g_date_time_get_microsecond (t) / 1000);
    json_builder_add_string_value (b, full);
    g_free (full);
    g_free (s);
  } else {
    json_builder_add_null_value (b);
  }
}

static void
add_string (JsonBuilder *b, const gchar *name, const gchar *value)
{
  json_builder_set_member_name (b, name);
  if (value)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

/* seconds, to the millisecond */
static void
add_seconds (JsonBuilder *b, const gchar *name, gdouble s)
{
  json_builder_set_member_name (b, name);
  json_builder_add_double_value (b, (gint64) (s * 1000 + 0.5) / 1000.0);
}

static gboolean
add_media_field (GQuark field, const GValue *value, gpointer data)
{
  JsonBuilder *b = data;
  gdouble v = g_value_get_double (value);

  json_builder_set_member_name (b, g_quark_to_string (field));
  if (v == (gdouble) (gint64) v)
    json_builder_add_int_value (b, (gint64) v);
  else
    json_builder_add_double_value (b, v);
  return TRUE;
}

/* with the lock */
static gchar *
to_json_locked (GstSipRecord *r)
{
  JsonBuilder *b = json_builder_new ();
  JsonGenerator *gen;
  JsonNode *root;
  gchar *text;
  guint i;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "record_version");
  json_builder_add_int_value (b, RECORD_VERSION);
  json_builder_set_member_name (b, "complete");
  json_builder_add_boolean_value (b, r->end != NULL);
  add_string (b, "call_id", r->call_id);
  add_string (b, "direction", r->outbound ? "outbound" : "inbound");
  add_string (b, "from", r->from);
  add_string (b, "to", r->did ? r->did : r->to);
  add_string (b, "to_uri", r->to);
  add_string (b, "office", r->office);
  add_string (b, "trunk", r->trunk);
  add_time (b, "invite", r->invite);
  add_time (b, "answer", r->answer);
  add_time (b, "end", r->end);
  add_string (b, "end_reason", r->end_reason);
  add_string (b, "error", r->error);
  add_string (b, "recording", r->recording);
  json_builder_set_member_name (b, "sip_status");
  if (r->end && r->sip_status > 0)
    json_builder_add_int_value (b, r->sip_status);
  else
    json_builder_add_null_value (b);

  json_builder_set_member_name (b, "turns");
  json_builder_begin_array (b);
  for (i = 0; i < r->turns->len; i++) {
    Turn *t = &g_array_index (r->turns, Turn, i);

    json_builder_begin_object (b);
    add_string (b, "role", t->role);
    add_string (b, "text", t->text);
    add_seconds (b, "start", t->start);
    add_seconds (b, "end", t->end);
    if (t->confidence >= 0) {
      json_builder_set_member_name (b, "confidence");
      json_builder_add_double_value (
          b, (gint64) (t->confidence * 1000 + 0.5) / 1000.0);
    }
    if (t->interrupted) {
      json_builder_set_member_name (b, "interrupted");
      json_builder_add_boolean_value (b, TRUE);
    }
    json_builder_end_object (b);
  }
  json_builder_end_array (b);

  json_builder_set_member_name (b, "intake");
  json_builder_begin_object (b);
  for (i = 0; i < r->intake_order->len; i++) {
    const gchar *field = g_ptr_array_index (r->intake_order, i);
    add_string (b, field, g_hash_table_lookup (r->intake, field));
  }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "intake_complete");
  json_builder_add_boolean_value (b, r->intake_complete);

  json_builder_set_member_name (b, "actions");
  json_builder_begin_array (b);
  for (i = 0; i < r->actions->len; i++) {
    Action *a = &g_array_index (r->actions, Action, i);

    json_builder_begin_object (b);
    add_string (b, "type", a->type);
    add_string (b, "target", a->target);
    add_string (b, "reason", a->reason);
    add_string (b, "result", a->result);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);

  json_builder_set_member_name (b, "media");
  json_builder_begin_object (b);
  if (r->media)
    gst_structure_foreach (r->media, add_media_field, b);
  json_builder_end_object (b);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  gen = json_generator_new ();
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  json_node_unref (root);
  g_object_unref (gen);
  g_object_unref (b);
  return text;
}

gchar *
gst_sip_record_to_json (GstSipRecord *r)
{
  gchar *text;

  g_mutex_lock (&r->lock);
  text = to_json_locked (r);
  g_mutex_unlock (&r->lock);
  return text;
}

/* --- durable writes ---------------------------------------------------- */

static gboolean
write_all (int fd, const gchar *data, gsize len)
{
  while (len > 0) {
    ssize_t n = write (fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return FALSE;
    data += n;
    len -= n;
  }
  return TRUE;
}

/* temp file, fsync, rename over the last version, fsync the directory: the
 * path holds the old record or the new one, whole, whatever happens */
static gboolean
write_durably (GstSipRecord *r, const gchar *text, GError **error)
{
  gchar *dir = g_path_get_dirname (r->path);
  int fd, dfd, saved;

  fd = g_open (r->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0)
    goto failed;
  if (!write_all (fd, text, strlen (text)) || !write_all (fd, "\n", 1) ||
      fsync (fd) != 0) {
    saved = errno;
    close (fd);
    g_unlink (r->tmp_path);
    errno = saved;
    goto failed;
  }
  if (close (fd) != 0 || g_rename (r->tmp_path, r->path) != 0) {
    saved = errno;
    g_unlink (r->tmp_path);
    errno = saved;
    goto failed;
  }
  dfd = g_open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dfd >= 0) {
    fsync (dfd);
    close (dfd);
  }
  g_free (dir);
  return TRUE;

failed:
  saved = errno;
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
      "could not write call record %s: %s", r->path, g_strerror (saved));
  g_free (dir);
  return FALSE;
}

static void
writer_func (gpointer data, gpointer user_data)
{
  GstSipRecord *r = data;
  GError *err = NULL;
  gchar *text;

  g_mutex_lock (&r->lock);
  r->queued = FALSE;
  text = to_json_locked (r);
  g_mutex_unlock (&r->lock);

  if (!write_durably (r, text, &err)) {
    /* A full disk must not end calls: the record stays in memory and the
     * next change tries again. */
    if (!r->failed)
      g_printerr ("gst-sip-agent: %s\n", err->message);
    GST_ERROR ("%s", err->message);
    r->failed = TRUE;
    g_error_free (err);
  } else if (r->failed) {
    g_printerr ("gst-sip-agent: call record %s written again\n", r->path);
    r->failed = FALSE;
  }
  g_free (text);
  gst_sip_record_unref (r);

  g_mutex_lock (&pending_lock);
  if (--pending == 0)
    g_cond_broadcast (&pending_cond);
  g_mutex_unlock (&pending_lock);
}

void
gst_sip_record_save (GstSipRecord *r)
{
  static gsize init = 0;

  if (g_once_init_enter (&init)) {
    /* one writer for every call: saves are small and rare (a few per
     * turn), and one thread keeps fsyncs from piling up */
    writer = g_thread_pool_new (writer_func, NULL, 1, FALSE, NULL);
    g_once_init_leave (&init, 1);
  }
  g_mutex_lock (&r->lock);
  if (r->queued) {
    /* the queued write will take this change too */
    g_mutex_unlock (&r->lock);
    return;
  }
  r->queued = TRUE;
  g_mutex_unlock (&r->lock);

  g_mutex_lock (&pending_lock);
  pending++;
  g_mutex_unlock (&pending_lock);
  g_thread_pool_push (writer, gst_sip_record_ref (r), NULL);
}

void
gst_sip_record_wait_saved (void)
{
  g_mutex_lock (&pending_lock);
  while (pending > 0)
    g_cond_wait (&pending_cond, &pending_lock);
  g_mutex_unlock (&pending_lock);
}
