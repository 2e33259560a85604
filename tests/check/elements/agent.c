/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The agent element with its script backend, driven through a GstHarness:
 * utterances and custom events in, sentences, hints and barge-in events
 * out, messages on a bus. Test scripts are written to a temporary
 * directory; the examples are read from the source tree (TOP_SRCDIR).
 *
 * Most tests answer every sentence with tts-started/tts-finished as
 * ttsbridge does ("hear"); a few run without that feedback on purpose.
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>
#include <string.h>

#include "gstagentevents.h"

#define TEXT_CAPS "text/x-raw, format=(string)utf8"
/* generous: a busy 2-core machine must never make these fail */
#define WAIT_US (5 * G_USEC_PER_SEC)

typedef struct
{
  GstHarness *h;
  GstBus *bus;
  GMutex lock;
  GCond cond;
  GQueue messages;
  GstMessage *last; /* keeps the structure expect_message() returned */
  gchar *dir;
  GQueue out_log; /* "text:..." and "voice:..." in the order they left */
} Fixture;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static GstBusSyncReply
collect_message (GstBus *bus, GstMessage *msg, gpointer data)
{
  Fixture *f = data;

  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT ||
      GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    g_mutex_lock (&f->lock);
    g_queue_push_tail (&f->messages, gst_message_ref (msg));
    g_cond_broadcast (&f->cond);
    g_mutex_unlock (&f->lock);
  }
  /* a sync handler that drops a message owns it */
  gst_message_unref (msg);
  return GST_BUS_DROP;
}

static gchar *
write_file (const gchar *dir, const gchar *name, const gchar *text)
{
  gchar *path = g_build_filename (dir, name, NULL);

  fail_unless (g_file_set_contents (path, text, -1, NULL));
  return path;
}

static gchar *
make_tmp_dir (void)
{
  gchar *dir = g_dir_make_tmp ("agent-test-XXXXXX", NULL);

  fail_unless (dir != NULL);
  return dir;
}

/* An agent with SCRIPT (text, or NULL for the built-in default) or
 * SCRIPT_PATH, playing in a harness; nothing is said before start(). */
static Fixture *
fixture_new_full (
    const gchar *script, const gchar *script_path, const gchar *first_prop, ...)
{
  Fixture *f = g_new0 (Fixture, 1);
  GstElement *agent = gst_element_factory_make ("agent", NULL);
  va_list args;

  fail_unless (agent != NULL);
  g_mutex_init (&f->lock);
  g_cond_init (&f->cond);
  f->dir = make_tmp_dir ();
  if (script) {
    gchar *path = write_file (f->dir, "test.ini", script);

    g_object_set (agent, "script", path, NULL);
    g_free (path);
  } else if (script_path) {
    g_object_set (agent, "script", script_path, NULL);
  }
  va_start (args, first_prop);
  if (first_prop)
    g_object_set_valist (G_OBJECT (agent), first_prop, args);
  va_end (args);
  f->bus = gst_bus_new ();
  gst_bus_set_sync_handler (f->bus, collect_message, f, NULL);
  gst_element_set_bus (agent, f->bus);
  f->h = gst_harness_new_with_element (agent, "sink", "src");
  gst_object_unref (agent);
  return f;
}

static Fixture *
fixture_new (const gchar *script)
{
  return fixture_new_full (script, NULL, NULL);
}

static void
fixture_free (Fixture *f)
{
  gchar *path = g_build_filename (f->dir, "test.ini", NULL);

  gst_harness_teardown (f->h);
  gst_bus_set_sync_handler (f->bus, NULL, NULL, NULL);
  gst_object_unref (f->bus);
  g_queue_clear_full (&f->messages, (GDestroyNotify) gst_message_unref);
  g_queue_clear_full (&f->out_log, g_free);
  gst_clear_message (&f->last);
  g_mutex_clear (&f->lock);
  g_cond_clear (&f->cond);
  g_unlink (path);
  g_rmdir (f->dir);
  g_free (path);
  g_free (f->dir);
  g_free (f);
}

/* Caps and a segment: the agent greets (pipelines without sipsrc). */
static void
start (Fixture *f)
{
  gst_harness_set_src_caps_str (f->h, TEXT_CAPS);
}

static void
push_custom (Fixture *f, GstStructure *s)
{
  fail_unless (gst_harness_push_event (
      f->h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, s)));
}

static void
call_started (Fixture *f, const gchar *call_id)
{
  GstStructure *s = gst_structure_new_empty (GST_AGENT_EVENT_SIP_CALL_STARTED);

  if (call_id)
    gst_structure_set (s, "call-id", G_TYPE_STRING, call_id, NULL);
  push_custom (f, s);
}

/* How sipbin reports the end of a transfer: out of band, through sipsrc. */
static void
transfer_result (Fixture *f, gboolean success, gint status, const gchar *target,
    const gchar *call_id)
{
  GstStructure *s = gst_structure_new (GST_AGENT_EVENT_SIP_TRANSFER_RESULT,
      "success", G_TYPE_BOOLEAN, success, "status", G_TYPE_INT, status,
      "target", G_TYPE_STRING, target, NULL);

  if (call_id)
    gst_structure_set (s, "call-id", G_TYPE_STRING, call_id, NULL);
  fail_unless (gst_harness_push_event (
      f->h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_OOB, s)));
}

/* How sipbin reports a hold or its end: out of band, through sipsrc. */
static void
hold (Fixture *f, gboolean held)
{
  fail_unless (gst_harness_push_event (f->h,
      gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_OOB,
          gst_structure_new (GST_AGENT_EVENT_SIP_CALL_HOLD, "held",
              G_TYPE_BOOLEAN, held, NULL))));
}

static void
speech_started (Fixture *f)
{
  push_custom (f,
      gst_structure_new (GST_AGENT_EVENT_SPEECH_STARTED, "running-time",
          G_TYPE_UINT64, (guint64) 0, NULL));
}

static void
dtmf_event (Fixture *f, gint number, gboolean key_down)
{
  push_custom (f,
      gst_structure_new (GST_AGENT_EVENT_DTMF, "type", G_TYPE_INT, 1, "number",
          G_TYPE_INT, number, "volume", G_TYPE_INT, 10, "method", G_TYPE_INT, 1,
          "start", G_TYPE_BOOLEAN, key_down, NULL));
}

/* Key presses as sipsrc reports them: start and end of each digit. */
static void
press (Fixture *f, const gchar *keys)
{
  static const gchar digits[] = "0123456789*#ABCD";

  for (; *keys; keys++) {
    gint n = strchr (digits, *keys) - digits;

    dtmf_event (f, n, TRUE);
    dtmf_event (f, n, FALSE);
  }
}

static void
say (Fixture *f, const gchar *text)
{
  GstBuffer *buf =
      *text ? gst_buffer_new_memdup (text, strlen (text)) : gst_buffer_new ();

  fail_unless_equals_int (gst_harness_push (f->h, buf), GST_FLOW_OK);
}

static void
tts (Fixture *f, const gchar *name, const gchar *text, gboolean interrupted,
    gboolean idle)
{
  fail_unless (gst_harness_push_upstream_event (
      f->h, gst_agent_event_new_tts (name, text, interrupted, idle)));
}

static gchar *
pull_text_full (Fixture *f, gint64 timeout_us, GstClockTime *pts)
{
  gint64 end = g_get_monotonic_time () + timeout_us;

  do {
    GstBuffer *buf = gst_harness_try_pull (f->h);

    if (buf) {
      GstMapInfo map;
      gchar *text;

      fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
      text = g_strndup ((const gchar *) map.data, map.size);
      gst_buffer_unmap (buf, &map);
      if (pts)
        *pts = GST_BUFFER_PTS (buf);
      gst_buffer_unref (buf);
      return text;
    }
    g_usleep (2000);
  } while (g_get_monotonic_time () < end);
  return NULL;
}

static gchar *
pull_text (Fixture *f, gint64 timeout_us)
{
  return pull_text_full (f, timeout_us, NULL);
}

static void
expect_text (Fixture *f, const gchar *expected)
{
  gchar *text = pull_text (f, WAIT_US);

  fail_unless (
      text != NULL, "expected \"%s\", the agent said nothing", expected);
  fail_unless (g_strcmp0 (text, expected) == 0, "expected \"%s\", got \"%s\"",
      expected, text);
  g_free (text);
}

/* Sentences in order, without ttsbridge feedback. */
static void
expect_texts (Fixture *f, const gchar *first, ...)
{
  va_list args;
  const gchar *s;

  va_start (args, first);
  for (s = first; s; s = va_arg (args, const gchar *))
    expect_text (f, s);
  va_end (args);
}

/* Sentences in order, each played out as ttsbridge reports it; the last
 * leaves ttsbridge idle. */
static void
hear (Fixture *f, const gchar *first, ...)
{
  va_list args;
  const gchar *s = first, *next;

  va_start (args, first);
  while (s) {
    next = va_arg (args, const gchar *);
    expect_text (f, s);
    tts (f, GST_AGENT_EVENT_TTS_STARTED, s, FALSE, FALSE);
    tts (f, GST_AGENT_EVENT_TTS_FINISHED, s, FALSE, next == NULL);
    s = next;
  }
  va_end (args);
}

static void
expect_silence (Fixture *f, guint ms)
{
  gchar *text = pull_text (f, ms * 1000);

  fail_unless (text == NULL, "unexpected \"%s\"", text);
}

/* A downstream event NAME within the wait; other events are skipped. */
static gboolean
wait_event (Fixture *f, const gchar *name, gint64 timeout_us)
{
  gint64 end = g_get_monotonic_time () + timeout_us;

  do {
    GstEvent *ev;

    while ((ev = gst_harness_try_pull_event (f->h)) != NULL) {
      gboolean found = gst_agent_event_is (ev, name);

      gst_event_unref (ev);
      if (found)
        return TRUE;
    }
    g_usleep (2000);
  } while (g_get_monotonic_time () < end);
  return FALSE;
}

static void
drain_events (Fixture *f)
{
  GstEvent *ev;

  while ((ev = gst_harness_try_pull_event (f->h)) != NULL)
    gst_event_unref (ev);
}

/* The next agent-hints event sent upstream. */
static GstStructure *
pull_hints (Fixture *f)
{
  gint64 end = g_get_monotonic_time () + WAIT_US;

  do {
    GstEvent *ev;

    while ((ev = gst_harness_try_pull_upstream_event (f->h)) != NULL) {
      if (gst_agent_event_is (ev, GST_AGENT_EVENT_HINTS)) {
        GstStructure *s = gst_structure_copy (gst_event_get_structure (ev));

        gst_event_unref (ev);
        return s;
      }
      gst_event_unref (ev);
    }
    g_usleep (2000);
  } while (g_get_monotonic_time () < end);
  fail ("no agent-hints event");
  return NULL;
}

static gboolean
strv_has (const gchar *const *v, const gchar *s)
{
  return v && g_strv_contains (v, s);
}

/* Hints for STATE; PHRASE (if given) must be among the phrases. */
static void
expect_hints (
    Fixture *f, const gchar *state, gboolean closed, const gchar *phrase)
{
  GstStructure *s = pull_hints (f);
  const GValue *v = gst_structure_get_value (s, "phrases");
  const gchar *const *phrases = v ? g_value_get_boxed (v) : NULL;
  gboolean is_closed = !closed;

  fail_unless_equals_string (gst_structure_get_string (s, "state"), state);
  fail_unless (gst_structure_get_boolean (s, "closed", &is_closed));
  fail_unless (
      is_closed == closed, "state %s: closed should be %d", state, closed);
  if (phrase)
    fail_unless (
        strv_has (phrases, phrase), "state %s: no hint \"%s\"", state, phrase);
  gst_structure_free (s);
}

