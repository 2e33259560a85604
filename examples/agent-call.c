/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * agent-call: answer SIP calls with the voice agent, from a C program.
 *
 * This is the README's gst-launch-1.0 line written as an application. It
 * builds one pipeline that answers calls on a SIP address and runs each
 * call through speech recognition, the dialog and speech synthesis:
 *
 *   sipbin.( sipsrc ! rtppcmudepay ! mulawdec ! audioresample !
 *            sttbridge ! agent ! ttsbridge !
 *            audioresample ! mulawenc ! rtppcmupay ! sipsink )
 *
 * sipbin does the SIP signalling and hands each call's RTP to the sipsrc
 * and sipsink inside it; sttbridge turns the caller's audio into text, the
 * agent decides what to say, ttsbridge speaks it. The pipeline keeps
 * running between calls and takes one call at a time.
 *
 * Everything the elements have to tell arrives as messages on the
 * pipeline's bus; this program prints the conversation from them:
 *
 *   sip-call      (sipbin)    the call's state: incoming, ringing,
 *                             answered, ended
 *   transcript    (sttbridge) what the caller said (final=TRUE)
 *   agent-turn    (agent)     what the agent answered (reply)
 *   intake        (agent)     a field the dialog captured, and at the end
 *                             all of them
 *   agent-action  (agent)     hangup or transfer
 *   dtmf-event    (sipsrc)    a key the caller pressed
 *
 * Build it with the project (meson option `examples`), then:
 *
 *   GST_PLUGIN_PATH=$PWD/build build/examples/agent-call \
 *       --listen sip:agent@127.0.0.1:5060 \
 *       [--script examples/intake-lawfirm.ini]
 *
 * and call sip:agent@127.0.0.1:5060 from a SIP phone or SIPp. Ctrl-C (or
 * SIGTERM) hangs up a call in progress and exits.
 */
#include <gst/gst.h>
#include <glib-unix.h>
#include <signal.h>

#define DEFAULT_LISTEN "sip:agent@127.0.0.1:5060"

/* The bin and its contents in gst-launch syntax. "sipbin.( ... )" makes a
 * sipbin and puts the elements between the parentheses inside it. The
 * names let the program find sipbin and the agent afterwards to set their
 * properties, which avoids quoting file names into the description. */
#define CALL_PIPELINE \
  "sipbin.( name=sip " \
  "  sipsrc ! rtppcmudepay ! mulawdec ! audioresample ! " \
  "  sttbridge ! agent name=agent ! ttsbridge ! " \
  "  audioresample ! mulawenc ! rtppcmupay ! sipsink )"

typedef struct
{
  GMainLoop *loop;
  GstElement *pipeline;
  gint exit_code;
} App;

/* ---- printing the conversation ---------------------------------------- */

static void
print_call_state (const GstStructure *s)
{
  const gchar *state = gst_structure_get_string (s, "state");

  if (g_strcmp0 (state, "incoming") == 0) {
    g_print ("[call] incoming from %s\n", gst_structure_get_string (s, "from"));
  } else if (g_strcmp0 (state, "answered") == 0) {
    gint clock_rate = 0;

    gst_structure_get_int (s, "clock-rate", &clock_rate);
    g_print ("[call] answered (%s, %d Hz)\n",
        gst_structure_get_string (s, "codec"), clock_rate);
  } else if (g_strcmp0 (state, "ended") == 0) {
    gint status = 0;

    gst_structure_get_int (s, "status", &status);
    g_print ("[call] ended: %s (status %d)\n",
        gst_structure_get_string (s, "reason"), status);
  } else {
    g_print ("[call] %s\n", state);
  }
}

/* sttbridge posts interim transcripts while the caller speaks; the final
 * one is the utterance the agent answers. Empty text: there was speech but
 * no words were recognised (the agent re-prompts). */
static void
print_transcript (const GstStructure *s)
{
  gboolean final = FALSE;
  const gchar *text = gst_structure_get_string (s, "text");

  gst_structure_get_boolean (s, "final", &final);
  if (!final)
    return;
  if (text && *text)
    g_print ("Caller: %s\n", text);
  else
    g_print ("Caller: (speech, no words recognised)\n");
}

