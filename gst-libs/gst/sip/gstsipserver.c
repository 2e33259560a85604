/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/sip/gstsipserver.h>
#include <gst/sip/gstsiprecord.h>
#include <gst/sip/gstsiprecorder.h>
#include <gst/app/gstappsrc.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

GST_DEBUG_CATEGORY_STATIC (gst_sip_server_debug);
#define GST_CAT_DEFAULT gst_sip_server_debug

/* After the drain timeout the remaining calls get a BYE; a call whose BYE
 * is never answered is torn down this much later anyway. */
#define HANGUP_GRACE_SECONDS 10

typedef struct
{
  gint refcount;
  GstSipServer *server;
  GstSipCall *call;
  gchar *call_id;
  GstSipServerConfig *config;
  const GstSipOfficeConfig *office; /* in config */
  GstSipRecord *record;
  gulong state_handler;

  GMutex lock;
  GstElement *pipeline; /* published by the builder, taken by teardown */
  GstElement *bus_pipeline; /* not owned: the pipeline the bus belongs to */
  gboolean built;
  gboolean end_requested;
  gboolean torn_down;
  gboolean recording; /* an audio recording branch is attached */
  gchar *error; /* first pipeline error */
  gchar *callback; /* the number the agent asked us to call back */
  GstStructure *intake; /* the fields so far, for a transfer's summary */
  struct _Consult *consult; /* attended transfer in progress (main context) */
} ServerCall;

struct _GstSipServer
{
  GstObject parent;

  GMainContext *context;
  GstSipEndpoint *endpoint;
  GThreadPool *builders;
  GPtrArray *trunks; /* (element-type GstSipTrunk), fixed until restart */

  /* with the object lock */
  GstSipServerConfig *config;
  GList *calls;
  guint active;
  gboolean draining;
  gboolean drained; /* "drained" was emitted */
  gboolean stopping;
  GSource *drain_timer;
};

enum
{
  SIGNAL_CALL_PIPELINE,
  SIGNAL_CONVERSATION,
  SIGNAL_CALL_ENDED,
  SIGNAL_CALL_REJECTED,
  SIGNAL_DRAINED,
  SIGNAL_TRUNK_STATE,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (GstSipServer, gst_sip_server, GST_TYPE_OBJECT);

static void build_call (gpointer data, gpointer user_data);
static void consult_free (struct _Consult *c);

static ServerCall *
server_call_ref (ServerCall *sc)
{
  g_atomic_int_inc (&sc->refcount);
  return sc;
}

static void
server_call_unref (gpointer data)
{
  ServerCall *sc = data;

  if (!g_atomic_int_dec_and_test (&sc->refcount))
    return;
  g_warn_if_fail (sc->pipeline == NULL);
  gst_object_unref (sc->call);
  gst_object_unref (sc->server);
  g_free (sc->call_id);
  gst_sip_server_config_unref (sc->config);
  gst_sip_record_unref (sc->record);
  g_free (sc->error);
  g_free (sc->callback);
  if (sc->intake)
    gst_structure_free (sc->intake);
  g_mutex_clear (&sc->lock);
  g_free (sc);
}

static void
server_call_closure_notify (gpointer data, GClosure *closure)
{
  server_call_unref (data);
}

static gpointer
server_call_copy (gconstpointer src, gpointer data)
{
  return server_call_ref ((ServerCall *) src);
}

static void
gst_sip_server_finalize (GObject *object)
{
  GstSipServer *self = GST_SIP_SERVER (object);

  if (self->builders)
    g_thread_pool_free (self->builders, FALSE, TRUE);
  gst_clear_object (&self->endpoint);
  if (self->trunks)
    g_ptr_array_unref (self->trunks);
  gst_sip_server_config_unref (self->config);
  g_main_context_unref (self->context);
  G_OBJECT_CLASS (gst_sip_server_parent_class)->finalize (object);
}

static void
gst_sip_server_class_init (GstSipServerClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);

  gobject_class->finalize = gst_sip_server_finalize;