static gboolean
message_matches (
    GstMessage *msg, const gchar *name, const gchar *field, const gchar *value)
{
  const GstStructure *s = gst_message_get_structure (msg);

  if (s == NULL || !gst_structure_has_name (s, name))
    return FALSE;
  if (field == NULL)
    return TRUE;
  if (value == NULL)
    return gst_structure_has_field (s, field);
  return g_strcmp0 (gst_structure_get_string (s, field), value) == 0;
}

/* Takes the first element message NAME (with FIELD == VALUE when FIELD is
 * given; with a FIELD at all when VALUE is NULL) posted so far or within
 * TIMEOUT_US; NULL if none. */
static GstMessage *
take_message (Fixture *f, const gchar *name, const gchar *field,
    const gchar *value, gint64 timeout_us)
{
  gint64 end = g_get_monotonic_time () + timeout_us;
  GstMessage *found = NULL;

  g_mutex_lock (&f->lock);
  while (found == NULL) {
    GList *l;

    for (l = f->messages.head; l; l = l->next) {
      if (message_matches (l->data, name, field, value)) {
        found = l->data;
        g_queue_delete_link (&f->messages, l);
        break;
      }
    }
    if (found == NULL && !g_cond_wait_until (&f->cond, &f->lock, end))
      break;
  }
  g_mutex_unlock (&f->lock);
  return found;
}

static const GstStructure *
expect_message_within (Fixture *f, const gchar *name, const gchar *field,
    const gchar *value, gint64 timeout_us)
{
  GstMessage *msg = take_message (f, name, field, value, timeout_us);
  const GstStructure *s;

  fail_unless (msg != NULL, "no %s message with %s=%s", name,
      field ? field : "", value ? value : "");
  s = gst_message_get_structure (msg);
  gst_clear_message (&f->last);
  f->last = msg;
  return s;
}

static const GstStructure *
expect_message (
    Fixture *f, const gchar *name, const gchar *field, const gchar *value)
{
  return expect_message_within (f, name, field, value, WAIT_US);
}

/* The intake message that closes a conversation (it has "fields"). */
static const GstStructure *
expect_intake_end (Fixture *f, gboolean complete)
{
  const GstStructure *s = expect_message (f, "intake", "fields", NULL);
  gboolean c = !complete;

  fail_unless (gst_structure_get_boolean (s, "complete", &c));
  fail_unless (c == complete, "intake complete should be %d", complete);
  return s;
}

static void
expect_no_message (Fixture *f, const gchar *name, guint ms)
{
  GstMessage *msg = take_message (f, name, NULL, NULL, ms * 1000);

  if (msg) {
    gchar *s = gst_structure_to_string (gst_message_get_structure (msg));

    fail ("unexpected message %s", s);
  }
}

static void
expect_intake (Fixture *f, const gchar *field, const gchar *value)
{
  const GstStructure *s = expect_message (f, "intake", "field", field);

  fail_unless (g_strcmp0 (gst_structure_get_string (s, "value"), value) == 0,
      "intake %s: expected \"%s\", got \"%s\"", field, value,
      gst_structure_get_string (s, "value"));
}

static const gchar *const month_names[] = {"", "January", "February", "March",
    "April", "May", "June", "July", "August", "September", "October",
    "November", "December"};

static gchar *
iso_days_ago (gint days)
{
  GDateTime *now = g_date_time_new_now_local ();
  GDateTime *then = g_date_time_add_days (now, -days);
  gchar *s = g_date_time_format (then, "%Y-%m-%d");

  g_date_time_unref (now);
  g_date_time_unref (then);
  return s;
}

/* Sentences and tts-voice events as they leave the agent, in one order
 * (the harness keeps buffers and events apart). */
static GstPadProbeReturn
log_output (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Fixture *f = data;
  gchar *entry = NULL;

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstMapInfo map;

    gst_buffer_map (GST_PAD_PROBE_INFO_BUFFER (info), &map, GST_MAP_READ);
    entry = g_strdup_printf (
        "text:%.*s", (gint) map.size, (const gchar *) map.data);
    gst_buffer_unmap (GST_PAD_PROBE_INFO_BUFFER (info), &map);
  } else if (gst_agent_event_is (
                 GST_PAD_PROBE_INFO_EVENT (info), GST_AGENT_EVENT_TTS_VOICE)) {
    const GstStructure *s =
        gst_event_get_structure (GST_PAD_PROBE_INFO_EVENT (info));
    const gchar *backend = gst_structure_get_string (s, "backend");
    const gchar *voice = gst_structure_get_string (s, "voice");

    fail_unless (GST_EVENT_IS_SERIALIZED (GST_PAD_PROBE_INFO_EVENT (info)));
    entry = g_strdup_printf ("voice:%s%s%s", backend ? backend : "",
        backend ? ":" : "", voice ? voice : "default");
  }
  if (entry) {
    g_mutex_lock (&f->lock);
    g_queue_push_tail (&f->out_log, entry);
    g_cond_broadcast (&f->cond);
    g_mutex_unlock (&f->lock);
  }
  return GST_PAD_PROBE_OK;
}

static void
watch_output (Fixture *f)
{
  GstPad *pad = gst_element_get_static_pad (f->h->element, "src");

  gst_pad_add_probe (pad,
      GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
      log_output, f, NULL);
  gst_object_unref (pad);
}

/* The next entries of the output log, each within the wait. */
static void
expect_output (Fixture *f, const gchar *first, ...)
{
  va_list args;
  const gchar *want;

  va_start (args, first);
  for (want = first; want; want = va_arg (args, const gchar *)) {
    gint64 end = g_get_monotonic_time () + WAIT_US;
    gchar *got;

    g_mutex_lock (&f->lock);
    while (g_queue_is_empty (&f->out_log) &&
        g_cond_wait_until (&f->cond, &f->lock, end))
      ;
    got = g_queue_pop_head (&f->out_log);
    g_mutex_unlock (&f->lock);
    fail_unless (got != NULL, "expected \"%s\", nothing left", want);
    fail_unless (
        g_strcmp0 (got, want) == 0, "expected \"%s\", got \"%s\"", want, got);
    g_free (got);
  }
  va_end (args);
}

/* Empties the output log; returns how many tts-voice events it held. */
static guint
drain_output_voices (Fixture *f)
{
  guint n = 0;
  gchar *entry;

  g_mutex_lock (&f->lock);
  while ((entry = g_queue_pop_head (&f->out_log)) != NULL) {
    if (g_str_has_prefix (entry, "voice:"))
      n++;
    g_free (entry);
  }
  g_mutex_unlock (&f->lock);
  return n;
}

static void
expect_output_empty (Fixture *f)
{
  g_mutex_lock (&f->lock);
  fail_unless (g_queue_is_empty (&f->out_log), "unexpected \"%s\"",
      (gchar *) g_queue_peek_head (&f->out_log));
  g_mutex_unlock (&f->lock);
}

/* ------------------------------------------------------------------------ */
/* Scripts                                                                   */
/* ------------------------------------------------------------------------ */

/* Every slot type, a DTMF menu, a global intent, re-prompts, a fallback. */
static const gchar flow_script[] =
    "[script]\n"
    "start = menu\n"
    "timeout = 30\n"
    "max-retries = 1\n"
    "no-match = Pardon?\n"
    "no-input = Hello?\n"
    "fallback = say Giving up.; hangup\n"
    "\n"
    "[global]\n"
    "intent.operator = operator, front desk\n"
    "on.operator = say Connecting you.; transfer sip:desk@example.com\n"
    "dtmf.0 = operator\n"
    "\n"
    "[state menu]\n"
    "say = Say sales or support.\n"
    "reprompt = Sales or support?\n"
    "intent.sales = sales, buy something\n"
    "intent.support = support, help, broken\n"
    "dtmf.1 = sales\n"
    "dtmf.2 = support\n"
    "on.sales = set dept=sales; goto name\n"
    "on.support = set dept=support; goto name\n"
    "\n"
    "[state name]\n"
    "say = Your name?\n"
    "slot = name\n"
    "field = caller_name\n"
    "filled = goto phone\n"
    "\n"
    "[state phone]\n"
    "say = Number, {caller_name}?\n"
    "slot = phone\n"
    "filled = goto confirm\n"
    "\n"
    "[state confirm]\n"
    "say = I have {phone:digits}. Right?\n"
    "slot = yesno\n"
    "yes = goto when\n"
    "no = say Again then.; goto phone\n"
    "\n"
    "[state when]\n"
    "say = When?\n"
    "slot = date\n"
    "field = when\n"
    "filled = say That was {when:spoken}.; goto notes\n"
    "\n"
    "[state notes]\n"
    "say = Anything else?\n"
    "slot = text\n"
    "field = notes\n"
    "filled = goto bye\n"
    "\n"
    "[state bye]\n"
    "say = Thanks {caller_name}. Dr. Who says bye.\n"
    "next = hangup\n";

/* The flow script with a 0.3 s no-input timeout. Other tests keep 30 s so
 * that a slow machine cannot make a timer fire between two steps. */
static gchar *
quick_flow_script (void)
{
  gchar **parts = g_strsplit (flow_script, "timeout = 30\n", 2);
  gchar *script = g_strjoinv ("timeout = 0.3\n", parts);

  g_strfreev (parts);
  return script;
}

/* One slot of TYPE asked again and again: "Got VALUE." or "Pardon?". */
static gchar *
slot_script (const gchar *type, const gchar *extra)
{
  gboolean yesno = !strcmp (type, "yesno");

  return g_strdup_printf ("[script]\n"
                          "start = ask\n"
                          "timeout = 30\n"
                          "max-retries = 50\n"
                          "no-match = Pardon?\n"
                          "\n"
                          "[state ask]\n"
                          "say = Go.\n"
                          "slot = %s\n"
                          "field = value\n"
                          "%s"
                          "%s\n",
      type, extra ? extra : "",
      yesno ? "yes = say Got {value}.; goto ask\n"
              "no = say Got {value}.; goto ask"
            : "filled = say Got {value}.; goto ask");
}

/* ------------------------------------------------------------------------ */
/* Starting conversations                                                    */
/* ------------------------------------------------------------------------ */

GST_START_TEST (test_greets_on_segment)
{
  Fixture *f = fixture_new (NULL);
  const GstStructure *s;
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  gchar *text;

  /* the running time on the harness' test clock */
  gst_harness_set_time (f->h, 3 * GST_SECOND);
  start (f);
  text = pull_text_full (f, WAIT_US, &pts);
  fail_unless_equals_string (text, "Hello, thank you for calling.");
  fail_unless_equals_uint64 (pts, 3 * GST_SECOND);
  g_free (text);
  hear (f, "How can I help you today?", NULL);
  expect_hints (f, "greeting", FALSE, NULL);
  s = expect_message (f, "agent-turn", "input", "start");
  fail_unless_equals_string (gst_structure_get_string (s, "reply"),
      "Hello, thank you for calling. How can I help you today?");
  fail_unless_equals_string (
      gst_structure_get_string (s, "next-state"), "greeting");
  fail_unless (!gst_structure_has_field (s, "call-id"));
  /* a second segment is not a new call */
  start (f);
  expect_silence (f, 300);
  fixture_free (f);
}

GST_END_TEST;

