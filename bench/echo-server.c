/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Benchmark peer: one SIP endpoint, one echo pipeline per call
 *   sipbin call=<call> ( sipsrc receive-thread=T ! DEPAY ! PAY ! sipsink )
 * the way the gst-sip-agent server runs calls. Prints "answered LOCAL
 * REMOTE" (media addresses) per answered call and a status line every 5 s.
 * Exits on SIGINT/SIGTERM.
 */
#include <gst/gst.h>
#include <gst/sip/gstsipendpoint.h>
#include <gst/sip/gstsipcall.h>
#include <glib-unix.h>
#include <sys/resource.h>

static GMainLoop *loop;
static gchar *launch_line;
static gint active_calls;
static gint total_calls;

static gboolean
destroy_pipeline (gpointer data)
{
  GstElement *pipeline = data;

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  g_atomic_int_add (&active_calls, -1);
  return G_SOURCE_REMOVE;
}

/* Runs on whatever thread posts: hand the teardown to the main loop. */
static GstBusSyncReply
on_bus_message (GstBus *bus, GstMessage *msg, gpointer data)
{
  GstElement *pipeline = data;
  const GstStructure *s = gst_message_get_structure (msg);
  gboolean done = FALSE;

  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err;

    gst_message_parse_error (msg, &err, NULL);
    g_printerr ("call pipeline error: %s\n", err->message);
    g_error_free (err);
    done = TRUE;
  } else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT &&
      gst_structure_has_name (s, "sip-call")) {
    const gchar *state = gst_structure_get_string (s, "state");

    if (g_strcmp0 (state, "ended") == 0)
      done = TRUE;
    else if (g_strcmp0 (state, "answered") == 0)
      /* where a media generator other than the caller sends (rtp-load) */
      g_print ("answered %s %s\n", gst_structure_get_string (s, "local-media"),
          gst_structure_get_string (s, "remote-media"));
  }
  if (done && !g_object_get_data (G_OBJECT (pipeline), "ending")) {
    g_object_set_data (G_OBJECT (pipeline), "ending", GINT_TO_POINTER (1));
    g_idle_add (destroy_pipeline, pipeline);
  }
  gst_message_unref (msg);
  return GST_BUS_DROP;
}

/* Endpoint thread: the pipeline takes the call synchronously (180 goes
 * out before this returns). */
static void
on_incoming_call (GstSipEndpoint *endpoint, GstSipCall *call, gpointer data)
{
  GError *err = NULL;
  GstElement *parsed = gst_parse_launch (launch_line, &err);
  GstElement *pipeline, *sipbin;
  GstBus *bus;

  if (parsed == NULL) {
    g_printerr ("bad launch line: %s\n", err->message);
    g_error_free (err);
    return;
  }
  /* "sipbin.( ... )" parses to the sipbin itself */
  pipeline = gst_pipeline_new (NULL);
  gst_bin_add (GST_BIN (pipeline), parsed);
  sipbin = gst_bin_get_by_name (GST_BIN (pipeline), "call");
  g_object_set (sipbin, "call", call, NULL);
  gst_object_unref (sipbin);
  bus = gst_element_get_bus (pipeline);
  gst_bus_set_sync_handler (bus, on_bus_message, pipeline, NULL);
  gst_object_unref (bus);
  g_atomic_int_inc (&active_calls);
  g_atomic_int_inc (&total_calls);
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    g_printerr ("call pipeline did not start\n");
    if (!g_object_get_data (G_OBJECT (pipeline), "ending")) {
      g_object_set_data (G_OBJECT (pipeline), "ending", GINT_TO_POINTER (1));
      g_idle_add (destroy_pipeline, pipeline);
    }
  }
}

static gboolean
on_signal (gpointer data)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static gboolean
print_status (gpointer data)
{
  g_print ("calls: %d active, %d total\n", g_atomic_int_get (&active_calls),
      g_atomic_int_get (&total_calls));
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  gchar *listen = NULL, *codec = g_strdup ("PCMU");
  gchar *receive_thread = g_strdup ("own");
  gint port_min = 20000, port_max = 40000;
  GOptionEntry entries[] = {{"listen", 0, 0, G_OPTION_ARG_STRING, &listen,
                                "SIP URI to listen on", "URI"},
      {"codec", 0, 0, G_OPTION_ARG_STRING, &codec, "PCMU, PCMA or G722",
          "NAME"},
      {"rtp-port-min", 0, 0, G_OPTION_ARG_INT, &port_min, "", "PORT"},
      {"rtp-port-max", 0, 0, G_OPTION_ARG_INT, &port_max, "", "PORT"},
      {"receive-thread", 0, 0, G_OPTION_ARG_STRING, &receive_thread,
          "sipsrc's receive-thread: own or shared", "MODE"},
      {NULL}};
  GOptionContext *ctx = g_option_context_new ("- echo calls, one pipeline "
                                              "per call, on one SIP endpoint");
  GError *err = NULL;
  GstSipEndpoint *endpoint;
  struct rlimit fds;
  const gchar *depay, *pay;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &err) || listen == NULL) {
    g_printerr ("%s\n", err ? err->message : "--listen is required");
    return 2;
  }
  g_option_context_free (ctx);

  /* One socket per call plus GStreamer's own fds: the default soft limit
   * of 1024 stops a process at about 250 calls. */
  if (getrlimit (RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
    fds.rlim_cur = fds.rlim_max;
    setrlimit (RLIMIT_NOFILE, &fds);
  }

  if (g_ascii_strcasecmp (codec, "PCMA") == 0) {
    depay = "rtppcmadepay";
    pay = "rtppcmapay";
  } else if (g_ascii_strcasecmp (codec, "G722") == 0) {
    depay = "rtpg722depay";
    pay = "rtpg722pay";
  } else {
    depay = "rtppcmudepay";
    pay = "rtppcmupay";
  }
  launch_line = g_strdup_printf ("sipbin.( name=call rtp-port-min=%d "
                                 "rtp-port-max=%d sipsrc receive-thread=%s ! "
                                 "%s ! %s ! sipsink )",
      port_min, port_max, receive_thread, depay, pay);

  endpoint = gst_sip_endpoint_new (listen, "gst-sip-agent-bench", &err);
  if (endpoint == NULL) {
    g_printerr ("%s\n", err->message);
    return 1;
  }
  g_signal_connect (
      endpoint, "incoming-call", G_CALLBACK (on_incoming_call), NULL);

  loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGINT, on_signal, NULL);
  g_unix_signal_add (SIGTERM, on_signal, NULL);
  g_timeout_add_seconds (5, print_status, NULL);
  g_print ("listening on %s: %s\n", listen, launch_line);
  g_main_loop_run (loop);

  gst_sip_endpoint_shutdown (endpoint);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  gst_object_unref (endpoint);
  g_main_loop_unref (loop);
  g_free (launch_line);
  g_free (listen);
  g_free (codec);
  return 0;
}