  signals[SIGNAL_CALL_PIPELINE] = g_signal_new ("call-pipeline",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 3, GST_TYPE_SIP_CALL, GST_TYPE_ELEMENT, G_TYPE_STRING);
  signals[SIGNAL_CONVERSATION] =
      g_signal_new ("conversation", G_TYPE_FROM_CLASS (klass),
          G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 4, G_TYPE_STRING,
          G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  signals[SIGNAL_CALL_ENDED] =
      g_signal_new ("call-ended", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
          0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  /* (call-id, from, to, status, reason): on the SIP thread */
  signals[SIGNAL_CALL_REJECTED] =
      g_signal_new ("call-rejected", G_TYPE_FROM_CLASS (klass),
          G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 5, G_TYPE_STRING,
          G_TYPE_STRING, G_TYPE_STRING, G_TYPE_INT, G_TYPE_STRING);
  signals[SIGNAL_DRAINED] = g_signal_new ("drained", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /* (trunk, "registration" or "qualify", state, status, phrase): on the
   * SIP thread */
  signals[SIGNAL_TRUNK_STATE] =
      g_signal_new ("trunk-state", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
          0, NULL, NULL, NULL, G_TYPE_NONE, 5, G_TYPE_STRING, G_TYPE_STRING,
          G_TYPE_STRING, G_TYPE_INT, G_TYPE_STRING);

  GST_DEBUG_CATEGORY_INIT (
      gst_sip_server_debug, "sipserver", 0, "gst-sip-agent server");
}

static void
gst_sip_server_init (GstSipServer *self)
{
}

GstSipServer *
gst_sip_server_new (GstSipServerConfig *config)
{
  GstSipServer *self = g_object_new (GST_TYPE_SIP_SERVER, NULL);

  gst_object_ref_sink (self);
  self->config = gst_sip_server_config_ref (config);
  self->context = g_main_context_ref_thread_default ();
  return self;
}

guint
gst_sip_server_get_active_calls (GstSipServer *self)
{
  guint n;

  GST_OBJECT_LOCK (self);
  n = self->active;
  GST_OBJECT_UNLOCK (self);
  return n;
}

gchar *
gst_sip_uri_get_user (const gchar *uri)
{
  const gchar *p, *end;

  if (uri == NULL)
    return NULL;
  if (g_ascii_strncasecmp (uri, "sip:", 4) == 0)
    p = uri + 4;
  else if (g_ascii_strncasecmp (uri, "sips:", 5) == 0)
    p = uri + 5;
  else if (g_ascii_strncasecmp (uri, "tel:", 4) == 0)
    return g_strndup (uri + 4, strcspn (uri + 4, ";?"));
  else
    return NULL;
  end = strchr (p, '@');
  if (end == NULL)
    return NULL;
  /* user parameters (RFC 3261 19.1.1 allows ;isub=... in a telephone
   * user) are not part of the number */
  return g_strndup (p, MIN ((gsize) (end - p), strcspn (p, ";")));
}

/* ---- the end of a call -------------------------------------------------- */

static void
emit_drained_if_done (GstSipServer *self)
{
  gboolean drained;

  GST_OBJECT_LOCK (self);
  /* once: a handler may drain from "call-ended", inside a teardown */
  drained = self->draining && self->active == 0 && !self->drained;
  if (drained)
    self->drained = TRUE;
  GST_OBJECT_UNLOCK (self);
  if (drained)
    g_signal_emit (self, signals[SIGNAL_DRAINED], 0);
}

typedef void (*ElementFunc) (
    GstElement *element, const gchar *factory, ServerCall *sc);

/* @func on every element of @pipeline, with its factory's name */
static void
foreach_element (GstElement *pipeline, ElementFunc func, ServerCall *sc)
{
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (pipeline));
  GValue item = G_VALUE_INIT;

  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GstElement *e = g_value_get_object (&item);
    GstElementFactory *f = gst_element_get_factory (e);

    func (e, f ? GST_OBJECT_NAME (f) : "", sc);
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
}

static void
collect_stats (GstElement *e, const gchar *factory, ServerCall *sc)
{
  GstStructure *stats = NULL;

  if (strcmp (factory, "sipsrc") != 0 && strcmp (factory, "sipsink") != 0)
    return;
  g_object_get (e, "stats", &stats, NULL);
  if (stats) {
    gst_sip_record_set_media_stats (sc->record, NULL, stats);
    gst_structure_free (stats);
  }
}

/* Main context, at a call's end: the callback its agent asked for, from
 * the same office. Its outcome goes into this call's record. */
static void
place_callback (ServerCall *sc)
{
  GstSipServer *self = sc->server;
  GError *err = NULL;
  gchar *number, *call_id = NULL, *result;
  gboolean stopping;

  g_mutex_lock (&sc->lock);
  number = sc->callback;
  sc->callback = NULL;
  g_mutex_unlock (&sc->lock);
  if (number == NULL)
    return;
  GST_OBJECT_LOCK (self);
  stopping = self->draining || self->stopping;
  GST_OBJECT_UNLOCK (self);
  if (stopping)
    g_set_error (&err, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_BUSY,
        "the server is stopping");
  else
    call_id = gst_sip_server_dial (self, sc->office->name, number, &err);
  if (call_id) {
    GST_INFO_OBJECT (self, "call %s: calling %s back (call %s)", sc->call_id,
        number, call_id);
    result = g_strdup_printf ("placed: %s", call_id);
  } else {
    GST_WARNING_OBJECT (self, "call %s: cannot call %s back: %s", sc->call_id,
        number, err->message);
    result = g_strdup_printf ("failed: %s", err->message);
  }
  gst_sip_record_set_action_result (sc->record, "callback", result);
  g_free (result);
  g_free (call_id);
  g_clear_error (&err);
  g_free (number);
}

/* Main context. The call is over (or must be): its pipeline goes, its
 * record is finished. Exactly once per call, after the builder is done. */
static gboolean
teardown (gpointer data)
{
  ServerCall *sc = data;
  GstSipServer *self = sc->server;
  GstElement *pipeline;
  GList *l;

  g_mutex_lock (&sc->lock);
  sc->end_requested = TRUE;
  if (!sc->built || sc->torn_down) {
    /* the builder calls again when it is done */
    g_mutex_unlock (&sc->lock);
    return G_SOURCE_REMOVE;
  }
  sc->torn_down = TRUE;
  pipeline = sc->pipeline;
  sc->pipeline = NULL;
  g_mutex_unlock (&sc->lock);

  if (pipeline) {
    foreach_element (pipeline, collect_stats, sc);
    /* the file's last page or header goes out before the branch stops */
    if (sc->recording &&
        !gst_sip_recorder_finish (
            GST_BIN (pipeline), GST_SIP_RECORDER_FINISH_TIMEOUT))
      GST_WARNING_OBJECT (
          self, "call %s: recording not finished in time", sc->call_id);
    gst_element_set_state (pipeline, GST_STATE_NULL);
    gst_object_unref (pipeline);
  }
  /* a call still up here is hung up (pipeline failure, forced stop) */
  gst_sip_call_hangup (sc->call);
  place_callback (sc);
  if (sc->consult) {
    struct _Consult *c = sc->consult;

    sc->consult = NULL;
    consult_free (c);
  }
  g_signal_handler_disconnect (sc->call, sc->state_handler);
  gst_sip_record_end (
      sc->record, sc->error ? "error" : "shutdown", sc->error ? 500 : 0);
  gst_sip_record_save (sc->record);
  GST_INFO_OBJECT (self, "call %s done: %s", sc->call_id,
      gst_sip_record_get_path (sc->record));

  GST_OBJECT_LOCK (self);
  l = g_list_find (self->calls, sc);
  if (l) {
    self->calls = g_list_delete_link (self->calls, l);
    self->active--;
  }
  GST_OBJECT_UNLOCK (self);
  g_signal_emit (self, signals[SIGNAL_CALL_ENDED], 0, sc->call_id,
      gst_sip_record_get_path (sc->record));
  if (l)
    server_call_unref (sc);
  emit_drained_if_done (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_teardown (ServerCall *sc)
{
  g_main_context_invoke_full (sc->server->context, G_PRIORITY_DEFAULT, teardown,
      server_call_ref (sc), server_call_unref);
}

/* SIP thread */
static void
on_call_state_changed (GstSipCall *call, gint state, gint status,
    const gchar *reason, ServerCall *sc)
{
  if (state == GST_SIP_CALL_STATE_ANSWERED) {
    gst_sip_record_set_answered (sc->record);
    gst_sip_record_save (sc->record);
  } else if (state == GST_SIP_CALL_STATE_ENDED) {
    GST_INFO ("call %s ended: %d %s", sc->call_id, status, reason);
    if (g_strcmp0 (reason, "local-hangup") == 0)
      gst_sip_record_set_action_result (sc->record, "hangup", "done");
    gst_sip_record_end (sc->record, reason, status);
    gst_sip_record_save (sc->record);
    schedule_teardown (sc);
  }
}

/* ---- what the pipeline says ------------------------------------------- */

/* A running time of the call's pipeline in seconds since the INVITE. */
static gdouble
call_seconds (ServerCall *sc, GstClockTime running_time)
{
  GstClock *clock = gst_element_get_clock (sc->bus_pipeline);
  GstClockTime now, at;
  gint64 now_us;

  if (clock == NULL || !GST_CLOCK_TIME_IS_VALID (running_time)) {
    if (clock)
      gst_object_unref (clock);
    return (g_get_monotonic_time () -
               gst_sip_record_get_start_time (sc->record)) /
        1e6;
  }
  now = gst_clock_get_time (clock);
  now_us = g_get_monotonic_time ();
  gst_object_unref (clock);
  at = gst_element_get_base_time (sc->bus_pipeline) + running_time;
  return (now_us - GST_CLOCK_DIFF (at, now) / 1000 -
             gst_sip_record_get_start_time (sc->record)) /
      1e6;
}

static GstClockTime
get_time (const GstStructure *s, const gchar *field)
{
  guint64 t;

  return gst_structure_get_uint64 (s, field, &t) ? t : GST_CLOCK_TIME_NONE;
}

static gboolean
copy_intake_field (GQuark field, const GValue *value, gpointer data)
{
  ServerCall *sc = data;

  if (G_VALUE_HOLDS_STRING (value))
    gst_sip_record_set_intake_field (
        sc->record, g_quark_to_string (field), g_value_get_string (value));
  return TRUE;
}

static const gchar *
office_name (ServerCall *sc)
{
  return sc->office ? sc->office->name : NULL;
}

/* How a call from @office to @target goes out: a sip: URI with a numeric
 * host directly; a number (E.164, or a tel: URI) through the office's
 * trunk (*trunk set). FALSE with @error set when neither works. */
static gboolean
outgoing_route (GstSipServer *self, const GstSipServerConfig *config,
    const GstSipOfficeConfig *office, const gchar *target, GstSipTrunk **trunk,
    gchar **request_uri, gchar **from, gchar **route, GError **error)
{
  const gchar *number = g_str_has_prefix (target, "tel:") ? target + 4 : target;

  *trunk = NULL;
  *request_uri = *from = *route = NULL;
  if (g_str_has_prefix (target, "sip:") || g_str_has_prefix (target, "sips:")) {
    /* not through a trunk: sofia-sip would resolve a name
     * (docs/architecture.md, "Trunks") */
    if (!gst_sip_uri_has_numeric_host (target)) {
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
          "%s: a sip: URI to call directly needs a numeric host; numbers "
          "go through the office's trunk",
          target);
      return FALSE;
    }
    *request_uri = g_strdup (target);
    *from = g_strdup_printf ("<sip:%s@%s>", office->dids[0], config->listen);
    return TRUE;
  }
  if (office->trunk == NULL ||
      (*trunk = gst_sip_server_get_trunk (self, office->trunk)) == NULL) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "office %s has no trunk to call %s through (trunk = NAME in its "
        "[office] group)",
        office->name, number);
    return FALSE;
  }
  return gst_sip_trunk_outbound (
      *trunk, number, office->dids[0], request_uri, from, route, error);
}

/* ---- attended transfer (RFC 5589 section 7) ----
 *
 * The caller's agent asks for a transfer; the caller hears silence (the
 * agent's ttsbridge), while we call the target from the office (the
 * consultation call), speak a summary of the intake to whoever answers,
 * then REFER the caller to the target with Replaces naming the
 * consultation dialog: the caller's phone calls the target, which swaps
 * our dialog for it. Main context throughout. */

#define CONSULT_RING_TIMEOUT_S 30
#define CONSULT_LAUNCH \
  "sipbin.( appsrc name=summary is-live=true format=time do-timestamp=true " \
  "caps=text/x-raw,format=utf8 ! ttsbridge ! audioresample ! mulawenc ! " \
  "rtppcmupay ! sipsink sipsrc ! rtppcmudepay ! fakesink sync=false " \
  "async=false )"

typedef struct _Consult
{
  ServerCall *sc; /* the caller's */
  GstSipCall *call; /* to the target */
  GstElement *pipeline;
  GstElement *summary_src;
  gchar *target; /* as dialled */
  gchar *summary;
  GSource *ring_timer;
  gboolean referred;
  gboolean failed_reported;
} Consult;

static void consult_state (GstSipCall *call, gint state, gint status,
    const gchar *reason, gpointer data);
static void apply_office (GstElement *e, const gchar *factory, ServerCall *sc);

/* The caller's sipbin, or NULL */
static GstElement *
caller_sipbin (ServerCall *sc)
{
  GstElement *pipeline, *found = NULL;
  GstIterator *it;
  GValue item = G_VALUE_INIT;

  g_mutex_lock (&sc->lock);
  pipeline = sc->pipeline ? gst_object_ref (sc->pipeline) : NULL;
  g_mutex_unlock (&sc->lock);
  if (pipeline == NULL)
    return NULL;
  it = gst_bin_iterate_all_by_element_factory_name (
      GST_BIN (pipeline), "sipbin");
  if (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    found = g_value_dup_object (&item);
    g_value_unset (&item);
  }
  gst_iterator_free (it);
  gst_object_unref (pipeline);
  return found;
}

static void
consult_free (Consult *c)
{
  if (c->ring_timer) {
    g_source_destroy (c->ring_timer);
    g_source_unref (c->ring_timer);
  }
  if (c->pipeline) {
    gst_element_set_state (c->pipeline, GST_STATE_NULL);
    gst_object_unref (c->pipeline);
  }
  if (c->call) {
    g_signal_handlers_disconnect_by_data (c->call, c);
    gst_sip_call_hangup (c->call);
    gst_object_unref (c->call);
  }
  g_clear_object (&c->summary_src);
  g_free (c->target);
  g_free (c->summary);
  server_call_unref (c->sc);
  g_free (c);
}

static void
consult_fail (Consult *c, gint status, const gchar *reason)
{
  GstElement *sipbin;

  if (c->failed_reported || c->referred)
    return;
  c->failed_reported = TRUE;
  GST_INFO ("call %s: attended transfer to %s failed: %d %s", c->sc->call_id,
      c->target, status, reason);
  sipbin = caller_sipbin (c->sc);
  if (sipbin) {
    g_signal_emit_by_name (
        sipbin, "transfer-failed", c->target, status, reason);
    gst_object_unref (sipbin);
  }
}

/* "Transfer from the raleigh office. caller name: Ann Lee. reason: a car
 * accident." */
static gchar *
make_summary (ServerCall *sc)
{
  GString *s = g_string_new (NULL);

  g_string_append_printf (s, "Transfer from the %s office.", sc->office->name);
  g_mutex_lock (&sc->lock);
  for (gint i = 0; sc->intake && i < gst_structure_n_fields (sc->intake); i++) {
    const gchar *field = gst_structure_nth_field_name (sc->intake, i);
    gchar *name = g_strdup (field);

    g_strdelimit (name, "_-", ' ');
    g_string_append_printf (
        s, " %s: %s.", name, gst_structure_get_string (sc->intake, field));
    g_free (name);
  }
  g_mutex_unlock (&sc->lock);
  return g_string_free (s, FALSE);
}

static GstBusSyncReply consult_bus (
    GstBus *bus, GstMessage *msg, gpointer data);

static gboolean
consult_ring_timeout (gpointer data)
{
  Consult *c = data;

  g_source_unref (c->ring_timer);
  c->ring_timer = NULL;
  consult_fail (c, 408, "the transfer target did not answer");
  gst_sip_call_hangup (c->call);
  return G_SOURCE_REMOVE;
}

typedef struct
{
  ServerCall *sc;
  gchar *target;
} ConsultStart;

static gboolean
do_start_consult (gpointer data)
{
  ConsultStart *cs = data;
  ServerCall *sc = cs->sc;
  GstSipServer *self = sc->server;
  const GstSipOfficeConfig *o = sc->office;
  GstSipTrunk *trunk = NULL;
  gchar *uri = NULL, *from = NULL, *route = NULL;
  GError *err = NULL;
  GstElement *bin;
  GstBus *bus;
  Consult *c;

  if (sc->consult)
    return G_SOURCE_REMOVE;
  c = g_new0 (Consult, 1);
  c->sc = server_call_ref (sc);
  c->target = g_strdup (
      cs->target && strchr (cs->target, ':') ? cs->target : o->transfer);
  sc->consult = c;
  if (c->target == NULL) {
    consult_fail (c, 0, "no transfer target for this office");
    return G_SOURCE_REMOVE;
  }
  outgoing_route (
      self, sc->config, o, c->target, &trunk, &uri, &from, &route, &err);
  if (uri == NULL) {
    consult_fail (c, 0, err->message);
    g_clear_error (&err);
    return G_SOURCE_REMOVE;
  }
  c->call = gst_sip_call_new_outgoing (self->endpoint, uri, from, route, trunk);
  c->summary = make_summary (sc);
  g_free (uri);
  g_free (from);
  g_free (route);

  bin = gst_parse_launch (CONSULT_LAUNCH, &err);
  if (bin == NULL) {
    consult_fail (c, 0, err->message);
    g_clear_error (&err);
    return G_SOURCE_REMOVE;
  }
  c->pipeline = gst_pipeline_new (gst_sip_call_get_call_id (c->call));
  gst_bin_add (GST_BIN (c->pipeline), bin);
  c->summary_src = gst_bin_get_by_name (GST_BIN (bin), "summary");
  foreach_element (c->pipeline, apply_office, sc);
  g_object_set (bin, "call", c->call, NULL);
  g_signal_connect (c->call, "state-changed", G_CALLBACK (consult_state), c);
  bus = gst_element_get_bus (c->pipeline);
  gst_bus_set_sync_handler (bus, consult_bus, c, NULL);
  gst_object_unref (bus);
  GST_INFO_OBJECT (self, "call %s: consulting %s (call %s)", sc->call_id,
      c->target, gst_sip_call_get_call_id (c->call));
  c->ring_timer = g_timeout_source_new_seconds (CONSULT_RING_TIMEOUT_S);
  g_source_set_callback (c->ring_timer, consult_ring_timeout, c, NULL);
  g_source_attach (c->ring_timer, self->context);
  if (gst_element_set_state (c->pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE)
    consult_fail (c, 0, "the consultation pipeline did not start");
  return G_SOURCE_REMOVE;
}

static void
consult_start_free (gpointer data)
{
  ConsultStart *cs = data;

  server_call_unref (cs->sc);
  g_free (cs->target);
  g_free (cs);
}

/* any thread */
static void
start_consult (ServerCall *sc, const gchar *target)
{
  ConsultStart *cs = g_new0 (ConsultStart, 1);

  cs->sc = server_call_ref (sc);
  cs->target = g_strdup (target);
  g_main_context_invoke_full (sc->server->context, G_PRIORITY_DEFAULT,
      do_start_consult, cs, consult_start_free);
}

typedef struct
{
  ServerCall *sc;
  Consult *c; /* compared with sc->consult before use: it may be gone */
  gint what; /* 0: answered, 1: ended, 2: summary said */
  gint status;
  gchar *reason;
} ConsultEvent;

static gboolean
do_consult_event (gpointer data)
{
  ConsultEvent *e = data;
  ServerCall *sc = e->sc;
  Consult *c = e->c;

  if (sc->consult != c)
    return G_SOURCE_REMOVE;
  if (e->what == 0) {
    GstBuffer *buf;

    if (c->ring_timer) {
      g_source_destroy (c->ring_timer);
      g_source_unref (c->ring_timer);
      c->ring_timer = NULL;
    }
    GST_INFO ("call %s: %s answered; telling them: %s", sc->call_id, c->target,
        c->summary);
    buf = gst_buffer_new_memdup (c->summary, strlen (c->summary));
    gst_app_src_push_buffer (GST_APP_SRC (c->summary_src), buf);
  } else if (e->what == 2 && !c->referred) {
    const gchar *replaces = gst_sip_call_get_replaces_uri (c->call);
    GstElement *sipbin = caller_sipbin (sc);
    gboolean started = FALSE;

    if (replaces && sipbin) {
      c->referred = TRUE;
      g_signal_emit_by_name (sipbin, "transfer", replaces, &started);
      c->referred = started;
    }
    if (!started)
      consult_fail (c, 0,
          replaces ? "the REFER could not be sent"
                   : "the target gave no Contact to refer to");
    if (sipbin)
      gst_object_unref (sipbin);
    if (!started)
      gst_sip_call_hangup (c->call);
  } else if (e->what == 1) {
    /* before the REFER: the target never took the call (or hung up) */
    consult_fail (c, e->status, e->reason);
    sc->consult = NULL;
    consult_free (c);
  }
  return G_SOURCE_REMOVE;
}

static void
consult_event_free (gpointer data)
{
  ConsultEvent *e = data;

  server_call_unref (e->sc);
  g_free (e->reason);
  g_free (e);
}

static void
post_consult_event (Consult *c, gint what, gint status, const gchar *reason)
{
  ConsultEvent *e = g_new0 (ConsultEvent, 1);

  e->sc = server_call_ref (c->sc);
  e->c = c;
  e->what = what;
  e->status = status;
  e->reason = g_strdup (reason);
  g_main_context_invoke_full (c->sc->server->context, G_PRIORITY_DEFAULT,
      do_consult_event, e, consult_event_free);
}

/* SIP thread */
static void
consult_state (GstSipCall *call, gint state, gint status, const gchar *reason,
    gpointer data)
{
  if (state == GST_SIP_CALL_STATE_ANSWERED)
    post_consult_event (data, 0, status, reason);
  else if (state == GST_SIP_CALL_STATE_ENDED)
    post_consult_event (data, 1, status, reason);
}

/* streaming threads */
static GstBusSyncReply
consult_bus (GstBus *bus, GstMessage *msg, gpointer data)
{
  Consult *c = data;
  const GstStructure *s = gst_message_get_structure (msg);

  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT && s &&
      gst_structure_has_name (s, "tts-finished") &&
      g_strcmp0 (gst_structure_get_string (s, "text"), c->summary) == 0)
    post_consult_event (c, 2, 0, NULL);
  else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
    GST_WARNING ("consultation call: %" GST_PTR_FORMAT, msg);
  gst_message_unref (msg);
  return GST_BUS_DROP;
}

static gboolean
do_end_consult (gpointer data)
{
  ServerCall *sc = data;
  Consult *c = sc->consult;

  /* the REFER's outcome is in: our part in the consultation is over (the
   * target has usually replaced it already) */
  if (c && c->referred) {
    sc->consult = NULL;
    consult_free (c);
  }
  return G_SOURCE_REMOVE;
}

/* any thread */
static void
end_consult_later (ServerCall *sc)
{
  g_main_context_invoke_full (sc->server->context, G_PRIORITY_DEFAULT,
      do_end_consult, server_call_ref (sc), server_call_unref);
}

static gboolean
handle_element_message (ServerCall *sc, const GstStructure *s)
{
  const gchar *name = gst_structure_get_name (s);

  if (strcmp (name, "transcript") == 0) {
    gboolean final = FALSE;
    gdouble confidence = -1;
    const gchar *text = gst_structure_get_string (s, "text");

    gst_structure_get_boolean (s, "final", &final);
    if (!final || text == NULL || *text == '\0')
      return FALSE;
    gst_structure_get_double (s, "confidence", &confidence);
    gst_sip_record_add_turn (sc->record, "caller", text,
        call_seconds (sc, get_time (s, "start-time")),
        call_seconds (sc, get_time (s, "end-time")), confidence, FALSE);
    g_signal_emit (sc->server, signals[SIGNAL_CONVERSATION], 0, sc->call_id,
        office_name (sc), "caller", text);
    return TRUE;
  }
  if (strcmp (name, "tts-started") == 0) {
    const gchar *text = gst_structure_get_string (s, "text");
    if (text)
      g_signal_emit (sc->server, signals[SIGNAL_CONVERSATION], 0, sc->call_id,
          office_name (sc), "agent", text);
    return FALSE;
  }
  if (strcmp (name, "tts-finished") == 0) {
    const gchar *text = gst_structure_get_string (s, "text");
    GstClockTime end = get_time (s, "running-time");
    GstClockTime duration = get_time (s, "duration");
    gboolean interrupted = FALSE;
    gdouble end_s;

    if (text == NULL)
      return FALSE;
    gst_structure_get_boolean (s, "interrupted", &interrupted);
    /* dropped before it played: the caller never heard it */
    if (interrupted && duration == 0)
      return FALSE;
    end_s = call_seconds (sc, end);
    gst_sip_record_add_turn (sc->record, "agent", text,
        GST_CLOCK_TIME_IS_VALID (duration) ? end_s - duration / 1e9 : end_s,
        end_s, -1, interrupted);
    return TRUE;
  }
  if (strcmp (name, "intake") == 0) {
    const gchar *field = gst_structure_get_string (s, "field");
    const gchar *value = gst_structure_get_string (s, "value");
    gboolean complete = FALSE;
    const GstStructure *fields;

    if (field && value) {
      gst_sip_record_set_intake_field (sc->record, field, value);
      g_mutex_lock (&sc->lock);
      if (sc->intake == NULL)
        sc->intake = gst_structure_new_empty ("intake");
      gst_structure_set (sc->intake, field, G_TYPE_STRING, value, NULL);
      g_mutex_unlock (&sc->lock);
      return TRUE;
    }
    if (gst_structure_get_boolean (s, "complete", &complete))
      gst_sip_record_set_intake_complete (sc->record, complete);
    if (gst_structure_has_field_typed (s, "fields", GST_TYPE_STRUCTURE)) {
      fields = gst_value_get_structure (gst_structure_get_value (s, "fields"));
      gst_structure_foreach (fields, copy_intake_field, sc);
    }
    return TRUE;
  }
  if (strcmp (name, "agent-action") == 0) {
    const gchar *action = gst_structure_get_string (s, "action");
    const gchar *target = gst_structure_get_string (s, "target");

    gst_sip_record_add_action (
        sc->record, action, target, gst_structure_get_string (s, "reason"));
    /* sipbin acts on the message before it reaches this bus: the BYE may
     * have been answered already (on_call_state_changed found no action) */
    if (g_strcmp0 (action, "hangup") == 0 &&
        gst_sip_call_get_state (sc->call) == GST_SIP_CALL_STATE_ENDED &&
        g_strcmp0 (gst_sip_call_get_end_reason (sc->call), "local-hangup") == 0)
      gst_sip_record_set_action_result (sc->record, "hangup", "done");
    if (g_strcmp0 (action, "transfer") == 0 && sc->office->attended_transfer)
      start_consult (sc, target);
    /* sipbin hangs up; we call back once the call is over */
    if (g_strcmp0 (action, "callback") == 0) {
      gchar *number = NULL;

      if (target && *target && g_strcmp0 (target, "caller") != 0)
        number = g_strdup (target);
      else
        number = gst_sip_uri_get_user (gst_sip_call_get_from (sc->call));
      g_mutex_lock (&sc->lock);
      g_free (sc->callback);
      sc->callback = number;
      g_mutex_unlock (&sc->lock);
    }
    return TRUE;
  }
  if (strcmp (name, "sip-transfer") == 0) {
    const gchar *state = gst_structure_get_string (s, "state");
    gint status = 0;

    if (g_strcmp0 (state, "succeeded") == 0 ||
        g_strcmp0 (state, "failed") == 0) {
      gchar *result;

      gst_structure_get_int (s, "status", &status);
      result = status ? g_strdup_printf ("%s (%d)", state, status)
                      : g_strdup (state);
      gst_sip_record_set_action_result (sc->record, "transfer", result);
      g_free (result);
      end_consult_later (sc);
      return TRUE;
    }
  }
  return FALSE;
}

/* Streaming threads and the SIP thread. */
static GstBusSyncReply
on_bus_message (GstBus *bus, GstMessage *msg, gpointer data)
{
  ServerCall *sc = data;

  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ELEMENT:
      if (handle_element_message (sc, gst_message_get_structure (msg)))
        gst_sip_record_save (sc->record);
      break;
    case GST_MESSAGE_ERROR: {
      GError *err;
      gchar *debug;

      gst_message_parse_error (msg, &err, &debug);
      GST_WARNING (
          "call %s: %s (%s)", sc->call_id, err->message, debug ? debug : "");
      g_mutex_lock (&sc->lock);
      if (sc->error == NULL)
        sc->error = g_strdup (err->message);
      g_mutex_unlock (&sc->lock);
      gst_sip_record_set_error (sc->record, err->message);
      g_error_free (err);
      g_free (debug);
      /* one call's failure ends that call only */
      gst_sip_call_hangup (sc->call);
      schedule_teardown (sc);
      break;
    }
    default:
      break;
  }
  gst_message_unref (msg);
  return GST_BUS_DROP;
}