GST_START_TEST (test_call_started_adopts_then_resets)
{
  Fixture *f = fixture_new (NULL);
  const GstStructure *s;
  GstStructure *fields = NULL;
  gboolean complete = TRUE;

  start (f);
  hear (f, "Hello, thank you for calling.", "How can I help you today?", NULL);
  expect_message (f, "agent-turn", "input", "start");
  /* sipsrc: segment, then sip-call-started for the same call */
  call_started (f, "call-A");
  fail_unless (wait_event (f, GST_AGENT_EVENT_SIP_CALL_STARTED, WAIT_US));
  expect_silence (f, 300);
  expect_no_message (f, "agent-turn", 0);

  say (f, "I have a question about my bill");
  hear (f, "I can help with that.", "May I have your name, please?", NULL);
  s = expect_message (f, "intake", "field", "reason");
  fail_unless_equals_string (gst_structure_get_string (s, "call-id"), "call-A");
  fail_unless_equals_string (
      gst_structure_get_string (s, "value"), "I have a question about my bill");

  /* the same call again changes nothing */
  call_started (f, "call-A");
  expect_silence (f, 300);

  /* a new call: the old conversation's fields are kept, the agent greets */
  call_started (f, "call-B");
  hear (f, "Hello, thank you for calling.", "How can I help you today?", NULL);
  s = expect_message (f, "intake", "fields", NULL);
  fail_unless (gst_structure_get_boolean (s, "complete", &complete));
  fail_unless (!complete);
  fail_unless_equals_string (gst_structure_get_string (s, "call-id"), "call-A");
  fail_unless (
      gst_structure_get (s, "fields", GST_TYPE_STRUCTURE, &fields, NULL));
  fail_unless_equals_string (gst_structure_get_string (fields, "reason"),
      "I have a question about my bill");
  gst_structure_free (fields);
  s = expect_message (f, "agent-turn", "input", "start");
  fail_unless_equals_string (gst_structure_get_string (s, "call-id"), "call-B");
  fixture_free (f);
}

GST_END_TEST;

GST_START_TEST (test_call_started_before_segment)
{
  Fixture *f = fixture_new (NULL);

  /* the event comes first (after the harness' stream-start) */
  call_started (f, "call-X");
  hear (f, "Hello, thank you for calling.", "How can I help you today?", NULL);
  fail_unless_equals_string (
      gst_structure_get_string (
          expect_message (f, "agent-turn", NULL, NULL), "call-id"),
      "call-X");
  /* then caps and segment: no second greeting */
  start (f);
  expect_silence (f, 300);
  /* a call without call-id is a new call */
  call_started (f, NULL);
  hear (f, "Hello, thank you for calling.", "How can I help you today?", NULL);
  fixture_free (f);
}

GST_END_TEST;

GST_START_TEST (test_new_call_drops_old_speech)
{
  Fixture *f = fixture_new (NULL);

  call_started (f, "one");
  expect_texts (
      f, "Hello, thank you for calling.", "How can I help you today?", NULL);
  tts (f, GST_AGENT_EVENT_TTS_STARTED, "Hello, thank you for calling.", FALSE,
      FALSE);
  drain_events (f);
  /* the first greeting is still playing when the next call starts */
  call_started (f, "two");
  fail_unless (wait_event (f, GST_AGENT_EVENT_BARGE_IN, WAIT_US));
  expect_texts (
      f, "Hello, thank you for calling.", "How can I help you today?", NULL);
  fixture_free (f);
}

GST_END_TEST;

/* The caller hangs up mid-dialog: sipsrc's sip-call-ended ends the
 * conversation at once, with what was collected posted as incomplete. */
GST_START_TEST (test_call_ended_reports_and_stops)
{
  Fixture *f = fixture_new (NULL);
  const GstStructure *end;
  gchar *state = NULL;

  start (f);
  call_started (f, "one");
  expect_texts (
      f, "Hello, thank you for calling.", "How can I help you today?", NULL);
  say (f, "I was in a car accident");
  expect_texts (
      f, "I can help with that.", "May I have your name, please?", NULL);
  push_custom (f,
      gst_structure_new (GST_AGENT_EVENT_SIP_CALL_ENDED, "call-id",
          G_TYPE_STRING, "one", NULL));
  end = expect_intake_end (f, FALSE);
  fail_unless (gst_structure_has_field (end, "fields"));
  g_object_get (f->h->element, "state", &state, NULL);
  fail_unless (state == NULL, "still in state %s", state);
  /* an utterance after the call is over starts nothing */
  say (f, "hello");
  expect_silence (f, 300);
  fixture_free (f);
}

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* The dialog                                                                */
/* ------------------------------------------------------------------------ */

GST_START_TEST (test_flow_every_state)
{
  Fixture *f = fixture_new (flow_script);
  gchar *yesterday = iso_days_ago (1), *spoken;
  const GstStructure *s;
  GstStructure *fields = NULL;
  gboolean complete = FALSE;
  GDateTime *now, *dt;

  start (f);
  hear (f, "Say sales or support.", NULL);
  expect_hints (f, "menu", TRUE, "buy something");

  say (f, "Hi, my printer is broken!");
  hear (f, "Your name?", NULL);
  expect_intake (f, "dept", "support");
  expect_hints (f, "name", FALSE, "front desk");
  s = expect_message (f, "agent-turn", "input", "utterance");
  fail_unless_equals_string (gst_structure_get_string (s, "state"), "menu");
  fail_unless_equals_string (
      gst_structure_get_string (s, "matched"), "support");
  fail_unless_equals_string (
      gst_structure_get_string (s, "next-state"), "name");
  fail_unless_equals_string (
      gst_structure_get_string (s, "reply"), "Your name?");

  say (f, "my name is john smith");
  hear (f, "Number, John Smith?", NULL);
  expect_intake (f, "caller_name", "John Smith");
  expect_hints (f, "phone", TRUE, "five");

  say (f, "five five five one two three four");
  hear (f, "I have 5 5 5 1 2 3 4.", "Right?", NULL);
  expect_intake (f, "phone", "5551234");
  expect_hints (f, "confirm", TRUE, "yes");

  say (f, "Yes, that's correct.");
  hear (f, "When?", NULL);
  expect_hints (f, "when", FALSE, "yesterday");

  say (f, "It was yesterday");
  now = g_date_time_new_now_local ();
  dt = g_date_time_add_days (now, -1);
  spoken = g_strdup_printf ("That was %s %d, %d.",
      month_names[g_date_time_get_month (dt)],
      g_date_time_get_day_of_month (dt), g_date_time_get_year (dt));
  hear (f, spoken, "Anything else?", NULL);
  expect_intake (f, "when", yesterday);
  expect_hints (f, "notes", FALSE, NULL);

  say (f, "  The toner is leaking.  ");
  expect_text (f, "Thanks John Smith.");
  expect_text (f, "Dr. Who says bye.");
  expect_intake (f, "notes", "The toner is leaking.");
  expect_hints (f, "bye", FALSE, NULL);
  s = expect_message (f, "intake", "fields", NULL);
  fail_unless (gst_structure_get_boolean (s, "complete", &complete));
  fail_unless (complete);
  fail_unless (
      gst_structure_get (s, "fields", GST_TYPE_STRUCTURE, &fields, NULL));
  fail_unless_equals_string (
      gst_structure_get_string (fields, "dept"), "support");
  fail_unless_equals_string (
      gst_structure_get_string (fields, "caller_name"), "John Smith");
  fail_unless_equals_string (
      gst_structure_get_string (fields, "phone"), "5551234");
  fail_unless_equals_string (
      gst_structure_get_string (fields, "when"), yesterday);
  fail_unless_equals_string (
      gst_structure_get_string (fields, "notes"), "The toner is leaking.");
  gst_structure_free (fields);

  /* the goodbye is still playing: no hangup yet */
  tts (f, GST_AGENT_EVENT_TTS_STARTED, "Thanks John Smith.", FALSE, FALSE);
  tts (f, GST_AGENT_EVENT_TTS_FINISHED, "Thanks John Smith.", FALSE, FALSE);
  expect_no_message (f, "agent-action", 500);
  tts (f, GST_AGENT_EVENT_TTS_FINISHED, "Dr. Who says bye.", FALSE, TRUE);
  s = expect_message (f, "agent-action", NULL, NULL);
  fail_unless_equals_string (gst_structure_get_string (s, "action"), "hangup");
  fail_unless_equals_string (gst_structure_get_string (s, "state"), "bye");
  fail_unless_equals_string (gst_structure_get_string (s, "reason"), "next");

  /* after the hangup the agent says nothing */
  say (f, "hello? operator!");
  press (f, "0");
  expect_silence (f, 500);
  expect_no_message (f, "agent-action", 0);
  g_date_time_unref (dt);
  g_date_time_unref (now);
  g_free (spoken);
  g_free (yesterday);
  fixture_free (f);
}

GST_END_TEST;

GST_START_TEST (test_flow_no_branch_and_dtmf)
{
  Fixture *f = fixture_new (flow_script);

  start (f);
  hear (f, "Say sales or support.", NULL);
  /* the key counts once, on its end (a second 1 would be a no-match in
   * the name state) */
  dtmf_event (f, 1, TRUE);
  dtmf_event (f, 1, FALSE);
  hear (f, "Your name?", NULL);
  expect_intake (f, "dept", "sales");
  fail_unless_equals_string (
      gst_structure_get_string (
          expect_message (f, "agent-turn", "input", "dtmf"), "heard"),
      "1");
  say (f, "j o h n");
  hear (f, "Number, John?", NULL);
  /* keyed in, '*' starts over, '#' ends */
  press (f, "99*5551212#");
  hear (f, "I have 5 5 5 1 2 1 2.", "Right?", NULL);
  expect_intake (f, "phone", "5551212");
  say (f, "no that's not right");
  hear (f, "Again then.", "Number, John?", NULL);
  expect_hints (f, "menu", TRUE, NULL);
  expect_hints (f, "name", FALSE, NULL);
  expect_hints (f, "phone", TRUE, NULL);
  expect_hints (f, "confirm", TRUE, NULL);
  expect_hints (f, "phone", TRUE, NULL);
  say (f, "it's oh eight double five triple two one");
  hear (f, "I have 0 8 5 5 2 2 2 1.", "Right?", NULL);
  /* keypad yes */
  press (f, "1");
  hear (f, "When?", NULL);
  /* the global operator key */
  press (f, "0");
  hear (f, "Connecting you.", NULL);
  fail_unless_equals_string (
      gst_structure_get_string (
          expect_message (f, "agent-action", NULL, NULL), "target"),
      "sip:desk@example.com");
  fixture_free (f);
}

GST_END_TEST;

GST_START_TEST (test_no_match_reprompts_then_global_intent)
{
  Fixture *f = fixture_new (flow_script);
  const GstStructure *s;

  start (f);
  hear (f, "Say sales or support.", NULL);
  say (f, "I'd like a pizza");
  hear (f, "Pardon?", "Sales or support?", NULL);
  s = expect_message (f, "agent-turn", "matched", "no-match");
  fail_unless_equals_string (
      gst_structure_get_string (s, "heard"), "I'd like a pizza");
  press (f, "7");
  /* max-retries = 1: the second miss is the fallback */
  hear (f, "Giving up.", NULL);
  s = expect_message (f, "agent-action", NULL, NULL);
  fail_unless_equals_string (gst_structure_get_string (s, "action"), "hangup");
  fail_unless_equals_string (
      gst_structure_get_string (s, "reason"), "max-retries");
  fixture_free (f);

  /* a global intent where the state does not understand */
  f = fixture_new (flow_script);
  start (f);
  hear (f, "Say sales or support.", NULL);
  say (f, "let me talk to the front desk");
  hear (f, "Connecting you.", NULL);
  s = expect_message (f, "agent-action", NULL, NULL);
  fail_unless_equals_string (
      gst_structure_get_string (s, "action"), "transfer");
  fail_unless_equals_string (
      gst_structure_get_string (s, "target"), "sip:desk@example.com");
  fail_unless_equals_string (
      gst_structure_get_string (s, "reason"), "intent:operator");
  fail_unless_equals_string (gst_structure_get_string (s, "state"), "menu");
  fixture_free (f);
}