/* One agent-turn per input the agent answered, the greeting included
 * (input "start"). The reply can be empty, e.g. for input ignored while
 * the agent is talking. */
static void
print_agent_turn (const GstStructure *s)
{
  const gchar *reply = gst_structure_get_string (s, "reply");

  if (reply && *reply)
    g_print ("Agent:  %s\n", reply);
}

static gboolean
print_field (GQuark field, const GValue *value, gpointer user_data)
{
  gchar *text = G_VALUE_HOLDS_STRING (value) ? g_value_dup_string (value)
                                             : gst_value_serialize (value);

  g_print ("         %s = %s\n", g_quark_to_string (field), text);
  g_free (text);
  return TRUE;
}

/* While the dialog runs, each captured field comes as its own intake
 * message (field, value); at the end one message carries all of them in a
 * structure, with complete=FALSE when the call was cut short. */
static void
print_intake (const GstStructure *s)
{
  const GstStructure *fields;
  gboolean complete = FALSE;

  if (gst_structure_has_field (s, "field")) {
    g_print ("[intake] %s = %s\n", gst_structure_get_string (s, "field"),
        gst_structure_get_string (s, "value"));
    return;
  }
  gst_structure_get_boolean (s, "complete", &complete);
  g_print ("[intake] %s:\n", complete ? "complete" : "incomplete");
  fields = gst_value_get_structure (gst_structure_get_value (s, "fields"));
  if (fields && gst_structure_n_fields (fields) > 0)
    gst_structure_foreach (fields, print_field, NULL);
  else
    g_print ("         (nothing collected)\n");
}

/* The dialog decided to hang up (sipbin does so once the goodbye has
 * played) or to transfer the call (docs/elements.md says who carries that
 * out). */
static void
print_agent_action (const GstStructure *s)
{
  const gchar *target = gst_structure_get_string (s, "target");

  g_print ("[action] %s%s%s (%s)\n", gst_structure_get_string (s, "action"),
      target ? " to " : "", target ? target : "",
      gst_structure_get_string (s, "reason"));
}

/* sipsrc posts two dtmf-event messages per key: start=TRUE when it goes
 * down, start=FALSE (with the duration) when it is released. */
static void
print_dtmf (const GstStructure *s)
{
  static const gchar keys[] = "0123456789*#ABCD";
  gboolean start = TRUE;
  gint number = -1, duration = 0;

  gst_structure_get_boolean (s, "start", &start);
  gst_structure_get_int (s, "number", &number);
  gst_structure_get_int (s, "duration", &duration);
  if (!start && number >= 0 && number < 16)
    g_print ("[dtmf] %c (%d ms)\n", keys[number], duration);
}

/* ---- the bus ----------------------------------------------------------- */

