/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The server: answers every call on the configured numbers with a voice
 * agent pipeline and writes a record per call. docs/server.md.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>
#include <gst/sip/gstsipendpoint.h>
#include <gst/sip/gstsipserver.h>
#include <glib-unix.h>
#include <stdlib.h>
#include <sys/resource.h>

#define EXIT_CONFIG 2

static GMainLoop *loop;
static GstSipServer *server;
static gchar *config_path;
static gchar *listen_override;
static gchar *records_override;
static gboolean print_conversation;
static gboolean no_trunks;
static gchar *dial_number;
static gchar *dial_office;
static gchar *dial_call_id;
static guint dial_attempts;
/* the dialled call's outcome, written on the SIP thread before it ends */
static gint dial_answered;
static gint dial_status;
static gchar *dial_reason;
static gboolean draining;

static GstSipServerConfig *
load_config (GError **error)
{
  GstSipServerConfig *config = gst_sip_server_config_load (config_path, error);

  if (config == NULL)
    return NULL;
  if (listen_override) {
    g_free (config->listen);
    config->listen = g_strdup (listen_override);
  }
  if (records_override) {
    g_free (config->records);
    config->records = g_canonicalize_filename (records_override, NULL);
  }
  if (no_trunks) {
    g_ptr_array_set_size (config->trunks, 0);
    for (guint i = 0; i < config->offices->len; i++) {
      GstSipOfficeConfig *o = g_ptr_array_index (config->offices, i);
      g_clear_pointer (&o->trunk, g_free);
    }
  }
  return config;
}

/* The agent checks its script, ttsbridge its backend and voice, at READY:
 * do it for every office now so that a mistake stops the server at start,
 * not a caller mid-call. @element is taken. */
static gboolean
check_at_ready (GstElement *element, GError **error)
{
  GstElement *pipeline = gst_pipeline_new (NULL);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg;
  gboolean ok = TRUE;

  gst_bin_add (GST_BIN (pipeline), element);
  if (gst_element_set_state (pipeline, GST_STATE_READY) ==
      GST_STATE_CHANGE_FAILURE) {
    ok = FALSE;
    msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    if (msg) {
      GError *err;
      gst_message_parse_error (msg, &err, NULL);
      g_propagate_error (error, err);
      gst_message_unref (msg);
    } else {
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_STATE_CHANGE,
          "%s did not start", GST_ELEMENT_NAME (element));
    }
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return ok;
}

static GstElement *
make_element (const gchar *factory, GError **error)
{
  GstElement *e = gst_element_factory_make (factory, NULL);

  if (e == NULL)
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
        "no %s element: is GST_PLUGIN_PATH set to gst-sip-agent's plugins?",
        factory);
  return e;
}