GST_END_TEST;

GST_START_TEST (test_no_input_reprompt_and_fallback)
{
  gchar *script = quick_flow_script ();
  Fixture *f = fixture_new (script);
  gint64 t0;

  start (f);
  hear (f, "Say sales or support.", NULL);
  t0 = g_get_monotonic_time ();
  hear (f, "Hello?", "Sales or support?", NULL);
  /* timeout = 0.3 s, counted from the end of the prompt */
  fail_unless (g_get_monotonic_time () - t0 >= 250 * 1000);
  fail_unless_equals_string (
      gst_structure_get_string (
          expect_message (f, "agent-turn", "matched", "no-input"), "input"),
      "no-input");
  hear (f, "Giving up.", NULL);
  fail_unless_equals_string (
      gst_structure_get_string (
          expect_message (f, "agent-action", NULL, NULL), "reason"),
      "max-retries");
  fixture_free (f);
  g_free (script);
}

GST_END_TEST;

GST_START_TEST (test_no_input_waits_for_playout)
{
  gchar *script = quick_flow_script ();
  Fixture *f = fixture_new (script);

  start (f);
  expect_text (f, "Say sales or support.");
  /* ttsbridge started but has not finished: no timer yet */
  tts (f, GST_AGENT_EVENT_TTS_STARTED, "Say sales or support.", FALSE, FALSE);
  expect_silence (f, 1000);
  tts (f, GST_AGENT_EVENT_TTS_FINISHED, "Say sales or support.", FALSE, TRUE);
  hear (f, "Hello?", "Sales or support?", NULL);
  /* the caller started talking: no re-prompt over them */
  speech_started (f);
  expect_silence (f, 1000);
  say (f, "sales please");
  hear (f, "Your name?", NULL);
  fixture_free (f);
  g_free (script);
}

GST_END_TEST;

GST_START_TEST (test_hold_pauses_and_resumes)
{
  gchar *script = quick_flow_script ();
  Fixture *f = fixture_new (script);

  start (f);
  expect_text (f, "Say sales or support.");
  tts (f, GST_AGENT_EVENT_TTS_STARTED, "Say sales or support.", FALSE, FALSE);
  hold (f, TRUE);
  /* what it was saying is cut in ttsbridge too */
  fail_unless (wait_event (f, GST_AGENT_EVENT_BARGE_IN, WAIT_US));
  /* no re-prompt into the hold (timeout = 0.3 s), and nothing heard on
   * hold counts */
  say (f, "sales");
  press (f, "2");
  speech_started (f);
  expect_silence (f, 1200);
  hold (f, FALSE);
  hear (f, "Thank you for holding.", "Sales or support?", NULL);
  fail_unless_equals_string (
      gst_structure_get_string (
          expect_message (f, "agent-turn", "input", "resumed"), "matched"),
      "resumed");
  /* the timers run again */
  hear (f, "Hello?", "Sales or support?", NULL);
  say (f, "sales please");
  hear (f, "Your name?", NULL);
  fixture_free (f);
  g_free (script);
}

GST_END_TEST;

GST_START_TEST (test_no_input_without_feedback)
{
  gchar *script = quick_flow_script ();
  Fixture *f = fixture_new (script);
  gint64 t0;

  start (f);
  expect_text (f, "Say sales or support.");
  t0 = g_get_monotonic_time ();
  /* nobody reports playout: the timer runs from the push */
  expect_texts (f, "Hello?", "Sales or support?", "Giving up.", NULL);
  fail_unless (g_get_monotonic_time () - t0 >= 500 * 1000);
  /* the hangup waits for the estimated end of "Giving up." instead */
  t0 = g_get_monotonic_time ();
  expect_message_within (
      f, "agent-action", "action", "hangup", 20 * G_USEC_PER_SEC);
  fail_unless (g_get_monotonic_time () - t0 >= 300 * 1000);
  fixture_free (f);
  g_free (script);
}

GST_END_TEST;

GST_START_TEST (test_global_group_after_states)
{
  /* a state's key names a global intent declared further down */
  Fixture *f = fixture_new ("[script]\n"
                            "start = menu\n"
                            "[state menu]\n"
                            "say = Press 1 or 9.\n"
                            "intent.one = one\n"
                            "on.one = say One.; hangup\n"
                            "dtmf.1 = one\n"
                            "dtmf.9 = operator\n"
                            "[global]\n"
                            "intent.operator = operator\n"
                            "on.operator = transfer front desk\n");
  const GstStructure *s;

  start (f);
  hear (f, "Press 1 or 9.", NULL);
  press (f, "9");
  s = expect_message (f, "agent-action", NULL, NULL);
  fail_unless_equals_string (
      gst_structure_get_string (s, "target"), "front desk");
  fail_unless_equals_string (
      gst_structure_get_string (s, "reason"), "dtmf:operator");
  fixture_free (f);
}

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* Slots                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct
{
  const gchar *heard;
  const gchar *value; /* NULL: no match */
} SlotCase;

static void
check_slot_cases (
    const gchar *type, const gchar *extra, const SlotCase *cases, guint n)
{
  gchar *script = slot_script (type, extra);
  Fixture *f = fixture_new (script);
  guint i;

  start (f);
  hear (f, "Go.", NULL);
  for (i = 0; i < n; i++) {
    say (f, cases[i].heard);
    if (cases[i].value) {
      gchar *got = g_strdup_printf ("Got %s.", cases[i].value);

      hear (f, got, "Go.", NULL);
      expect_intake (f, "value", cases[i].value);
      g_free (got);
    } else {
      hear (f, "Pardon?", "Go.", NULL);
      expect_message (f, "agent-turn", "matched", "no-match");
    }
  }
  fixture_free (f);
  g_free (script);
}

GST_START_TEST (test_slot_yesno)
{
  static const SlotCase cases[] = {
      {"yes", "yes"},
      {"Yeah.", "yes"},
      {"yep", "yes"},
      {"that's correct", "yes"},
      {"Sure, go ahead", "yes"},
      {"no problem", "yes"},
      {"no", "no"},
      {"Nope!", "no"},
      {"that's not right", "no"},
      {"wrong", "no"},
      {"banana", NULL},
      {"", NULL},
  };

  check_slot_cases ("yesno", NULL, cases, G_N_ELEMENTS (cases));
}

GST_END_TEST;

GST_START_TEST (test_slot_phone)
{
  static const SlotCase cases[] = {
      {"five five five one two three four", "5551234"},
      {"My number is 555-123-4567.", "5551234567"},
      {"(212) 555 0100", "2125550100"},
      {"oh eight double five triple two one", "08552221"},
      {"eight hundred five five five one two one two", "8005551212"},
      {"four one five five fifty five twelve twelve", "4155551212"},
      {"one two three", NULL},
      {"1234567890123456", NULL},
      {"call me maybe", NULL},
  };

  check_slot_cases ("phone", NULL, cases, G_N_ELEMENTS (cases));
}

GST_END_TEST;

GST_START_TEST (test_slot_phone_dtmf_length)
{
  gchar *script = slot_script ("phone", "length = 10\n");
  Fixture *f = fixture_new (script);

  start (f);
  hear (f, "Go.", NULL);
  /* ten digits end the number without '#' */
  press (f, "212555010");
  expect_silence (f, 300);
  press (f, "0");
  hear (f, "Got 2125550100.", "Go.", NULL);
  /* too short, ended by '#' */
  press (f, "123#");
  hear (f, "Pardon?", "Go.", NULL);
  fail_unless_equals_string (
      gst_structure_get_string (
          expect_message (f, "agent-turn", "matched", "no-match"), "heard"),
      "123#");
  fixture_free (f);
  g_free (script);
}

GST_END_TEST;

GST_START_TEST (test_slot_date)
{
  GDateTime *now = g_date_time_new_now_local ();
  gint wd = g_date_time_get_day_of_week (now); /* 1 = Monday */
  gint back_friday = (wd - 5 + 7) % 7;
  gchar *today = iso_days_ago (0), *yesterday = iso_days_ago (1);
  gchar *before = iso_days_ago (2), *three = iso_days_ago (3);
  gchar *last_friday = iso_days_ago (back_friday == 0 ? 7 : back_friday);
  gchar *friday = iso_days_ago (back_friday);
  gchar *march3;
  GDate d, t;
  SlotCase cases[16];
  guint n = 0;

  /* "march third" is the last March 3 up to today */
  g_date_clear (&t, 1);
  g_date_clear (&d, 1);
  g_date_set_dmy (&t, g_date_time_get_day_of_month (now),
      g_date_time_get_month (now), g_date_time_get_year (now));
  g_date_set_dmy (&d, 3, G_DATE_MARCH, g_date_time_get_year (now));
  if (g_date_compare (&d, &t) > 0)
    g_date_subtract_years (&d, 1);
  march3 = g_strdup_printf ("%04d-03-03", g_date_get_year (&d));

  cases[n++] = (SlotCase){"today", today};
  cases[n++] = (SlotCase){"It happened yesterday.", yesterday};
  cases[n++] = (SlotCase){"the day before yesterday", before};
  cases[n++] = (SlotCase){"three days ago", three};
  cases[n++] = (SlotCase){"last Friday", last_friday};
  cases[n++] = (SlotCase){"on friday", friday};
  cases[n++] = (SlotCase){"March third", march3};
  cases[n++] = (SlotCase){"the 3rd of march", march3};
  cases[n++] = (SlotCase){"March 3rd, 2023", "2023-03-03"};
  cases[n++] = (SlotCase){"march twenty first twenty twenty two", "2022-03-21"};
  cases[n++] = (SlotCase){"2024-02-29", "2024-02-29"};
  cases[n++] = (SlotCase){"on 7/4/2023", "2023-07-04"};
  cases[n++] = (SlotCase){"2/30/2024", NULL};
  cases[n++] = (SlotCase){"tomorrow", NULL};
  cases[n++] = (SlotCase){"sometime in spring", NULL};
  check_slot_cases ("date", NULL, cases, n);
  g_date_time_unref (now);
  g_free (today);
  g_free (yesterday);
  g_free (before);
  g_free (three);
  g_free (last_friday);
  g_free (friday);
  g_free (march3);
}

GST_END_TEST;

GST_START_TEST (test_slot_date_future)
{
  gchar *tomorrow = iso_days_ago (-1);
  SlotCase cases[] = {
      {"tomorrow", tomorrow},
      {"yesterday", NULL},
  };

  check_slot_cases ("date", "dates = future\n", cases, G_N_ELEMENTS (cases));
  g_free (tomorrow);
}

GST_END_TEST;

GST_START_TEST (test_slot_name)
{
  static const SlotCase cases[] = {
      {"my name is john smith", "John Smith"},
      {"J O H N", "John"},
      {"it's Mary O'Brien", "Mary O'brien"},
      {"Smith, S-M-I-T-H.", "Smith"},
      {"this is anne-marie lopez thanks", "Anne-Marie Lopez"},
      {"yes", NULL},
      {"my name is", NULL},
      {"R2D2", NULL},
      {"one two three", NULL},
  };

  check_slot_cases ("name", NULL, cases, G_N_ELEMENTS (cases));
}

GST_END_TEST;

GST_START_TEST (test_slot_text)
{
  static const SlotCase cases[] = {
      {"  A tree fell on my car.  ", "A tree fell on my car."},
      {"anything at all", "anything at all"},
      {"...", NULL},
  };

  check_slot_cases ("text", NULL, cases, G_N_ELEMENTS (cases));
}

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* Barge-in                                                                  */
/* ------------------------------------------------------------------------ */