/* ---- a new call --------------------------------------------------------- */

static gboolean
has_property (GstElement *e, const gchar *name)
{
  return g_object_class_find_property (G_OBJECT_GET_CLASS (e), name) != NULL;
}

static void
apply_office (GstElement *e, const gchar *factory, ServerCall *sc)
{
  const GstSipOfficeConfig *o = sc->office;

  if (strcmp (factory, "agent") == 0) {
    if (o->script)
      g_object_set (e, "script", o->script, NULL);
    if (gst_sip_call_is_outgoing (sc->call))
      g_object_set (e, "outbound", TRUE, NULL);
  } else if (strcmp (factory, "ttsbridge") == 0) {
    /* backend first: a voice belongs to a backend */
    if (o->tts_backend)
      gst_util_set_object_arg (G_OBJECT (e), "backend", o->tts_backend);
    if (o->voice)
      g_object_set (e, "voice", o->voice, NULL);
  }
}

/* The audio next to the call's record: <record>.wav or <record>.ogg */
static void
attach_recording (ServerCall *sc, GstElement *pipeline)
{
  const gchar *what = sc->office->record_audio;
  gboolean wav = g_strcmp0 (what, "wav") == 0;
  const gchar *json = gst_sip_record_get_path (sc->record);
  gchar *path;
  GError *err = NULL;

  if (g_strcmp0 (what, "wav") != 0 && g_strcmp0 (what, "ogg") != 0)
    return;
  path = g_strdup_printf ("%.*s.%s", (int) (strlen (json) - strlen (".json")),
      json, wav ? "wav" : "ogg");
  if (gst_sip_recorder_attach (GST_BIN (pipeline), path,
          wav ? GST_SIP_RECORDING_WAV : GST_SIP_RECORDING_OGG_OPUS, &err)) {
    sc->recording = TRUE;
    gst_sip_record_set_recording (sc->record, path);
  } else {
    /* a call without its recording is still a call */
    GST_WARNING_OBJECT (
        sc->server, "call %s: no recording: %s", sc->call_id, err->message);
    g_error_free (err);
  }
  g_free (path);
}