static gboolean
check_office (GstSipOfficeConfig *o, GError **error)
{
  GstElement *e;

  if (o->script) {
    if ((e = make_element ("agent", error)) == NULL)
      return FALSE;
    g_object_set (e, "script", o->script, NULL);
    if (!check_at_ready (e, error)) {
      g_prefix_error (error, "[office %s] script: ", o->name);
      return FALSE;
    }
  }
  if (o->tts_backend || o->voice) {
    if ((e = make_element ("ttsbridge", error)) == NULL)
      return FALSE;
    if (o->tts_backend)
      gst_util_set_object_arg (G_OBJECT (e), "backend", o->tts_backend);
    if (o->voice)
      g_object_set (e, "voice", o->voice, NULL);
    if (!check_at_ready (e, error)) {
      g_prefix_error (
          error, "%s:%u: [office %s] voice: ", config_path, o->line, o->name);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
check_config (GstSipServerConfig *config, GError **error)
{
  GstElement *parsed;
  gchar *launch;
  guint i;

  /* the template as every call gets it: elements exist, links parse */
  launch = g_strdup_printf ("sipbin.( %s )", config->launch);
  parsed =
      gst_parse_launch_full (launch, NULL, GST_PARSE_FLAG_FATAL_ERRORS, error);
  g_free (launch);
  if (parsed == NULL) {
    if (g_error_matches (
            *error, GST_PARSE_ERROR, GST_PARSE_ERROR_NO_SUCH_ELEMENT))
      g_prefix_error (error,
          "%s: launch (is GST_PLUGIN_PATH set to where "
          "gst-sip-agent's plugins are?): ",
          config->filename);
    else
      g_prefix_error (error, "%s: launch: ", config->filename);
    return FALSE;
  }
  gst_object_unref (parsed);
  for (i = 0; i < config->offices->len; i++) {
    if (!check_office (g_ptr_array_index (config->offices, i), error))
      return FALSE;
  }
  return TRUE;
}

static gchar *
now_string (void)
{
  GDateTime *now = g_date_time_new_now_local ();
  gchar *s = g_date_time_format (now, "%H:%M:%S");

  g_date_time_unref (now);
  return s;
}

static void
print_offices (GstSipServerConfig *config)
{
  guint i;

  for (i = 0; i < config->offices->len; i++) {
    GstSipOfficeConfig *o = g_ptr_array_index (config->offices, i);
    gchar *dids = g_strjoinv (", ", o->dids);

    g_print ("  office %s: %s%s%s -> %s%s%s\n", o->name, dids,
        o->trunk ? " on trunk " : "", o->trunk ? o->trunk : "",
        o->script ? o->script : "built-in receptionist",
        o->transfer ? ", transfers to " : "", o->transfer ? o->transfer : "");
    g_free (dids);
  }
  for (i = 0; i < config->trunks->len; i++) {
    GstSipTrunkConfig *t = g_ptr_array_index (config->trunks, i);

    g_print ("  trunk %s:", t->name);
    if (t->registrar)
      g_print (" registers at %s as %s,", t->registrar, t->username);
    if (t->allow)
      g_print (" takes calls from its allow list");
    else if (t->registrar && t->proxy)
      g_print (
          " takes calls from %s's and %s's addresses", t->registrar, t->proxy);
    else if (t->registrar || t->proxy)
      g_print (" takes calls from %s's addresses",
          t->proxy ? t->proxy : t->registrar);
    else
      g_print (" takes calls that authenticate as %s", t->username);
    g_print ("\n");
  }
}

static void
on_trunk_state (GstSipServer *s, const gchar *trunk, const gchar *what,
    const gchar *state, gint status, const gchar *phrase, gpointer data)
{
  gchar *t = now_string ();

  if (status)
    g_print ("%s trunk %s %s: %s (%d %s)\n", t, trunk, what, state, status,
        phrase ? phrase : "");
  else if (phrase)
    g_print ("%s trunk %s %s: %s (%s)\n", t, trunk, what, state, phrase);
  else
    g_print ("%s trunk %s %s: %s\n", t, trunk, what, state);
  g_free (t);
}

/* SIP thread */
static void
on_dialled_call_state (GstSipCall *call, gint state, gint status,
    const gchar *reason, gpointer data)
{
  if (state == GST_SIP_CALL_STATE_ANSWERED) {
    g_atomic_int_set (&dial_answered, 1);
  } else if (state == GST_SIP_CALL_STATE_ENDED) {
    dial_status = status;
    g_free (dial_reason);
    dial_reason = g_strdup (reason);
  }
}

static void
on_call_pipeline (GstSipServer *s, GstSipCall *call, GstElement *pipeline,
    const gchar *office, gpointer data)
{
  gchar *t = now_string ();

  if (gst_sip_call_is_outgoing (call))
    g_print ("%s call %s to %s from office %s\n", t,
        gst_sip_call_get_call_id (call), gst_sip_call_get_to (call), office);
  else
    g_print ("%s call %s from %s to %s: office %s\n", t,
        gst_sip_call_get_call_id (call), gst_sip_call_get_from (call),
        gst_sip_call_get_to (call), office);
  g_free (t);
  if (g_strcmp0 (gst_sip_call_get_call_id (call), dial_call_id) == 0)
    g_signal_connect (
        call, "state-changed", G_CALLBACK (on_dialled_call_state), NULL);
}

static void
on_call_rejected (GstSipServer *s, const gchar *call_id, const gchar *from,
    const gchar *to, gint status, const gchar *reason, gpointer data)
{
  gchar *t = now_string ();

  g_print ("%s call %s from %s to %s refused: %d (%s)\n", t, call_id, from, to,
      status, reason);
  g_free (t);
}

static void
on_conversation (GstSipServer *s, const gchar *call_id, const gchar *office,
    const gchar *role, const gchar *text, gpointer data)
{
  gchar *t = now_string ();

  g_print ("%s   [%s] %-6s %s\n", t, office, role, text);
  g_free (t);
}

static void
on_call_ended (
    GstSipServer *s, const gchar *call_id, const gchar *record, gpointer data)
{
  gchar *t = now_string ();

  g_print ("%s call %s ended; record %s\n", t, call_id, record);
  g_free (t);
  if (g_strcmp0 (call_id, dial_call_id) == 0 && !draining) {
    if (g_atomic_int_get (&dial_answered))
      g_print (
          "gst-sip-agent: the call to %s was answered; done\n", dial_number);
    else
      g_print ("gst-sip-agent: the call to %s failed: %d (%s)\n", dial_number,
          dial_status, dial_reason ? dial_reason : "?");
    draining = TRUE;
    gst_sip_server_drain (server);
  }
}

static void
on_drained (GstSipServer *s, gpointer data)
{
  g_print ("gst-sip-agent: no calls left, stopping\n");
  g_main_loop_quit (loop);
}

static gboolean
on_terminate (gpointer data)
{
  if (draining) {
    g_print ("gst-sip-agent: stopping now\n");
    g_main_loop_quit (loop);
    return G_SOURCE_CONTINUE;
  }
  draining = TRUE;
  g_print ("gst-sip-agent: taking no new calls; %u in progress (signal again "
           "to stop at once)\n",
      gst_sip_server_get_active_calls (server));
  gst_sip_server_drain (server);
  return G_SOURCE_CONTINUE;
}

/* The office's trunk may still be resolving its carrier: try for a while. */
static gboolean
dial (gpointer data)
{
  GError *err = NULL;

  dial_call_id = gst_sip_server_dial (server, dial_office, dial_number, &err);
  if (dial_call_id) {
    g_print ("gst-sip-agent: calling %s from office %s (call %s)\n",
        dial_number, dial_office, dial_call_id);
    return G_SOURCE_REMOVE;
  }
  if (g_error_matches (
          err, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_WRITE) &&
      ++dial_attempts < 50) {
    g_clear_error (&err);
    return G_SOURCE_CONTINUE;
  }
  g_printerr ("gst-sip-agent: cannot call %s: %s\n", dial_number, err->message);
  g_clear_error (&err);
  dial_status = -1;
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_reload (gpointer data)
{
  GError *err = NULL;
  GstSipServerConfig *config = load_config (&err);

  if (config == NULL || !check_config (config, &err)) {
    g_printerr ("gst-sip-agent: reload failed, keeping the old config: %s\n",
        err->message);
    g_clear_error (&err);
  } else {
    gst_sip_server_reload (server, config);
    g_print ("gst-sip-agent: reloaded %s (for new calls)\n", config_path);
    print_offices (config);
  }
  if (config)
    gst_sip_server_config_unref (config);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  gboolean check = FALSE;
  GOptionEntry entries[] = {
      {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
          "Configuration file (docs/server.md)", "FILE"},
      {"listen", 'l', 0, G_OPTION_ARG_STRING, &listen_override,
          "SIP address, overrides [server] listen", "HOST:PORT"},
      {"records", 'r', 0, G_OPTION_ARG_FILENAME, &records_override,
          "Call record directory, overrides [server] records", "DIR"},
      {"check", 0, 0, G_OPTION_ARG_NONE, &check,
          "Check the configuration (and the offices' scripts) and exit", NULL},
      {"print-conversation", 'p', 0, G_OPTION_ARG_NONE, &print_conversation,
          "Print what callers say and what the agent answers", NULL},
      {"dial", 0, 0, G_OPTION_ARG_STRING, &dial_number,
          "Call NUMBER (E.164, through the office's trunk) with the office's "
          "agent, then stop (with --office)",
          "NUMBER"},
      {"office", 0, 0, G_OPTION_ARG_STRING, &dial_office,
          "The office that --dial calls from", "NAME"},
      {"no-trunks", 0, 0, G_OPTION_ARG_NONE, &no_trunks,
          "Leave out the [trunk] groups: no registration, and calls are "
          "taken from anyone on listen (to try a configuration on one "
          "machine)",
          NULL},
      {NULL}};
  GOptionContext *ctx =
      g_option_context_new ("- answer SIP calls with a voice agent");
  GError *err = NULL;
  GstSipServerConfig *config;
  struct rlimit fds;

  g_option_context_set_summary (ctx,
      "Answers the calls to each office's numbers with a speech-to-text, "
      "dialog and text-to-speech pipeline, and writes one JSON record per "
      "call.\n\nSIGTERM or SIGINT: take no new calls (503), let calls finish "
      "for [server] drain-timeout, then hang up and exit 0; a second signal "
      "stops at once. SIGHUP: reload the configuration for new calls.\n\n"
      "Exit status: 0 stopped, 1 could not start, 2 configuration error; "
      "with --dial, 0 when the call was answered and 1 when it was not.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("gst-sip-agent: %s\n", err->message);
    return EXIT_CONFIG;
  }
  g_option_context_free (ctx);
  if (config_path == NULL) {
    g_printerr ("gst-sip-agent: --config FILE is required (see --help)\n");
    return EXIT_CONFIG;
  }
  if ((dial_number == NULL) != (dial_office == NULL)) {
    g_printerr ("gst-sip-agent: --dial NUMBER and --office NAME go together\n");
    return EXIT_CONFIG;
  }
  gst_sip_agent_init ();

  config = load_config (&err);
  if (config && listen_override) {
    /* the same rules as the file's listen key */
    gchar *text = g_strdup_printf (
        "[server]\nlisten = %s\n[office check]\ndid = +10000000\n",
        listen_override);
    GstSipServerConfig *c =
        gst_sip_server_config_load_data ("--listen", text, &err);
    g_free (text);
    if (c == NULL)
      g_clear_pointer (&config, gst_sip_server_config_unref);
    else
      gst_sip_server_config_unref (c);
  }
  if (config == NULL || !check_config (config, &err)) {
    g_printerr ("gst-sip-agent: %s\n", err->message);
    return EXIT_CONFIG;
  }
  if (check) {
    g_print ("%s: OK, %u offices\n", config_path, config->offices->len);
    print_offices (config);
    gst_sip_server_config_unref (config);
    return 0;
  }

  /* one RTP socket per call and the pipelines' own fds: the default soft
   * limit of 1024 stops a process at about 250 calls */
  if (getrlimit (RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
    fds.rlim_cur = fds.rlim_max;
    setrlimit (RLIMIT_NOFILE, &fds);
  }

  loop = g_main_loop_new (NULL, FALSE);
  server = gst_sip_server_new (config);
  g_signal_connect (
      server, "call-pipeline", G_CALLBACK (on_call_pipeline), NULL);
  g_signal_connect (
      server, "call-rejected", G_CALLBACK (on_call_rejected), NULL);
  g_signal_connect (server, "call-ended", G_CALLBACK (on_call_ended), NULL);
  g_signal_connect (server, "drained", G_CALLBACK (on_drained), NULL);
  g_signal_connect (server, "trunk-state", G_CALLBACK (on_trunk_state), NULL);
  if (print_conversation)
    g_signal_connect (
        server, "conversation", G_CALLBACK (on_conversation), NULL);
  if (!gst_sip_server_start (server, &err)) {
    g_printerr ("gst-sip-agent: %s\n", err->message);
    return 1;
  }
  g_unix_signal_add (SIGTERM, on_terminate, NULL);
  g_unix_signal_add (SIGINT, on_terminate, NULL);
  g_unix_signal_add (SIGHUP, on_reload, NULL);
  g_print ("gst-sip-agent: listening on %s (UDP and TCP), up to %u calls, "
           "records in %s\n",
      config->listen, config->max_calls, config->records);
  if (config->tls_port)
    g_print ("gst-sip-agent: TLS on port %u (certificates in %s)\n",
        config->tls_port, config->tls_dir);
  print_offices (config);
  if (dial_number)
    g_timeout_add (200, dial, NULL);

  g_main_loop_run (loop);

  gst_sip_server_stop (server);
  gst_object_unref (server);
  gst_sip_server_config_unref (config);
  g_main_loop_unref (loop);
  g_print ("gst-sip-agent: stopped\n");
  if (dial_number)
    return g_atomic_int_get (&dial_answered) ? 0 : 1;
  return 0;
}