static const gchar story_script[] =
    "[script]\n"
    "start = legal\n"
    "timeout = 30\n"
    "\n"
    "[state legal]\n"
    "say = This is a legal notice. Please listen.\n"
    "barge-in = false\n"
    "next = goto ask\n"
    "\n"
    "[state ask]\n"
    "say = What now?\n"
    "intent.story = story\n"
    "on.story = say One. Two. Three. Four.; goto ask\n";

GST_START_TEST (test_barge_in_drops_rest_of_reply)
{
  Fixture *f = fixture_new (story_script);
  GstStructure *hints;

  start (f);
  hear (f, "This is a legal notice.", "Please listen.", "What now?", NULL);
  hints = pull_hints (f);
  gst_structure_free (hints);
  expect_hints (f, "ask", TRUE, "story");
  say (f, "tell me a story");
  /* with ttsbridge feedback the agent keeps two sentences in flight */
  expect_texts (f, "One.", "Two.", NULL);
  expect_silence (f, 300);
  tts (f, GST_AGENT_EVENT_TTS_STARTED, "One.", FALSE, FALSE);
  drain_events (f);
  speech_started (f);
  fail_unless (wait_event (f, GST_AGENT_EVENT_BARGE_IN, WAIT_US));
  /* what was held back is gone, even once ttsbridge drained */
  tts (f, GST_AGENT_EVENT_TTS_FINISHED, "One.", TRUE, TRUE);
  expect_silence (f, 500);
  /* the dialog goes on with what the caller says */
  say (f, "another story please");
  expect_texts (f, "One.", "Two.", NULL);
  tts (f, GST_AGENT_EVENT_TTS_FINISHED, "One.", FALSE, FALSE);
  expect_text (f, "Three.");
  fixture_free (f);
}

GST_END_TEST;

GST_START_TEST (test_barge_in_refused_while_protected)
{
  Fixture *f = fixture_new (story_script);

  start (f);
  expect_texts (
      f, "This is a legal notice.", "Please listen.", "What now?", NULL);
  tts (f, GST_AGENT_EVENT_TTS_STARTED, "This is a legal notice.", FALSE, FALSE);
  drain_events (f);
  /* the notice may not be interrupted: no barge-in, input ignored */
  speech_started (f);
  say (f, "story");
  fail_if (wait_event (f, GST_AGENT_EVENT_BARGE_IN, 500 * 1000));
  expect_silence (f, 300);
  /* once the notice has played, "What now?" may be interrupted */
  tts (
      f, GST_AGENT_EVENT_TTS_FINISHED, "This is a legal notice.", FALSE, FALSE);
  tts (f, GST_AGENT_EVENT_TTS_STARTED, "Please listen.", FALSE, FALSE);
  tts (f, GST_AGENT_EVENT_TTS_FINISHED, "Please listen.", FALSE, FALSE);
  tts (f, GST_AGENT_EVENT_TTS_STARTED, "What now?", FALSE, FALSE);
  speech_started (f);
  fail_unless (wait_event (f, GST_AGENT_EVENT_BARGE_IN, WAIT_US));
  say (f, "story");
  expect_texts (f, "One.", "Two.", NULL);
  fixture_free (f);
}

GST_END_TEST;

GST_START_TEST (test_barge_in_property_off)
{
  Fixture *f = fixture_new_full (story_script, NULL, "barge-in", FALSE, NULL);

  start (f);
  hear (f, "This is a legal notice.", "Please listen.", "What now?", NULL);
  say (f, "story");
  expect_texts (f, "One.", "Two.", NULL);
  tts (f, GST_AGENT_EVENT_TTS_STARTED, "One.", FALSE, FALSE);
  drain_events (f);
  speech_started (f);
  fail_if (wait_event (f, GST_AGENT_EVENT_BARGE_IN, 500 * 1000));
  /* the reply goes on */
  tts (f, GST_AGENT_EVENT_TTS_FINISHED, "One.", FALSE, FALSE);
  expect_text (f, "Three.");
  fixture_free (f);
}

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* Actions                                                                   */
/* ------------------------------------------------------------------------ */

GST_START_TEST (test_action_waits_for_playout)
{
  Fixture *f = fixture_new (flow_script);
  const GstStructure *s;

  start (f);
  hear (f, "Say sales or support.", NULL);
  say (f, "operator");
  expect_text (f, "Connecting you.");
  /* decided, but the caller has not heard it yet */
  expect_message (f, "intake", "fields", NULL);
  tts (f, GST_AGENT_EVENT_TTS_STARTED, "Connecting you.", FALSE, FALSE);
  expect_no_message (f, "agent-action", 700);
  tts (f, GST_AGENT_EVENT_TTS_FINISHED, "Connecting you.", FALSE, TRUE);
  s = expect_message (f, "agent-action", NULL, NULL);
  fail_unless_equals_string (
      gst_structure_get_string (s, "action"), "transfer");
  fail_unless_equals_string (
      gst_structure_get_string (s, "target"), "sip:desk@example.com");
  /* nothing more is said, nothing more is done */
  say (f, "sales");
  speech_started (f);
  expect_silence (f, 500);
  fail_if (wait_event (f, GST_AGENT_EVENT_BARGE_IN, 0));
  expect_no_message (f, "agent-action", 0);
  fixture_free (f);
}

GST_END_TEST;

/* "callback NUMBER" ends the call asking the application to call back; a
 * call we place starts in outbound-start. */
static const gchar callback_script[] =
    "[script]\n"
    "start = hello\n"
    "outbound-start = back\n"
    "[state hello]\n"
    "say = We will call you back.\n"
    "next = set phone=+15551234; callback {phone}\n"
    "[state back]\n"
    "say = Calling you back.\n"
    "next = hangup\n";

GST_START_TEST (test_callback_and_outbound_start)
{
  Fixture *f = fixture_new (callback_script);
  const GstStructure *s;

  start (f);
  hear (f, "We will call you back.", NULL);
  tts (f, GST_AGENT_EVENT_TTS_STARTED, "We will call you back.", FALSE, FALSE);
  tts (f, GST_AGENT_EVENT_TTS_FINISHED, "We will call you back.", FALSE, TRUE);
  s = expect_message (f, "agent-action", NULL, NULL);
  fail_unless_equals_string (
      gst_structure_get_string (s, "action"), "callback");
  fail_unless_equals_string (
      gst_structure_get_string (s, "target"), "+15551234");
  fixture_free (f);

  /* the same script in a call we placed */
  f = fixture_new_full (callback_script, NULL, "outbound", TRUE, NULL);
  start (f);
  hear (f, "Calling you back.", NULL);
  tts (f, GST_AGENT_EVENT_TTS_STARTED, "Calling you back.", FALSE, FALSE);
  tts (f, GST_AGENT_EVENT_TTS_FINISHED, "Calling you back.", FALSE, TRUE);
  s = expect_message (f, "agent-action", NULL, NULL);
  fail_unless_equals_string (gst_structure_get_string (s, "action"), "hangup");
  fixture_free (f);
}

GST_END_TEST;

/* "send-dtmf KEYS" asks sipbin to press keys towards the far end (an IVR)
 * at once; the conversation goes on. */
static const gchar send_dtmf_script[] =
    "[script]\n"
    "start = a\n"
    "[state a]\n"
    "say = Hello.\n"
    "intent.ivr = extension\n"
    "dtmf.9 = ivr\n"
    "on.ivr = send-dtmf 204#b; say Dialling.; goto b\n"
    "[state b]\n"
    "say = Waiting.\n"
    "intent.bye = goodbye\n"
    "on.bye = hangup\n";

GST_START_TEST (test_send_dtmf_action)
{
  Fixture *f = fixture_new (send_dtmf_script);
  const GstStructure *s;

  start (f);
  hear (f, "Hello.", NULL);
  press (f, "9");
  s = expect_message (f, "agent-action", "action", "send-dtmf");
  fail_unless_equals_string (gst_structure_get_string (s, "digits"), "204#B");
  fail_unless_equals_string (gst_structure_get_string (s, "state"), "a");
  hear (f, "Dialling.", "Waiting.", NULL);
  /* not the end of the conversation */
  expect_no_message (f, "agent-action", 300);
  expect_no_message (f, "intake", 0);
  fixture_free (f);
}

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* Transfers that fail                                                       */
/* ------------------------------------------------------------------------ */

/* A menu that transfers from an intent (no transfer-failed: the built-in
 * default) and from a state with next (its own transfer-failed). The
 * no-input timeout is short, to show that nothing is re-prompted while a
 * transfer is in progress. */
static const gchar transfer_script[] =
    "[script]\n"
    "start = menu\n"
    "timeout = 1\n"
    "max-retries = 5\n"
    "no-input = Hello?\n"
    "\n"
    "[state menu]\n"
    "say = Sales or support?\n"
    "intent.sales = sales\n"
    "intent.support = support\n"
    "on.sales = say Connecting you to sales.; transfer sip:sales@example.com\n"
    "on.support = goto support\n"
    "\n"
    "[state support]\n"
    "say = Please hold for support.\n"
    "next = transfer tel:+15551234\n"
    "transfer-failed = set transfer=failed; say Support is busy.; goto "
    "message\n"
    "\n"
    "[state message]\n"
    "say = Leave a message.\n"
    "slot = text\n"
    "field = message\n"
    "filled = say Thanks.; hangup\n";

static void
expect_transfer_action (Fixture *f, const gchar *target)
{
  const GstStructure *s = expect_message (f, "agent-action", NULL, NULL);

  fail_unless_equals_string (
      gst_structure_get_string (s, "action"), "transfer");
  fail_unless_equals_string (gst_structure_get_string (s, "target"), target);
}

GST_START_TEST (test_transfer_failed_state_key)
{
  Fixture *f = fixture_new (transfer_script);
  const GstStructure *s;

  start (f);
  hear (f, "Sales or support?", NULL);
  say (f, "support please");
  hear (f, "Please hold for support.", NULL);
  expect_intake_end (f, TRUE);
  expect_transfer_action (f, "tel:+15551234");
  /* the transfer is under way: no re-prompt, no input taken */
  expect_silence (f, 1800);
  say (f, "sales");
  expect_silence (f, 300);
  transfer_result (f, FALSE, 486, "tel:+15551234", NULL);
  expect_intake (f, "transfer", "failed");
  hear (f, "Support is busy.", "Leave a message.", NULL);
  s = expect_message (f, "agent-turn", "input", "transfer-failed");
  fail_unless_equals_string (gst_structure_get_string (s, "state"), "support");
  fail_unless_equals_string (
      gst_structure_get_string (s, "matched"), "transfer-failed");
  fail_unless_equals_string (
      gst_structure_get_string (s, "next-state"), "message");
  fail_unless (strstr (gst_structure_get_string (s, "heard"), "486") != NULL);
  /* the conversation goes on and ends again, with everything collected */
  say (f, "please call me back");
  hear (f, "Thanks.", NULL);
  s = expect_intake_end (f, TRUE);
  {
    GstStructure *fields = NULL;

    fail_unless (
        gst_structure_get (s, "fields", GST_TYPE_STRUCTURE, &fields, NULL));
    fail_unless_equals_string (
        gst_structure_get_string (fields, "transfer"), "failed");
    fail_unless_equals_string (
        gst_structure_get_string (fields, "message"), "please call me back");
    gst_structure_free (fields);
  }
  s = expect_message (f, "agent-action", NULL, NULL);
  fail_unless_equals_string (gst_structure_get_string (s, "action"), "hangup");
  fixture_free (f);
}