static gboolean
on_bus_message (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  App *app = user_data;

  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ELEMENT: {
      const GstStructure *s = gst_message_get_structure (msg);

      if (gst_structure_has_name (s, "sip-call"))
        print_call_state (s);
      else if (gst_structure_has_name (s, "transcript"))
        print_transcript (s);
      else if (gst_structure_has_name (s, "agent-turn"))
        print_agent_turn (s);
      else if (gst_structure_has_name (s, "intake"))
        print_intake (s);
      else if (gst_structure_has_name (s, "agent-action"))
        print_agent_action (s);
      else if (gst_structure_has_name (s, "dtmf-event"))
        print_dtmf (s);
      break;
    }
    case GST_MESSAGE_WARNING: {
      GError *err = NULL;

      gst_message_parse_warning (msg, &err, NULL);
      g_printerr (
          "Warning from %s: %s\n", GST_OBJECT_NAME (msg->src), err->message);
      g_clear_error (&err);
      break;
    }
    case GST_MESSAGE_ERROR: {
      GError *err = NULL;
      gchar *debug = NULL;

      gst_message_parse_error (msg, &err, &debug);
      g_printerr ("Error from %s: %s\n%s\n", GST_OBJECT_NAME (msg->src),
          err->message, debug ? debug : "");
      g_clear_error (&err);
      g_free (debug);
      app->exit_code = 1;
      g_main_loop_quit (app->loop);
      break;
    }
    case GST_MESSAGE_EOS:
      /* EOS reaching sipsink hangs up and ends the pipeline */
      g_main_loop_quit (app->loop);
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

/* SIGINT and SIGTERM, dispatched in the main loop (not in a signal
 * handler), so it is safe to do anything here. */
static gboolean
on_signal (gpointer user_data)
{
  App *app = user_data;

  g_print ("Stopping.\n");
  g_main_loop_quit (app->loop);
  return G_SOURCE_CONTINUE;
}

/* Parses the pipeline and adds it to a GstPipeline, which gives it a clock
 * and a bus. */
static GstElement *
build_pipeline (const gchar *listen, const gchar *script, GError **error)
{
  GstElement *pipeline, *sipbin, *agent, *parsed;

  parsed = gst_parse_launch (CALL_PIPELINE, error);
  if (parsed == NULL)
    return NULL;
  /* a description that is one bin parses to that bin (the sipbin) */
  pipeline = gst_pipeline_new ("agent-call");
  gst_bin_add (GST_BIN (pipeline), parsed);

  sipbin = gst_bin_get_by_name (GST_BIN (pipeline), "sip");
  g_object_set (sipbin, "local-uri", listen, NULL);
  gst_object_unref (sipbin);

  /* NULL: the agent's built-in receptionist dialog */
  agent = gst_bin_get_by_name (GST_BIN (pipeline), "agent");
  g_object_set (agent, "script", script, NULL);
  gst_object_unref (agent);

  return pipeline;
}

int
main (int argc, char *argv[])
{
  gchar *listen = NULL, *script = NULL;
  GOptionEntry entries[] = {
      {"listen", 'l', 0, G_OPTION_ARG_STRING, &listen,
          "SIP URI to answer calls on (default " DEFAULT_LISTEN ")", "URI"},
      {"script", 's', 0, G_OPTION_ARG_FILENAME, &script,
          "Dialog script for the agent (docs/scripts.md; default: the "
          "built-in receptionist)",
          "FILE"},
      {NULL}};
  GOptionContext *ctx;
  GError *err = NULL;
  App app = {NULL, NULL, 0};
  GstBus *bus;
  guint bus_watch, sigint_watch, sigterm_watch;

  ctx = g_option_context_new ("- answer SIP calls with the voice agent");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("%s\n", err->message);
    g_clear_error (&err);
    g_option_context_free (ctx);
    return 2;
  }
  g_option_context_free (ctx);
  if (listen == NULL)
    listen = g_strdup (DEFAULT_LISTEN);

  app.pipeline = build_pipeline (listen, script, &err);
  if (app.pipeline == NULL) {
    g_printerr ("Could not build the pipeline: %s\n"
                "(are the gst-sip-agent plugins in GST_PLUGIN_PATH?)\n",
        err->message);
    g_clear_error (&err);
    return 1;
  }

  /* The bus watch and the signal handlers run in the main loop. */
  app.loop = g_main_loop_new (NULL, FALSE);
  bus = gst_element_get_bus (app.pipeline);
  bus_watch = gst_bus_add_watch (bus, on_bus_message, &app);
  sigint_watch = g_unix_signal_add (SIGINT, on_signal, &app);
  sigterm_watch = g_unix_signal_add (SIGTERM, on_signal, &app);

  /* The agent loads its script and sipbin binds its SIP address on the way
   * to READY. When that fails, the reason is an error message on the bus. */
  if (gst_element_set_state (app.pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);

    if (msg) {
      on_bus_message (bus, msg, &app);
      gst_message_unref (msg);
    }
    g_printerr ("Could not start the pipeline\n");
    app.exit_code = 1;
  } else {
    g_print ("Answering calls on %s (Ctrl-C to stop)\n", listen);
    /* until an error, EOS, SIGINT or SIGTERM */
    g_main_loop_run (app.loop);
  }

  /* Going to NULL hangs up a call in progress and closes the SIP
   * endpoint. */
  gst_element_set_state (app.pipeline, GST_STATE_NULL);
  g_source_remove (sigterm_watch);
  g_source_remove (sigint_watch);
  g_source_remove (bus_watch);
  gst_object_unref (bus);
  gst_object_unref (app.pipeline);
  g_main_loop_unref (app.loop);
  g_free (listen);
  g_free (script);
  return app.exit_code;
}