static gchar *
call_launch_line (GstSipServerConfig *c)
{
  gchar *media = c->media_address
      ? g_strdup_printf ("media-address=%s ", c->media_address)
      : g_strdup ("");
  gchar *line = g_strdup_printf ("sipbin.( name=call rtp-port-min=%u "
                                 "rtp-port-max=%u %s%s )",
      c->rtp_port_min, c->rtp_port_max, media, c->launch);

  g_free (media);
  return line;
}

/* Builder thread: the pipeline loads models and scripts here, while the
 * caller hears ringing, not on the SIP thread where it would hold up every
 * other call's signalling. */
static void
build_call (gpointer data, gpointer user_data)
{
  ServerCall *sc = data;
  GstSipServer *self = sc->server;
  gchar *launch = call_launch_line (sc->config);
  GError *err = NULL;
  GstElement *parsed, *pipeline = NULL;
  gboolean end;

  parsed =
      gst_parse_launch_full (launch, NULL, GST_PARSE_FLAG_FATAL_ERRORS, &err);
  g_free (launch);
  if (parsed == NULL) {
    GST_ERROR_OBJECT (
        self, "call %s: bad launch template: %s", sc->call_id, err->message);
    g_mutex_lock (&sc->lock);
    if (sc->error == NULL)
      sc->error = g_strdup (err->message);
    g_mutex_unlock (&sc->lock);
    gst_sip_record_set_error (sc->record, err->message);
    g_error_free (err);
  } else {
    GstBus *bus;
    GstElement *sipbin = parsed;

    pipeline = gst_pipeline_new (sc->call_id);
    gst_bin_add (GST_BIN (pipeline), parsed);
    g_object_set (sipbin, "call", sc->call, NULL);
    if (sc->office->transfer && has_property (sipbin, "transfer-target"))
      g_object_set (sipbin, "transfer-target", sc->office->transfer, NULL);
    if (has_property (sipbin, "media-timeout"))
      g_object_set (
          sipbin, "media-timeout", sc->config->media_timeout * 1000, NULL);
    if (sc->config->external_address &&
        has_property (sipbin, "external-address"))
      g_object_set (
          sipbin, "external-address", sc->config->external_address, NULL);
    if (has_property (sipbin, "srtp")) {
      /* the call's trunk's policy, else the server's */
      const gchar *trunk = gst_sip_call_get_trunk (sc->call);
      const GstSipTrunkConfig *tc =
          trunk ? gst_sip_server_config_get_trunk (sc->config, trunk) : NULL;

      g_object_set (sipbin, "srtp",
          tc && tc->srtp >= 0 ? tc->srtp : sc->config->srtp, NULL);
    }
    if (sc->office->attended_transfer && has_property (sipbin, "transfer-mode"))
      g_object_set (sipbin, "transfer-mode", "application", NULL);
    foreach_element (pipeline, apply_office, sc);
    attach_recording (sc, pipeline);
    sc->bus_pipeline = pipeline;
    bus = gst_element_get_bus (pipeline);
    gst_bus_set_sync_handler (
        bus, on_bus_message, server_call_ref (sc), server_call_unref);
    gst_object_unref (bus);
    g_signal_emit (self, signals[SIGNAL_CALL_PIPELINE], 0, sc->call, pipeline,
        sc->office->name);
  }

  g_mutex_lock (&sc->lock);
  sc->pipeline = pipeline ? gst_object_ref (pipeline) : NULL;
  sc->built = TRUE;
  end = sc->end_requested;
  g_mutex_unlock (&sc->lock);

  if (pipeline && !end &&
      gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
          GST_STATE_CHANGE_FAILURE) {
    GST_ERROR_OBJECT (self, "call %s: pipeline did not start", sc->call_id);
    end = TRUE;
  }
  if (pipeline == NULL) {
    if (gst_sip_call_is_outgoing (sc->call))
      gst_sip_call_hangup (sc->call);
    else
      gst_sip_call_reject (sc->call, 500, "Server Internal Error", 0);
    end = TRUE;
  }
  if (pipeline)
    gst_object_unref (pipeline);
  if (end)
    schedule_teardown (sc);
  server_call_unref (sc);
}