GST_END_TEST;

GST_START_TEST (test_transfer_failed_default_returns)
{
  Fixture *f = fixture_new (transfer_script);
  const GstStructure *s;

  start (f);
  hear (f, "Sales or support?", NULL);
  say (f, "sales");
  hear (f, "Connecting you to sales.", NULL);
  expect_transfer_action (f, "sip:sales@example.com");
  transfer_result (f, FALSE, 403, "sip:sales@example.com", NULL);
  /* no transfer-failed key: apologise, back to the state that asked */
  hear (f, "I'm sorry, I could not connect you.", "Sales or support?", NULL);
  s = expect_message (f, "agent-turn", "input", "transfer-failed");
  fail_unless_equals_string (
      gst_structure_get_string (s, "next-state"), "menu");
  expect_hints (f, "menu", TRUE, "sales");
  /* and the state works as before */
  say (f, "support");
  hear (f, "Please hold for support.", NULL);
  expect_transfer_action (f, "tel:+15551234");
  fixture_free (f);
}

GST_END_TEST;

GST_START_TEST (test_transfer_succeeded_stays_silent)
{
  Fixture *f = fixture_new (transfer_script);

  call_started (f, "call-1");
  start (f);
  hear (f, "Sales or support?", NULL);
  say (f, "sales");
  hear (f, "Connecting you to sales.", NULL);
  expect_transfer_action (f, "sip:sales@example.com");
  /* a result about another call changes nothing */
  transfer_result (f, FALSE, 486, "sip:sales@example.com", "call-2");
  expect_silence (f, 500);
  /* success: sipbin hangs up; the agent has nothing more to say, and a
   * late failure report for the same transfer is ignored */
  transfer_result (f, TRUE, 200, "sip:sales@example.com", "call-1");
  expect_silence (f, 500);
  transfer_result (f, FALSE, 486, "sip:sales@example.com", "call-1");
  expect_silence (f, 500);
  fail_if (take_message (f, "agent-turn", "input", "transfer-failed", 0));
  fixture_free (f);
}

GST_END_TEST;

GST_START_TEST (test_transfer_failed_at_start_hangs_up)
{
  Fixture *f = fixture_new ("[script]\n"
                            "start = connect\n"
                            "\n"
                            "[state connect]\n"
                            "say = Connecting.\n"
                            "next = transfer sip:desk@example.com\n");
  const GstStructure *s;

  start (f);
  hear (f, "Connecting.", NULL);
  expect_transfer_action (f, "sip:desk@example.com");
  transfer_result (f, FALSE, 0, "sip:desk@example.com", NULL);
  /* nobody asked for it, there is nowhere to go back to */
  hear (f, "I'm sorry, I could not connect you.", "Please call again later.",
      "Goodbye.", NULL);
  s = expect_message (f, "agent-action", NULL, NULL);
  fail_unless_equals_string (gst_structure_get_string (s, "action"), "hangup");
  fail_unless_equals_string (
      gst_structure_get_string (s, "reason"), "transfer-failed");
  fixture_free (f);
}

GST_END_TEST;

GST_START_TEST (test_transfer_failures_do_not_loop)
{
  Fixture *f = fixture_new ("[script]\n"
                            "start = connect\n"
                            "transfer-failed = goto connect\n"
                            "\n"
                            "[state connect]\n"
                            "say = Hold on.\n"
                            "next = transfer sip:desk@example.com\n");
  const GstStructure *s;
  guint i;

  start (f);
  for (i = 0; i < 3; i++) {
    hear (f, "Hold on.", NULL);
    expect_transfer_action (f, "sip:desk@example.com");
    transfer_result (f, FALSE, 480, "sip:desk@example.com", NULL);
  }
  /* the third failure in a row without a word from the caller ends it */
  hear (f, "I'm sorry, I could not connect you.", "Please call again later.",
      "Goodbye.", NULL);
  s = expect_message (f, "agent-action", NULL, NULL);
  fail_unless_equals_string (gst_structure_get_string (s, "action"), "hangup");
  fixture_free (f);
}

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* Voices                                                                    */
/* ------------------------------------------------------------------------ */

static const gchar voice_script[] =
    "[script]\n"
    "start = greeting\n"
    "timeout = 30\n"
    "max-retries = 5\n"
    "no-match = Pardon?\n"
    "\n"
    "[state greeting]\n"
    "say = Hello.\n"
    "next = voice espeak:es; say Para español, oprima dos.; voice default; "
    "goto menu\n"
    "\n"
    "[state menu]\n"
    "say = Press one or two.\n"
    "intent.english = english\n"
    "intent.spanish = spanish\n"
    "dtmf.1 = english\n"
    "dtmf.2 = spanish\n"
    "on.english = say Fine.; goto menu\n"
    "on.spanish = voice es; goto es_menu\n"
    "\n"
    "[state es_menu]\n"
    "say = Diga uno. Oprima dos.\n"
    "no-match = ¿Perdón?\n"
    "intent.one = one\n"
    "dtmf.1 = one\n"
    "on.one = voice flite:kal; say Back to kal.; voice Default; say Bye.; "
    "hangup\n";

/* `voice` sends tts-voice downstream right before the first sentence in
 * the new voice, in order with the text; the voice holds across turns and
 * barge-ins until changed, and each call starts in the default voice. */
GST_START_TEST (test_voice_action)
{
  Fixture *f = fixture_new (voice_script);
  GstEvent *ev;

  watch_output (f);
  call_started (f, "call-1");
  start (f);
  hear (f, "Hello.", "Para español, oprima dos.", "Press one or two.", NULL);
  expect_output (f, "text:Hello.", "voice:espeak:es",
      "text:Para español, oprima dos.", "voice:default",
      "text:Press one or two.", NULL);

  /* a voice without a backend: the one in use */
  press (f, "2");
  hear (f, "Diga uno.", "Oprima dos.", NULL);
  expect_output (f, "voice:es", "text:Diga uno.", "text:Oprima dos.", NULL);

  /* the caller talks over the prompt: the voice stays, nothing to resend */
  expect_hints (f, "greeting", FALSE, NULL);
  expect_hints (f, "menu", TRUE, NULL);
  expect_hints (f, "es_menu", TRUE, NULL);
  say (f, "what");
  expect_text (f, "¿Perdón?");
  tts (f, GST_AGENT_EVENT_TTS_STARTED, "¿Perdón?", FALSE, FALSE);
  speech_started (f);
  fail_unless (wait_event (f, GST_AGENT_EVENT_BARGE_IN, WAIT_US));
  /* pushed before the barge-in (one playing, one being synthesised) */
  expect_text (f, "Diga uno.");
  say (f, "huh");
  hear (f, "¿Perdón?", "Diga uno.", "Oprima dos.", NULL);
  expect_output (f, "text:¿Perdón?", "text:Diga uno.", "text:¿Perdón?", NULL);
  expect_output (f, "text:Diga uno.", "text:Oprima dos.", NULL);

  press (f, "1");
  hear (f, "Back to kal.", "Bye.", NULL);
  expect_output (f, "voice:flite:kal", "text:Back to kal.", "voice:default",
      "text:Bye.", NULL);
  expect_message (f, "agent-action", "action", "hangup");

  /* a new call in the middle of the Spanish menu starts in the default
   * voice: told to ttsbridge before the greeting */
  call_started (f, "call-2");
  hear (f, "Hello.", "Para español, oprima dos.", "Press one or two.", NULL);
  press (f, "2");
  hear (f, "Diga uno.", "Oprima dos.", NULL);
  expect_output (f, "text:Hello.", "voice:espeak:es",
      "text:Para español, oprima dos.", "voice:default",
      "text:Press one or two.", "voice:es", "text:Diga uno.",
      "text:Oprima dos.", NULL);
  call_started (f, "call-3");
  hear (f, "Hello.", "Para español, oprima dos.", "Press one or two.", NULL);
  expect_output (f, "voice:default", "text:Hello.", "voice:espeak:es",
      "text:Para español, oprima dos.", "voice:default",
      "text:Press one or two.", NULL);
  expect_output_empty (f);

  /* the events are serialized custom downstream events */
  while ((ev = gst_harness_try_pull_event (f->h)) != NULL) {
    if (gst_agent_event_is (ev, GST_AGENT_EVENT_TTS_VOICE))
      fail_unless_equals_int (GST_EVENT_TYPE (ev), GST_EVENT_CUSTOM_DOWNSTREAM);
    gst_event_unref (ev);
  }
  fixture_free (f);
}

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* Loading scripts                                                           */
/* ------------------------------------------------------------------------ */

typedef struct
{
  const gchar *text;
  guint line;
  const gchar *what;
} BadScript;

static const BadScript bad_scripts[] = {
    {"[script]\nstart = a\n\n[state a]\nsay = Hi.\nslot = text\n"
     "filled = goto nowhere\n",
        7, "goto unknown state \"nowhere\""},
    {"[script]\ntimeout = 2\n\n[state a]\nsay = Hi.\nnext = hangup\n", 1,
        "[script] has no start"},
    {"# no script group\n[state a]\nsay = Hi.\nnext = hangup\n", 1,
        "no [script] group"},
    {"[script]\nstart = b\n[state a]\nnext = hangup\n", 2,
        "start names unknown state \"b\""},
    {"[script]\nstart = a\n[state a]\nsay = Hi.\nslot = fone\n"
     "filled = hangup\n",
        5, "unknown slot type \"fone\""},
    {"[script]\nstart = a\n[state a]\nsay = Hi.\nsay = Hello.\n"
     "next = hangup\n",
        5, "duplicate key \"say\" in [state a] (first at line 4)"},
    {"[script]\nstart = a\n[state a]\nnext = hangup\n\n[state a]\n"
     "next = hangup\n",
        6, "duplicate group [state a] (first at line 3)"},
    {"[script]\nstart = a\nthis is not a key\n", 3, "expected [group]"},
    {"[script]\nstart = a\n; a comment\n", 3, "comments start with #"},
    {"start = a\n[script]\n", 1, "before the first [group]"},
    {"[script]\nstart = a\n[state a\n", 3, "a group line must be [name]"},
    {"[script]\nstart = a\n[state a]\nsya = Hi.\nnext = hangup\n", 4,
        "unknown key \"sya\" in [state a]"},
    {"[script]\nstart = a\n[state a]\nintent.x = x\n", 4,
        "intent \"x\" has no on.x"},
    {"[script]\nstart = a\n[state a]\nintent.x = x\non.x = hangup\n"
     "dtmf.1 = y\n",
        6, "dtmf.1 names unknown intent \"y\""},
    {"[script]\nstart = a\n[state a]\nsay = Hi {who}.\nnext = hangup\n", 4,
        "{who} names a field this script never sets"},
    {"[script]\nstart = a\n[state a]\nnext = goto b\n[state b]\n"
     "next = goto a\n",
        4, "loops back to itself"},
    {"[script]\nstart = a\ntimeout = soon\n[state a]\nnext = hangup\n", 3,
        "timeout must be a number of seconds"},
    {"[script]\nstart = a\n[state a]\nnext = goto a; say Hi.\n", 4,
        "nothing can follow goto"},
    {"[script]\nstart = a\n[state a]\nnext = dance\n", 4,
        "unknown action \"dance\""},
    {"[script]\nstart = a\noutbound-start = z\n[state a]\nnext = hangup\n", 3,
        "outbound-start names unknown state \"z\""},
    {"[script]\nstart = a\n[state a]\nnext = callback\n", 4,
        "callback needs an argument"},
    {"[script]\nstart = a\n[state a]\nnext = send-dtmf; hangup\n", 4,
        "send-dtmf needs an argument"},
    {"[script]\nstart = a\n[state a]\nnext = send-dtmf 12x; hangup\n", 4,
        "send-dtmf takes up to 32 keys (0-9, *, #, A-D), not \"12x\""},
    {"[script]\nstart = a\n[state a]\nnext = send-dtmf "
     "123456789012345678901234567890123; hangup\n",
        4, "send-dtmf takes up to 32 keys"},
    {"[script]\nstart = a\n[state a]\nnext = callback {phone}\n", 4,
        "{phone} names a field this script never sets"},
    {"[script]\nstart = a\n[state a]\nslot = yesno\nyes = hangup\n", 4,
        "slot = yesno needs yes = and no ="},
    {"[script]\nstart = a\n[state a]\nsay = Hi.\n", 3,
        "state \"a\" waits for nothing"},
    {"[script]\nstart = a\n[state a]\nnext = repeat\n", 4,
        "next must end with goto, transfer or hangup"},
    {"[script]\nstart = a\ntransfer-failed = say Hm.\n[state a]\n"
     "next = hangup\n",
        3, "transfer-failed must end with goto or hangup"},
    {"[script]\nstart = a\n[state a]\nnext = hangup\n"
     "transfer-failed = say Hm.; transfer sip:b@example.com\n",
        5, "transfer-failed cannot transfer again"},
    {"[script]\nstart = a\n[state a]\nslot = text\nfilled = set 9 lives=x; "
     "hangup\n",
        5, "bad field name \"9 lives\""},
    {"[script]\nstart = a\n[state a]\nnext = voice polly:joanna; hangup\n", 4,
        "unknown speech backend \"polly\""},
    {"[script]\nstart = a\n[state a]\nnext = voice es mx; hangup\n", 4,
        "bad voice \"es mx\""},
    {"[script]\nstart = a\n[state a]\nnext = voice espeak:; hangup\n", 4,
        "bad voice \"espeak:\""},
    {"[script]\nstart = a\n[state a]\nnext = voice; hangup\n", 4,
        "voice needs an argument"},
    {"[script]\nstart = a\nfallback = voice flite:k@l; hangup\n\n"
     "[state a]\nnext = hangup\n",
        3, "bad voice \"flite:k@l\""},
};

/* NULL->READY must fail with one error, "PATH:LINE: WHAT...". */
static gchar *
load_error (const gchar *path, const gchar *backend)
{
  GstElement *agent = gst_element_factory_make ("agent", NULL);
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;
  GError *err = NULL;
  gchar *text;

  gst_element_set_bus (agent, bus);
  g_object_set (agent, "script", path, NULL);
  if (backend)
    g_object_set (agent, "backend", backend, NULL);
  fail_unless_equals_int (
      gst_element_set_state (agent, GST_STATE_READY), GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &err, NULL);
  text = g_strdup (err->message);
  g_error_free (err);
  gst_message_unref (msg);
  gst_element_set_state (agent, GST_STATE_NULL);
  gst_object_unref (agent);
  gst_object_unref (bus);
  return text;
}

GST_START_TEST (test_bad_scripts)
{
  gchar *dir = make_tmp_dir ();
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad_scripts); i++) {
    gchar *name = g_strdup_printf ("bad%u.ini", i);
    gchar *path = write_file (dir, name, bad_scripts[i].text);
    gchar *prefix = g_strdup_printf ("%s:%u: ", path, bad_scripts[i].line);
    gchar *msg = load_error (path, NULL);

    fail_unless (g_str_has_prefix (msg, prefix),
        "script %u: expected \"%s...\", got \"%s\"", i, prefix, msg);
    fail_unless (strstr (msg, bad_scripts[i].what) != NULL,
        "script %u: expected \"%s\" in \"%s\"", i, bad_scripts[i].what, msg);
    g_unlink (path);
    g_free (msg);
    g_free (prefix);
    g_free (path);
    g_free (name);
  }
  g_rmdir (dir);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_missing_script_and_backend)
{
  gchar *msg = load_error ("/nonexistent/intake.ini", NULL);

  fail_unless (g_str_has_prefix (msg, "/nonexistent/intake.ini: "), "%s", msg);
  g_free (msg);
  msg = load_error (NULL, "telepathy");
  fail_unless (
      strstr (msg, "Unknown agent backend \"telepathy\"") != NULL, "%s", msg);
  g_free (msg);
}

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* The shipped scripts                                                       */
/* ------------------------------------------------------------------------ */

GST_START_TEST (test_default_script_conversation)
{
  Fixture *f = fixture_new (NULL);
  const GstStructure *s;
  GstStructure *fields = NULL;

  start (f);
  hear (f, "Hello, thank you for calling.", "How can I help you today?", NULL);
  say (f, "I'm calling about my bill.");
  hear (f, "I can help with that.", "May I have your name, please?", NULL);
  expect_intake (f, "reason", "I'm calling about my bill.");
  say (f, "Bob Jones");
  hear (f, "Thank you, Bob Jones.", "What is the best number to reach you?",
      "You can also key it in, followed by the pound key.", NULL);
  say (f, "five five five one two one two");
  hear (f, "I have 5 5 5 1 2 1 2.", "Is that right?", NULL);
  /* the global "repeat" intent */
  say (f, "could you say that again");
  hear (f, "Is 5 5 5 1 2 1 2 the right number?", "Please say yes or no.", NULL);
  say (f, "yes");
  hear (f, "Would you like to leave a message?", NULL);
  say (f, "yes please");
  hear (f, "Please go ahead with your message.", NULL);
  say (f, "Please call me back about the invoice.");
  hear (f, "Thank you, I have your message.",
      "Someone will call you back at 5 5 5 1 2 1 2 soon.",
      "Thank you for calling.", "Goodbye.", NULL);
  s = expect_message (f, "intake", "fields", NULL);
  fail_unless (
      gst_structure_get (s, "fields", GST_TYPE_STRUCTURE, &fields, NULL));
  fail_unless_equals_string (
      gst_structure_get_string (fields, "caller_name"), "Bob Jones");
  fail_unless_equals_string (
      gst_structure_get_string (fields, "phone"), "5551212");
  fail_unless_equals_string (gst_structure_get_string (fields, "message"),
      "Please call me back about the invoice.");
  gst_structure_free (fields);
  s = expect_message (f, "agent-action", NULL, NULL);
  fail_unless_equals_string (gst_structure_get_string (s, "action"), "hangup");
  fail_unless_equals_string (gst_structure_get_string (s, "state"), "goodbye");
  fixture_free (f);
}

GST_END_TEST;

GST_START_TEST (test_lawfirm_intake)
{
  Fixture *f =
      fixture_new_full (NULL, TOP_SRCDIR "/examples/intake-lawfirm.ini", NULL);
  gchar *yesterday = iso_days_ago (1);
  const GstStructure *s;
  GstStructure *fields = NULL;
  gboolean complete = FALSE;

  call_started (f, "lawfirm-1");
  /* sipsrc's caps and segment may follow: no second greeting */
  start (f);
  hear (f, "Thank you for calling Smith and Jones, injury attorneys.",
      "This call is recorded so that we can help you better.",
      "Are you calling about an accident, an injury, an existing case, or "
      "something else?",
      "You can also press 1 for an accident, 2 for an injury, 3 for an "
      "existing case, or 4 for anything else.",
      NULL);
  expect_hints (f, "greeting", FALSE, NULL);
  expect_hints (f, "reason", TRUE, "existing case");
  say (f, "I was in a car accident");
  hear (f, "I'm sorry to hear about your accident.",
      "May I have your full name, please?", NULL);
  expect_intake (f, "reason", "accident");
  say (f, "my name is Jane Doe");
  hear (f, "Thank you, Jane Doe.",
      "What is the best phone number to reach you?",
      "You can also key it in, followed by the pound key.", NULL);
  expect_intake (f, "caller_name", "Jane Doe");
  press (f, "2125551234#");
  hear (f, "I have 2 1 2 5 5 5 1 2 3 4.", "Is that right?", NULL);
  expect_intake (f, "phone", "2125551234");
  say (f, "yes that's right");
  hear (f, "When did it happen?",
      "For example, yesterday, last Friday, or March third.", NULL);
  say (f, "it was yesterday evening");
  hear (f, "And where did it happen?", NULL);
  expect_intake (f, "incident_date", yesterday);
  say (f, "On Main Street, near the library.");
  hear (f, "Thank you, Jane Doe.",
      "Would you like me to connect you with an attorney now?",
      "If not, I can take a message.", NULL);
  expect_intake (f, "incident_place", "On Main Street, near the library.");
  say (f, "yes please");
  expect_text (f, "Please hold while I connect you with an attorney.");
  s = expect_message (f, "intake", "fields", NULL);
  fail_unless (gst_structure_get_boolean (s, "complete", &complete));
  fail_unless (complete);
  fail_unless_equals_string (
      gst_structure_get_string (s, "call-id"), "lawfirm-1");
  fail_unless (
      gst_structure_get (s, "fields", GST_TYPE_STRUCTURE, &fields, NULL));
  fail_unless_equals_int (gst_structure_n_fields (fields), 5);
  fail_unless_equals_string (
      gst_structure_get_string (fields, "reason"), "accident");
  fail_unless_equals_string (
      gst_structure_get_string (fields, "incident_date"), yesterday);
  gst_structure_free (fields);
  expect_no_message (f, "agent-action", 300);
  tts (f, GST_AGENT_EVENT_TTS_FINISHED,
      "Please hold while I connect you with an attorney.", FALSE, TRUE);
  s = expect_message (f, "agent-action", NULL, NULL);
  fail_unless_equals_string (
      gst_structure_get_string (s, "action"), "transfer");
  fail_unless_equals_string (
      gst_structure_get_string (s, "target"), "attorney");
  fail_unless_equals_string (gst_structure_get_string (s, "state"), "offer");
  fail_unless_equals_string (gst_structure_get_string (s, "reason"), "yes");
  /* nobody picks up at the firm: the agent takes a message instead */
  transfer_result (f, FALSE, 480, "attorney", "lawfirm-1");
  expect_intake (f, "transfer", "failed");
  hear (f, "I'm sorry, nobody can take your call right now.",
      "Let me take a message instead.", "Please go ahead with your message.",
      NULL);
  say (f, "Please call me tomorrow morning.");
  hear (f, "Thank you.",
      "An attorney will call you back at 2 1 2 5 5 5 1 2 3 4 as soon as "
      "possible.",
      "Goodbye.", NULL);
  expect_intake_end (f, TRUE);
  s = expect_message (f, "agent-action", NULL, NULL);
  fail_unless_equals_string (gst_structure_get_string (s, "action"), "hangup");
  g_free (yesterday);
  fixture_free (f);
}

GST_END_TEST;