static void
reject (GstSipServer *self, GstSipCall *call, guint status, const gchar *phrase,
    guint retry_after, const gchar *reason, const GstSipServerConfig *config,
    const gchar *did)
{
  GstSipRecord *record;

  gst_sip_call_reject (call, status, phrase, retry_after);
  g_signal_emit (self, signals[SIGNAL_CALL_REJECTED], 0,
      gst_sip_call_get_call_id (call), gst_sip_call_get_from (call),
      gst_sip_call_get_to (call), (gint) status, reason);
  /* every call leaves a record, the refused ones too */
  record = gst_sip_record_new (config->records, gst_sip_call_get_call_id (call),
      gst_sip_call_get_from (call), gst_sip_call_get_to (call), did, NULL);
  gst_sip_record_set_trunk (record, gst_sip_call_get_trunk (call));
  gst_sip_record_end (record, reason, status);
  gst_sip_record_save (record);
  gst_sip_record_unref (record);
}

/* The dialled number picks the office: the Request-URI's user, or the To
 * user when the Request-URI is a registration contact (sip:agent@host). */
static const GstSipOfficeConfig *
route (GstSipServerConfig *config, GstSipCall *call, gchar **did)
{
  const gchar *uris[] = {
      gst_sip_call_get_request_uri (call), gst_sip_call_get_to (call)};
  const GstSipOfficeConfig *office = NULL;
  guint i;

  *did = NULL;
  for (i = 0; i < G_N_ELEMENTS (uris) && office == NULL; i++) {
    gchar *user = gst_sip_uri_get_user (uris[i]);

    office = gst_sip_server_config_find_office (config, user);
    if (*did == NULL && user && (user[0] == '+' || g_ascii_isdigit (user[0])))
      *did = g_strdup (user);
    if (office) {
      g_free (*did);
      *did = user;
      user = NULL;
    }
    g_free (user);
  }
  if (office == NULL && config->default_office)
    office = gst_sip_server_config_get_office (config, config->default_office);
  /* an office's numbers are answered on its own trunk only */
  if (office && office->trunk && gst_sip_call_get_trunk (call) &&
      strcmp (office->trunk, gst_sip_call_get_trunk (call)) != 0) {
    GST_INFO ("call %s on trunk %s for office %s, which is on trunk %s",
        gst_sip_call_get_call_id (call), gst_sip_call_get_trunk (call),
        office->name, office->trunk);
    office = NULL;
  }
  return office;
}

/* A call the server takes on (one it answers, or one it places), counted
 * in max-calls; returns a reference for the builder. */
static ServerCall *
add_call (GstSipServer *self, GstSipCall *call, GstSipServerConfig *config,
    const GstSipOfficeConfig *office, const gchar *did)
{
  ServerCall *sc = g_new0 (ServerCall, 1);

  sc->refcount = 1;
  g_mutex_init (&sc->lock);
  sc->server = gst_object_ref (self);
  sc->call = gst_object_ref (call);
  sc->call_id = g_strdup (gst_sip_call_get_call_id (call));
  sc->config = gst_sip_server_config_ref (config);
  sc->office = office;
  sc->record = gst_sip_record_new (config->records, sc->call_id,
      gst_sip_call_get_from (call), gst_sip_call_get_to (call), did,
      office->name);
  gst_sip_record_set_trunk (sc->record, gst_sip_call_get_trunk (call));
  if (gst_sip_call_is_outgoing (call))
    gst_sip_record_set_outbound (sc->record);
  GST_OBJECT_LOCK (self);
  self->calls = g_list_prepend (self->calls, sc);
  self->active++;
  GST_OBJECT_UNLOCK (self);
  sc->state_handler = g_signal_connect_data (call, "state-changed",
      G_CALLBACK (on_call_state_changed), server_call_ref (sc),
      server_call_closure_notify, 0);
  return server_call_ref (sc);
}