GST_START_TEST (test_lawfirm_keys_and_message)
{
  Fixture *f =
      fixture_new_full (NULL, TOP_SRCDIR "/examples/intake-lawfirm.ini", NULL);
  const GstStructure *s;

  start (f);
  expect_texts (f, "Thank you for calling Smith and Jones, injury attorneys.",
      "This call is recorded so that we can help you better.",
      "Are you calling about an accident, an injury, an existing case, or "
      "something else?",
      "You can also press 1 for an accident, 2 for an injury, 3 for an "
      "existing case, or 4 for anything else.",
      NULL);
  /* a key during the recording notice is ignored */
  tts (f, GST_AGENT_EVENT_TTS_STARTED,
      "Thank you for calling Smith and Jones, injury attorneys.", FALSE, FALSE);
  press (f, "2");
  expect_silence (f, 500);
  /* a report about nothing the agent said changes nothing */
  tts (f, GST_AGENT_EVENT_TTS_FINISHED, "", FALSE, TRUE);
  press (f, "2");
  expect_silence (f, 300);
  /* everything played: the menu key works */
  tts (f, GST_AGENT_EVENT_TTS_FINISHED,
      "Thank you for calling Smith and Jones, injury attorneys.", FALSE, FALSE);
  tts (f, GST_AGENT_EVENT_TTS_FINISHED,
      "You can also press 1 for an accident, 2 for an injury, 3 for an "
      "existing case, or 4 for anything else.",
      FALSE, TRUE);
  press (f, "3");
  hear (f, "May I have your full name, please?", NULL);
  expect_intake (f, "reason", "existing case");
  say (f, "It's Sam Lee.");
  hear (f, "Thank you, Sam Lee.", "What is the best phone number to reach you?",
      "You can also key it in, followed by the pound key.", NULL);
  say (f, "three one two five five five oh one nine nine");
  hear (f, "I have 3 1 2 5 5 5 0 1 9 9.", "Is that right?", NULL);
  say (f, "no");
  hear (f, "Let's try that again.", "Thank you, Sam Lee.",
      "What is the best phone number to reach you?",
      "You can also key it in, followed by the pound key.", NULL);
  say (f, "three one two five five five oh one nine eight");
  hear (f, "I have 3 1 2 5 5 5 0 1 9 8.", "Is that right?", NULL);
  press (f, "1");
  hear (f, "When did it happen?",
      "For example, yesterday, last Friday, or March third.", NULL);
  say (f, "I'm not sure");
  hear (f, "Sorry, I didn't catch that.",
      "Please tell me the date it happened, like last Monday, or June fifth.",
      NULL);
  say (f, "last friday");
  hear (f, "And where did it happen?", NULL);
  say (f, "At the grocery store");
  hear (f, "Thank you, Sam Lee.",
      "Would you like me to connect you with an attorney now?",
      "If not, I can take a message.", NULL);
  /* the state's intent wins over its yes/no slot */
  say (f, "no, just take a message");
  hear (f, "Please go ahead with your message.", NULL);
  say (f, "Please call me about my case.");
  hear (f, "Thank you.",
      "An attorney will call you back at 3 1 2 5 5 5 0 1 9 8 as soon as "
      "possible.",
      "Goodbye.", NULL);
  expect_intake (f, "message", "Please call me about my case.");
  expect_intake_end (f, TRUE);
  s = expect_message (f, "agent-action", NULL, NULL);
  fail_unless_equals_string (gst_structure_get_string (s, "action"), "hangup");
  fail_unless_equals_string (gst_structure_get_string (s, "state"), "goodbye");
  fixture_free (f);
}

GST_END_TEST;

#define BILINGUAL TOP_SRCDIR "/examples/intake-lawfirm-bilingual.ini"

static const gchar *const bilingual_greeting[] = {
    "Thank you for calling Smith and Jones, injury attorneys.",
    "This call is recorded so that we can help you better.",
    "Para español, oprima dos."};
static const gchar *const english_reason[] = {
    "Are you calling about an accident, an injury, an existing case, or "
    "something else?",
    "You can also press 1 for an accident, 2 for an injury, 3 for an "
    "existing case, or 4 for anything else."};

/* The greeting in English, the offer in espeak-ng's Spanish. */
static void
hear_bilingual_greeting (Fixture *f, gboolean after_spanish)
{
  hear (f, bilingual_greeting[0], bilingual_greeting[1], bilingual_greeting[2],
      NULL);
  if (after_spanish)
    expect_output (f, "voice:default", NULL);
  expect_output (f,
      "text:Thank you for calling Smith and Jones, injury "
      "attorneys.",
      "text:This call is recorded so that we can help you better.",
      "voice:espeak:es", "text:Para español, oprima dos.", NULL);
}

/* examples/intake-lawfirm-bilingual.ini: press 2 and the rest is Spanish,
 * in espeak-ng's voice, by keys; 1 or silence keeps English. */
GST_START_TEST (test_lawfirm_bilingual)
{
  Fixture *f = fixture_new_full (NULL, BILINGUAL, NULL);
  const GstStructure *s;
  GstStructure *fields = NULL;

  watch_output (f);
  call_started (f, "es-1");
  start (f);
  hear_bilingual_greeting (f, FALSE);
  press (f, "2");
  hear (f, "Gracias por llamar.", "Si llama por un accidente, oprima 1.",
      "Por una lesión, oprima 2.", "Por un caso existente, oprima 3.",
      "Por cualquier otro asunto, oprima 4.", NULL);
  expect_intake (f, "language", "es");
  press (f, "1");
  hear (f, "Lamentamos mucho lo de su accidente.",
      "Por favor, marque el número de teléfono al que podemos llamarle, "
      "seguido de la tecla numeral.",
      NULL);
  expect_intake (f, "reason", "accident");
  /* too short: the Spanish no-match, then the number again */
  press (f, "555#");
  hear (f, "Ese número no está completo.",
      "Marque su número de teléfono, con el código de área, seguido de la "
      "tecla numeral.",
      NULL);
  press (f, "9195551234#");
  hear (f, "Marcó el 9 1 9 5 5 5 1 2 3 4.", "Si es correcto, oprima 1.",
      "Si no, oprima 2.", NULL);
  expect_intake (f, "phone", "9195551234");
  press (f, "1");
  hear (f, "Para hablar ahora con un abogado, oprima 1.",
      "Si prefiere que un abogado le devuelva la llamada, oprima 2.", NULL);
  press (f, "1");
  hear (f, "Por favor, espere mientras le comunico con un abogado.", NULL);
  s = expect_message (f, "agent-action", NULL, NULL);
  fail_unless_equals_string (
      gst_structure_get_string (s, "action"), "transfer");
  fail_unless_equals_string (
      gst_structure_get_string (s, "target"), "attorney");
  s = expect_intake_end (f, TRUE);
  fail_unless (
      gst_structure_get (s, "fields", GST_TYPE_STRUCTURE, &fields, NULL));
  fail_unless_equals_string (
      gst_structure_get_string (fields, "phone"), "9195551234");
  g_clear_pointer (&fields, gst_structure_free);
  /* nobody answers: a callback, said in Spanish */
  transfer_result (f, FALSE, 480, "attorney", "es-1");
  hear (f,
      "Lo siento, en este momento ningún abogado puede atender su llamada.",
      "Gracias.",
      "Un abogado le devolverá la llamada al 9 1 9 5 5 5 1 2 3 4 lo antes "
      "posible.",
      "Adiós.", NULL);
  s = expect_intake_end (f, TRUE);
  fail_unless (
      gst_structure_get (s, "fields", GST_TYPE_STRUCTURE, &fields, NULL));
  fail_unless_equals_string (
      gst_structure_get_string (fields, "language"), "es");
  fail_unless_equals_string (
      gst_structure_get_string (fields, "reason"), "accident");
  fail_unless_equals_string (
      gst_structure_get_string (fields, "phone"), "9195551234");
  fail_unless_equals_string (
      gst_structure_get_string (fields, "transfer"), "failed");
  gst_structure_free (fields);
  s = expect_message (f, "agent-action", NULL, NULL);
  fail_unless_equals_string (gst_structure_get_string (s, "action"), "hangup");
  fail_unless_equals_string (
      gst_structure_get_string (s, "state"), "despedida");
  /* all of it in the one voice chosen with the key */
  fail_unless_equals_int (drain_output_voices (f), 0);

  /* the next call starts in English; 1 keeps it */
  call_started (f, "es-2");
  hear_bilingual_greeting (f, TRUE);
  press (f, "1");
  hear (f, english_reason[0], english_reason[1], NULL);
  expect_output (f, "voice:default",
      "text:Are you calling about an accident, an injury, "
      "an existing case, or something else?",
      NULL);
  expect_intake (f, "language", "en");
  /* 0 in English: the operator, in English */
  press (f, "0");
  hear (f, "One moment, I'll put you through to our front desk.", NULL);
  s = expect_message (f, "agent-action", NULL, NULL);
  fail_unless_equals_string (
      gst_structure_get_string (s, "target"), "frontdesk");

  /* already in English: no voice change for it */
  fail_unless_equals_int (drain_output_voices (f), 0);

  /* and so does silence after the offer (3 s) */
  call_started (f, "es-3");
  hear_bilingual_greeting (f, FALSE);
  drain_output_voices (f);
  hear (f, english_reason[0], english_reason[1], NULL);
  expect_output (f, "voice:default", NULL);
  expect_intake (f, "language", "en");
  press (f, "3");
  hear (f, "May I have your full name, please?", NULL);
  expect_intake (f, "reason", "existing case");
  fixture_free (f);
}

GST_END_TEST;

GST_START_TEST (test_quick_shutdown)
{
  guint i;

  for (i = 0; i < 20; i++) {
    Fixture *f = fixture_new (i % 2 ? flow_script : NULL);

    start (f);
    say (f, "hello there");
    press (f, "1");
    speech_started (f);
    if (i % 3 == 0)
      g_usleep (1000 * (i % 5));
    fixture_free (f);
  }
}

GST_END_TEST;

static Suite *
agent_suite (void)
{
  Suite *s = suite_create ("agent");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_greets_on_segment);
  tcase_add_test (tc, test_call_started_adopts_then_resets);
  tcase_add_test (tc, test_call_started_before_segment);
  tcase_add_test (tc, test_new_call_drops_old_speech);
  tcase_add_test (tc, test_call_ended_reports_and_stops);
  tcase_add_test (tc, test_flow_every_state);
  tcase_add_test (tc, test_flow_no_branch_and_dtmf);
  tcase_add_test (tc, test_no_match_reprompts_then_global_intent);
  tcase_add_test (tc, test_no_input_reprompt_and_fallback);
  tcase_add_test (tc, test_no_input_waits_for_playout);
  tcase_add_test (tc, test_hold_pauses_and_resumes);
  tcase_add_test (tc, test_no_input_without_feedback);
  tcase_add_test (tc, test_global_group_after_states);
  tcase_add_test (tc, test_slot_yesno);
  tcase_add_test (tc, test_slot_phone);
  tcase_add_test (tc, test_slot_phone_dtmf_length);
  tcase_add_test (tc, test_slot_date);
  tcase_add_test (tc, test_slot_date_future);
  tcase_add_test (tc, test_slot_name);
  tcase_add_test (tc, test_slot_text);
  tcase_add_test (tc, test_barge_in_drops_rest_of_reply);
  tcase_add_test (tc, test_barge_in_refused_while_protected);
  tcase_add_test (tc, test_barge_in_property_off);
  tcase_add_test (tc, test_action_waits_for_playout);
  tcase_add_test (tc, test_transfer_failed_state_key);
  tcase_add_test (tc, test_transfer_failed_default_returns);
  tcase_add_test (tc, test_transfer_succeeded_stays_silent);
  tcase_add_test (tc, test_transfer_failed_at_start_hangs_up);
  tcase_add_test (tc, test_transfer_failures_do_not_loop);
  tcase_add_test (tc, test_voice_action);
  tcase_add_test (tc, test_bad_scripts);
  tcase_add_test (tc, test_callback_and_outbound_start);
  tcase_add_test (tc, test_send_dtmf_action);
  tcase_add_test (tc, test_missing_script_and_backend);
  tcase_add_test (tc, test_default_script_conversation);
  tcase_add_test (tc, test_lawfirm_intake);
  tcase_add_test (tc, test_lawfirm_keys_and_message);
  tcase_add_test (tc, test_lawfirm_bilingual);
  tcase_add_test (tc, test_quick_shutdown);
  return s;
}

GST_CHECK_MAIN (agent);