/* SIP thread */
static void
on_incoming_call (GstSipEndpoint *endpoint, GstSipCall *call, gpointer data)
{
  GstSipServer *self = data;
  GstSipServerConfig *config;
  const GstSipOfficeConfig *office;
  gboolean draining, full;
  ServerCall *sc;
  gchar *did;

  GST_OBJECT_LOCK (self);
  config = gst_sip_server_config_ref (self->config);
  draining = self->draining || self->stopping;
  full = self->active >= config->max_calls;
  GST_OBJECT_UNLOCK (self);

  office = route (config, call, &did);
  if (office == NULL) {
    reject (self, call, 404, "Not Found", 0, "unknown-number", config, did);
  } else if (draining) {
    reject (self, call, 503, "Service Unavailable", config->retry_after,
        "shutting-down", config, did);
  } else if (full) {
    reject (self, call, 503, "Service Unavailable", config->retry_after,
        "max-calls", config, did);
  } else {
    GST_INFO_OBJECT (self, "call %s from %s to %s: office %s",
        gst_sip_call_get_call_id (call), gst_sip_call_get_from (call),
        did ? did : "?", office->name);
    sc = add_call (self, call, config, office, did);
    /* the caller hears ringing while the pipeline is built */
    gst_sip_call_respond (call, 180, "Ringing", NULL, NULL);
    gst_sip_record_save (sc->record);
    g_thread_pool_push (self->builders, sc, NULL);
  }
  g_free (did);
  gst_sip_server_config_unref (config);
}

/* SIP thread */
static void
on_registration_state (GstSipTrunk *trunk, gint state, gint status,
    const gchar *phrase, guint retry, gpointer data)
{
  g_signal_emit (data, signals[SIGNAL_TRUNK_STATE], 0,
      gst_sip_trunk_get_config (trunk)->name, "registration",
      gst_sip_registration_state_name (state), status, phrase);
}

static void
on_qualify_state (GstSipTrunk *trunk, gboolean up, gint status,
    const gchar *phrase, gpointer data)
{
  g_signal_emit (data, signals[SIGNAL_TRUNK_STATE], 0,
      gst_sip_trunk_get_config (trunk)->name, "qualify", up ? "up" : "down",
      status, phrase);
}

/* [server] stt-preload: the speech recognizers of the launch template's
 * sttbridges are loaded before the first call instead of by each call
 * (pocketsphinx: ~0.27 s of CPU and ~95 MB a decoder), into sttbridge's
 * process-wide pool, where the calls' own sttbridges find them. Start-up
 * waits for it. A template that does not parse fails its calls later, as
 * without preloading. */
static void
preload_stt (GstSipServer *self, GstSipServerConfig *c)
{
  gchar *launch;
  GstElement *bin;
  GstIterator *it;
  GValue item = G_VALUE_INIT;

  if (c->stt_preload == 0)
    return;
  launch = call_launch_line (c);
  bin = gst_parse_launch_full (launch, NULL, GST_PARSE_FLAG_FATAL_ERRORS, NULL);
  g_free (launch);
  if (bin == NULL)
    return;
  it = gst_bin_iterate_all_by_element_factory_name (GST_BIN (bin), "sttbridge");
  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    gint idle = -1;

    g_signal_emit_by_name (
        g_value_get_object (&item), "preload", c->stt_preload, &idle);
    GST_INFO_OBJECT (self, "speech recognizers ready: %d", idle);
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  gst_object_unref (gst_object_ref_sink (bin));
}

gboolean
gst_sip_server_start (GstSipServer *self, GError **error)
{
  GstSipServerConfig *c = self->config;
  GstSipEndpointSettings settings = GST_SIP_ENDPOINT_SETTINGS_INIT;
  gchar *uri;

  if (g_mkdir_with_parents (c->records, 0750) != 0 ||
      g_access (c->records, W_OK) != 0) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_ACCES,
        "cannot write call records to %s: %s", c->records, g_strerror (errno));
    return FALSE;
  }
  preload_stt (self, c);
  /* two builders: a call's set-up never waits for more than one other */
  self->builders = g_thread_pool_new (build_call, self, 2, FALSE, NULL);
  uri = g_strdup_printf ("sip:agent@%s", c->listen);
  settings.session_expires = c->session_expires;
  settings.external_address = c->external_address;
  settings.tls_port = c->tls_port;
  settings.tls_dir = c->tls_dir;
  settings.tls_verify = c->tls_verify;
  self->endpoint = gst_sip_endpoint_new_full (
      uri, "gst-sip-agent/" VERSION, &settings, error);
  g_free (uri);
  if (self->endpoint == NULL)
    return FALSE;
  g_signal_connect (
      self->endpoint, "incoming-call", G_CALLBACK (on_incoming_call), self);
  self->trunks = g_ptr_array_new_with_free_func (gst_object_unref);
  for (guint i = 0; i < c->trunks->len; i++) {
    GstSipTrunk *trunk =
        gst_sip_trunk_new (self->endpoint, g_ptr_array_index (c->trunks, i));

    g_signal_connect (
        trunk, "registration-state", G_CALLBACK (on_registration_state), self);
    g_signal_connect (
        trunk, "qualify-state", G_CALLBACK (on_qualify_state), self);
    g_ptr_array_add (self->trunks, trunk);
  }
  return TRUE;
}

GstSipTrunk *
gst_sip_server_get_trunk (GstSipServer *self, const gchar *name)
{
  for (guint i = 0; self->trunks && i < self->trunks->len; i++) {
    GstSipTrunk *trunk = g_ptr_array_index (self->trunks, i);

    if (strcmp (gst_sip_trunk_get_config (trunk)->name, name) == 0)
      return trunk;
  }
  return NULL;
}

static gboolean
same_trunks (const GstSipServerConfig *a, const GstSipServerConfig *b)
{
  if (a->trunks->len != b->trunks->len)
    return FALSE;
  for (guint i = 0; i < a->trunks->len; i++) {
    const GstSipTrunkConfig *x = g_ptr_array_index (a->trunks, i);
    const GstSipTrunkConfig *y = g_ptr_array_index (b->trunks, i);

    if (g_strcmp0 (x->name, y->name) ||
        g_strcmp0 (x->registrar, y->registrar) ||
        g_strcmp0 (x->proxy, y->proxy) ||
        g_strcmp0 (x->username, y->username) ||
        g_strcmp0 (x->password, y->password) || x->expires != y->expires ||
        (x->allow == NULL) != (y->allow == NULL) ||
        (x->allow &&
            (x->allow->len != y->allow->len ||
                memcmp (x->allow->data, y->allow->data,
                    x->allow->len * sizeof (GstSipCidr)))))
      return FALSE;
  }
  return TRUE;
}

void
gst_sip_server_reload (GstSipServer *self, GstSipServerConfig *config)
{
  GstSipServerConfig *old;

  GST_OBJECT_LOCK (self);
  old = self->config;
  self->config = gst_sip_server_config_ref (config);
  GST_OBJECT_UNLOCK (self);
  if (g_strcmp0 (old->listen, config->listen) != 0)
    GST_WARNING_OBJECT (self,
        "listen changed from %s to %s: takes a restart, still on %s",
        old->listen, config->listen, old->listen);
  if (!same_trunks (old, config))
    GST_WARNING_OBJECT (self,
        "[trunk] groups changed: takes a restart; the running trunks stay "
        "as they were");
  gst_sip_server_config_unref (old);
}

static gboolean
force_teardown (gpointer data)
{
  GstSipServer *self = data;
  GList *calls, *l;

  GST_OBJECT_LOCK (self);
  calls = g_list_copy_deep (self->calls, server_call_copy, NULL);
  GST_OBJECT_UNLOCK (self);
  for (l = calls; l; l = l->next)
    teardown (l->data);
  g_list_free_full (calls, server_call_unref);
  return G_SOURCE_REMOVE;
}

static gboolean
hang_up_all (gpointer data)
{
  GstSipServer *self = data;
  GList *calls, *l;
  GSource *grace;

  GST_OBJECT_LOCK (self);
  calls = g_list_copy_deep (self->calls, server_call_copy, NULL);
  GST_OBJECT_UNLOCK (self);
  GST_INFO_OBJECT (
      self, "drain timeout: hanging up %u calls", g_list_length (calls));
  for (l = calls; l; l = l->next)
    gst_sip_call_hangup (((ServerCall *) l->data)->call);
  g_list_free_full (calls, server_call_unref);

  grace = g_timeout_source_new_seconds (HANGUP_GRACE_SECONDS);
  g_source_set_callback (
      grace, force_teardown, gst_object_ref (self), gst_object_unref);
  g_source_attach (grace, self->context);
  g_source_unref (grace);
  return G_SOURCE_REMOVE;
}

void
gst_sip_server_drain (GstSipServer *self)
{
  guint timeout;

  GST_OBJECT_LOCK (self);
  if (self->draining) {
    GST_OBJECT_UNLOCK (self);
    return;
  }
  self->draining = TRUE;
  timeout = self->config->drain_timeout;
  GST_OBJECT_UNLOCK (self);

  GST_INFO_OBJECT (self, "draining: %u calls, %u s",
      gst_sip_server_get_active_calls (self), timeout);
  self->drain_timer = g_timeout_source_new_seconds (timeout);
  g_source_set_callback (
      self->drain_timer, hang_up_all, gst_object_ref (self), gst_object_unref);
  g_source_attach (self->drain_timer, self->context);
  emit_drained_if_done (self);
}

void
gst_sip_server_stop (GstSipServer *self)
{
  GST_OBJECT_LOCK (self);
  self->stopping = TRUE;
  GST_OBJECT_UNLOCK (self);

  if (self->drain_timer) {
    g_source_destroy (self->drain_timer);
    g_source_unref (self->drain_timer);
    self->drain_timer = NULL;
  }
  /* builders finish first: teardown needs built calls */
  if (self->builders) {
    g_thread_pool_free (self->builders, FALSE, TRUE);
    self->builders = NULL;
  }
  force_teardown (self);
  if (self->endpoint)
    gst_sip_endpoint_shutdown (self->endpoint);
  /* the teardowns the builders and the SIP thread queued */
  while (g_main_context_iteration (self->context, FALSE))
    ;
  force_teardown (self);
  gst_sip_record_wait_saved ();
}

gchar *
gst_sip_server_dial (GstSipServer *self, const gchar *office_name,
    const gchar *number, GError **error)
{
  GstSipServerConfig *config;
  const GstSipOfficeConfig *office;
  GstSipTrunk *trunk = NULL;
  GstSipCall *call = NULL;
  gchar *request_uri = NULL, *from = NULL, *route = NULL, *call_id = NULL;
  gboolean draining, full;
  ServerCall *sc;

  g_return_val_if_fail (self->endpoint != NULL, NULL);
  GST_OBJECT_LOCK (self);
  config = gst_sip_server_config_ref (self->config);
  draining = self->draining || self->stopping;
  full = self->active >= config->max_calls;
  GST_OBJECT_UNLOCK (self);

  office = gst_sip_server_config_get_office (config, office_name);
  if (office == NULL) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
        "no [office %s]", office_name);
  } else if (draining || full) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_BUSY, "%s",
        draining ? "the server is stopping" : "max-calls reached");
  } else {
    outgoing_route (self, config, office, number, &trunk, &request_uri, &from,
        &route, error);
  }

  if (request_uri) {
    call = gst_sip_call_new_outgoing (
        self->endpoint, request_uri, from, route, trunk);
    call_id = g_strdup (gst_sip_call_get_call_id (call));
    GST_INFO_OBJECT (self, "call %s: office %s dials %s", call_id, office->name,
        request_uri);
    sc = add_call (self, call, config, office, number);
    gst_sip_record_save (sc->record);
    g_thread_pool_push (self->builders, sc, NULL);
    gst_object_unref (call);
  }
  g_free (request_uri);
  g_free (from);
  g_free (route);
  gst_sip_server_config_unref (config);
  return call_id;
}
