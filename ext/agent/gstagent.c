/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-agent
 * @title: agent
 * @see_also: sttbridge, ttsbridge, sipsrc
 *
 * agent is the dialog of a voice agent. It reads what the caller said, one
 * `text/x-raw, format=utf8` buffer per final utterance (from sttbridge), and
 * writes what the agent says, one buffer per sentence, timestamped with the
 * running time at which it was decided, so that ttsbridge can start speaking
 * before a long reply is complete. A backend (#GstAgent:backend) runs the
 * conversation; the built-in `script` backend follows a keyfile
 * (#GstAgent:script, format in docs/scripts.md) with intents, slots, DTMF
 * menus, re-prompts and actions, or a built-in receptionist script.
 *
 * The dialog runs in the element's own thread: the sink pad (the call's
 * receive thread) only queues what arrives and never waits.
 *
 * ## When a conversation starts
 *
 * The agent greets when the call is answered:
 *
 * - a `sip-call-started` event (sipsrc sends it before the first packet of
 *   each call) whose `call-id` differs from the current conversation's
 *   starts a new conversation: the previous one is abandoned, whatever of it
 *   is still queued in ttsbridge is dropped (an `agent-barge-in` event), and
 *   the agent greets. The same `call-id` again is ignored; an event without
 *   `call-id` always means a new call.
 * - in a pipeline without sipsrc, the first SEGMENT event starts the
 *   conversation.
 * - sipsrc sends stream-start and segment and then `sip-call-started`: when
 *   a conversation started from a SEGMENT receives its first
 *   `sip-call-started`, it takes that call-id and does not greet again.
 *
 * ## Events
 *
 * Downstream, on the sink pad: `dtmf-event` (rtpdtmfdepay's fields; each
 * key counts once, on its `start=FALSE` event, or on an event without
 * `start`), `stt-speech-started` (the caller started speaking),
 * `sip-call-started` (forwarded downstream after it is handled) and
 * `sip-transfer-result` (below). Upstream,
 * on the src pad, from ttsbridge: `tts-started` and `tts-finished` (`text`,
 * `interrupted`, `idle`). The agent sends `agent-hints` upstream on entering
 * each dialog state (`state`, `phrases`, `closed`) and `agent-barge-in`
 * downstream when it stops talking because the caller spoke.
 *
 * ## Voices
 *
 * A script's `voice NAME` action (`espeak:es`, `flite:kal`, `es` for a voice
 * of the backend in use, `default`) changes the voice of what the agent
 * says from then on: right before the first sentence in the new voice the
 * agent sends ttsbridge a serialized `tts-voice` event (`backend`, `voice`;
 * both absent for the default), so the sentences pushed before it keep
 * theirs. The voice holds across turns and barge-ins until the script
 * changes it or the conversation ends; every conversation starts in
 * ttsbridge's own voice (the agent sends `tts-voice` without fields when a
 * new call starts after another voice).
 *
 * ## Speaking, barge-in and timers
 *
 * The agent is speaking from pushing a sentence until ttsbridge reports
 * `tts-finished` for it and for everything pushed before it (ttsbridge
 * then says `idle=TRUE`). While it has that feedback it keeps at
 * most two sentences in ttsbridge (one playing, one being synthesised) and
 * holds the rest, so that a barge-in drops them here. When the caller
 * starts speaking (`stt-speech-started`), keys a digit, or an utterance
 * arrives while the agent speaks, and #GstAgent:barge-in is TRUE and no
 * sentence that may not be interrupted is still playing (states can turn
 * barge-in off), the agent drops the rest of its reply, sends
 * `agent-barge-in` downstream and waits for the caller. Input that arrives
 * while a prompt that may not be interrupted plays is ignored, as
 * VoiceXML does with `bargein="false"`.
 *
 * The no-input timer of a state starts when its prompt finished playing
 * (`tts-finished` for its last sentence). If no ttsbridge feedback has
 * arrived in the conversation (a pipeline without ttsbridge), it starts
 * right after the prompt was pushed, and the agent estimates how long its
 * sentences take to say (about 15 characters a second).
 *
 * ## Messages
 *
 * Element messages on the bus, each with `call-id` (string) when known:
 *
 * - `agent-turn`: one per answered input: `turn` (uint), `input` (`start`,
 *   `utterance`, `dtmf`, `no-input`, `transfer-failed`), `state` (where the input was heard),
 *   `heard`, `matched` (intent, slot type, `yes`, `no`, `no-match`,
 *   `no-input`), `reply` (what the agent decided to say) and `next-state`.
 * - `intake`: `field`, `value`, `state`, `complete=FALSE` each time a field
 *   is captured; at the end, `complete` and `fields` (a GstStructure of all
 *   fields, strings) and `state`: `complete=TRUE` when the dialog reached a
 *   hangup or transfer, `complete=FALSE` when the conversation was cut
 *   short (a new call, EOS, the element stopping) after capturing fields.
 * - `agent-action` with `action=send-dtmf` (the script's `send-dtmf`
 *   action): `digits` (the keys, `0`-`9`, `*`, `#`, `A`-`D`), `state`,
 *   `reason`, `call-id`. Posted at once; the conversation goes on. sipbin
 *   presses the keys in the call (#GstSipBin::send-dtmf).
 * - `agent-action`: `action` (`transfer` or `hangup`), `target` (transfer
 *   only: a SIP URI or a name), `state`, `reason` (e.g. `intent:attorney`,
 *   `max-retries`). Posted once what the agent said before it has played
 *   out (`tts-finished` for its last sentence), or when ttsbridge stays silent
 *   for longer than the text should take (at most 15 s). The application
 *   acts on it (sipbin hangs up, or transfers with a REFER); afterwards the
 *   agent says nothing more until the next call, and does not re-prompt
 *   while a transfer is in progress.
 *
 * ## Transfers that fail
 *
 * sipbin reports the end of a transfer with a `sip-transfer-result` event
 * (`success`, `status`, `target`, `call-id`). On success the call ends. On
 * failure the caller is still on the line: the conversation goes on where
 * the transfer was decided, the backend answers an input of its own (an
 * `agent-turn` with `input=transfer-failed`; the script's `transfer-failed`
 * actions, by default an apology and the question that led to the
 * transfer), and when it ends again a new final `intake` is posted with
 * everything collected: the last `intake` of a call is the one that counts.
 *
 * A script that cannot be loaded fails NULL->READY with an error whose
 * message is `FILE:LINE: what is wrong`.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 sipbin.( local-uri=sip:agent@127.0.0.1:5060 sipsrc ! rtppcmudepay ! mulawdec ! audioresample ! sttbridge ! agent script=examples/intake-lawfirm.ini ! ttsbridge ! audioresample ! mulawenc ! rtppcmupay ! sipsink )
 * ]| Answers calls with the law firm's intake script.
 * |[
 * echo "I would like to make an appointment" | gst-launch-1.0 -m fdsrc ! text/x-raw,format=utf8 ! agent ! fakesink dump=true
 * ]| Greets, takes one utterance from standard input and answers it with
 * the built-in receptionist script; the bus shows the `agent-turn` and
 * `intake` messages.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstagent.h"
#include "gstagentelements.h"
#include "gstagentevents.h"
#include "gstagentscript.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_agent_debug);
#define GST_CAT_DEFAULT gst_agent_debug

#define DEFAULT_BACKEND "script"
#define DEFAULT_SCRIPT NULL
#define DEFAULT_NO_INPUT_TIMEOUT 6000
#define DEFAULT_MAX_RETRIES 2
#define DEFAULT_BARGE_IN TRUE

/* Without ttsbridge feedback the agent guesses how long speech takes: about
 * 15 characters a second (150 words a minute) plus synthesis latency. */
#define SPEECH_BASE_US (400 * G_TIME_SPAN_MILLISECOND)
#define SPEECH_PER_CHAR_US (70 * G_TIME_SPAN_MILLISECOND)
/* A hangup/transfer waits for the goodbye at most this long. */
#define ACTION_WAIT_MAX_US (15 * G_TIME_SPAN_SECOND)
/* With feedback, a sentence ttsbridge never reported is forgotten this
 * long after it should have ended, so a lost event cannot mute the agent. */
#define FEEDBACK_GRACE_US (10 * G_TIME_SPAN_SECOND)
/* Once the caller started speaking, the utterance may take this much longer
 * than the no-input timeout to arrive before the agent re-prompts. */
#define SPEECH_GRACE_US (10 * G_TIME_SPAN_SECOND)
/* Sentences in ttsbridge at once: one playing, one being synthesised. */
#define PACING_WINDOW 2
#define IDLE_WAKEUP_US G_TIME_SPAN_SECOND

enum
{
  PROP_0,
  PROP_BACKEND,
  PROP_SCRIPT,
  PROP_NO_INPUT_TIMEOUT,
  PROP_MAX_RETRIES,
  PROP_BARGE_IN,
  PROP_OUTBOUND,
  PROP_STATE,
};

#define TEXT_CAPS "text/x-raw, format = (string) utf8"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE (
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (TEXT_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (TEXT_CAPS));

static const GstAgentBackendClass *const backends[] = {
    &gst_agent_script_backend_class,
    NULL,
};

/* What the dialog thread is given to do. */
typedef enum
{
  ITEM_UTTERANCE,
  ITEM_DTMF,
  ITEM_SPEECH_STARTED,
  ITEM_TTS_STARTED,
  ITEM_TTS_FINISHED,
  ITEM_SEGMENT,
  ITEM_CALL_STARTED,
  ITEM_CALL_ENDED,
  ITEM_TRANSFER_RESULT,
  ITEM_CALL_HOLD,
  ITEM_EVENT,
  ITEM_EOS,
  ITEM_OUTPUT,
  ITEM_WAKE,
} ItemType;

typedef struct
{
  ItemType type;
  gchar *text; /* UTTERANCE, TTS_*: text; CALL_*, TRANSFER_RESULT: call-id */
  gchar digit;
  gchar *target; /* TRANSFER_RESULT */
  gint status; /* TRANSFER_RESULT */
  gboolean success; /* TRANSFER_RESULT */
  gboolean held; /* CALL_HOLD */
  GstEvent *event; /* EVENT, CALL_*, TRANSFER_RESULT: to forward downstream */
  GstAgentOutput *output;
} Item;

typedef struct
{
  gchar *text;
  gchar *voice; /* to be spoken in, NULL: ttsbridge's own */
  gboolean barge_in;
  gint64 end; /* estimated end of playout (monotonic) */
} Sentence;

#define gst_agent_parent_class parent_class
G_DEFINE_TYPE (GstAgent, gst_agent, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (agent, "agent", GST_RANK_NONE, GST_TYPE_AGENT);

static void gst_agent_finalize (GObject *object);
static void gst_agent_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec);
static void gst_agent_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec);
static GstStateChangeReturn gst_agent_change_state (
    GstElement *element, GstStateChange transition);
static GstFlowReturn gst_agent_chain (
    GstPad *pad, GstObject *parent, GstBuffer *buffer);
static gboolean gst_agent_sink_event (
    GstPad *pad, GstObject *parent, GstEvent *event);
static gboolean gst_agent_src_event (
    GstPad *pad, GstObject *parent, GstEvent *event);
static gboolean gst_agent_query (
    GstPad *pad, GstObject *parent, GstQuery *query);
static gboolean gst_agent_src_activate_mode (
    GstPad *pad, GstObject *parent, GstPadMode mode, gboolean active);
static void gst_agent_loop (GstAgent *self);

static void
gst_agent_class_init (GstAgentClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  gobject_class->finalize = gst_agent_finalize;
  gobject_class->set_property = gst_agent_set_property;
  gobject_class->get_property = gst_agent_get_property;

  g_object_class_install_property (gobject_class, PROP_BACKEND,
      g_param_spec_string ("backend", "Backend",
          "Dialog backend: script (declarative flow from a keyfile). Read at "
          "NULL->READY",
          DEFAULT_BACKEND, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_SCRIPT,
      g_param_spec_string ("script", "Script",
          "Dialog script for the script backend (keyfile, see "
          "docs/scripts.md); NULL: the built-in receptionist. Read at "
          "NULL->READY",
          DEFAULT_SCRIPT, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_NO_INPUT_TIMEOUT,
      g_param_spec_uint ("no-input-timeout", "No-input timeout",
          "Milliseconds of silence after a prompt before the agent "
          "re-prompts, unless the script sets its own timeout (0: never). "
          "Read at NULL->READY",
          0, 3600000, DEFAULT_NO_INPUT_TIMEOUT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_MAX_RETRIES,
      g_param_spec_uint ("max-retries", "Max retries",
          "Re-prompts (no input or no match) in one state before its "
          "fallback, unless the script sets its own. Read at NULL->READY",
          0, 100, DEFAULT_MAX_RETRIES,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_BARGE_IN,
      g_param_spec_boolean ("barge-in", "Barge-in",
          "Whether the caller may interrupt the agent (script states can "
          "still forbid it, e.g. for a disclaimer)",
          DEFAULT_BARGE_IN, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_OUTBOUND,
      g_param_spec_boolean ("outbound", "Outbound",
          "The calls are ones we placed: the script starts them in its "
          "outbound-start state (the gst-sip-agent server sets it). Read at "
          "NULL->READY",
          FALSE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_STATE,
      g_param_spec_string ("state", "State",
          "Current dialog state (NULL before a conversation)", NULL,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Voice agent dialog",
      "Filter/Text",
      "Runs the dialog of a voice agent: caller utterances and DTMF in, "
      "sentences to speak out, actions and intake fields on the bus",
      "gst-sip-agent developers");
  gst_element_class_add_static_metadata (element_class, "example",
      "echo \"I would like to make an appointment\" | gst-launch-1.0 -m fdsrc "
      "! text/x-raw,format=utf8 ! agent ! fakesink dump=true");
  gst_element_class_add_static_metadata (element_class, "messages",
      "agent-turn: turn, input, state, heard, matched, reply, next-state; "
      "intake: field, value, state, complete=FALSE, or complete, fields, "
      "state at the end; agent-action: action (transfer|hangup), target, "
      "state, reason");

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_agent_change_state);

  GST_DEBUG_CATEGORY_INIT (gst_agent_debug, "agent", 0, "voice agent dialog");
}

static void
sentence_free (Sentence *s)
{
  g_free (s->text);
  g_free (s->voice);
  g_free (s);
}

static GstAgentOutput *
output_copy (const GstAgentOutput *o)
{
  GstAgentOutput *c = g_new (GstAgentOutput, 1);

  *c = *o;
  c->state = g_strdup (o->state);
  c->text = g_strdup (o->text);
  c->voice = g_strdup (o->voice);
  c->phrases = (const gchar *const *) g_strdupv ((gchar **) o->phrases);
  c->field = g_strdup (o->field);
  c->value = g_strdup (o->value);
  c->action = g_strdup (o->action);
  c->target = g_strdup (o->target);
  c->reason = g_strdup (o->reason);
  c->heard = g_strdup (o->heard);
  c->matched = g_strdup (o->matched);
  return c;
}

static void
output_free (GstAgentOutput *o)
{
  g_free ((gchar *) o->state);
  g_free ((gchar *) o->text);
  g_free ((gchar *) o->voice);
  g_strfreev ((gchar **) o->phrases);
  g_free ((gchar *) o->field);
  g_free ((gchar *) o->value);
  g_free ((gchar *) o->action);
  g_free ((gchar *) o->target);
  g_free ((gchar *) o->reason);
  g_free ((gchar *) o->heard);
  g_free ((gchar *) o->matched);
  g_free (o);
}

static Item *
item_new (ItemType type)
{
  Item *item = g_new0 (Item, 1);

  item->type = type;
  return item;
}

static void
item_free (Item *item)
{
  g_free (item->text);
  g_free (item->target);
  if (item->event)
    gst_event_unref (item->event);
  if (item->output)
    output_free (item->output);
  g_free (item);
}

static void
queue_item (GstAgent *self, Item *item)
{
  g_async_queue_push (self->queue, item);
}

static void
drain_queue (GstAgent *self)
{
  Item *item;

  while ((item = g_async_queue_try_pop (self->queue)) != NULL)
    item_free (item);
}

static void
gst_agent_init (GstAgent *self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (
      self->sinkpad, GST_DEBUG_FUNCPTR (gst_agent_chain));
  gst_pad_set_event_function (
      self->sinkpad, GST_DEBUG_FUNCPTR (gst_agent_sink_event));
  gst_pad_set_query_function (
      self->sinkpad, GST_DEBUG_FUNCPTR (gst_agent_query));
  GST_PAD_SET_ACCEPT_TEMPLATE (self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_event_function (
      self->srcpad, GST_DEBUG_FUNCPTR (gst_agent_src_event));
  gst_pad_set_query_function (
      self->srcpad, GST_DEBUG_FUNCPTR (gst_agent_query));
  gst_pad_set_activatemode_function (
      self->srcpad, GST_DEBUG_FUNCPTR (gst_agent_src_activate_mode));
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->backend_name = g_strdup (DEFAULT_BACKEND);
  self->script = g_strdup (DEFAULT_SCRIPT);
  self->no_input_timeout = DEFAULT_NO_INPUT_TIMEOUT;
  self->max_retries = DEFAULT_MAX_RETRIES;
  self->barge_in = DEFAULT_BARGE_IN;
  self->queue = g_async_queue_new_full ((GDestroyNotify) item_free);
  self->src_result = GST_FLOW_OK;

  g_queue_init (&self->dialog.held);
  g_queue_init (&self->dialog.in_flight);
  self->dialog.reply = g_string_new (NULL);
  self->dialog.last_pts = GST_CLOCK_TIME_NONE;
  self->dialog.need_stream_start = TRUE;
}

static void
clear_sentences (GQueue *q)
{
  g_queue_clear_full (q, (GDestroyNotify) sentence_free);
}

static void
gst_agent_finalize (GObject *object)
{
  GstAgent *self = GST_AGENT (object);
  GstAgentDialog *d = &self->dialog;

  g_free (self->backend_name);
  g_free (self->script);
  g_free (self->current_state);
  g_async_queue_unref (self->queue);
  clear_sentences (&d->held);
  clear_sentences (&d->in_flight);
  g_string_free (d->reply, TRUE);
  g_free (d->voice);
  g_free (d->sent_voice);
  g_free (d->call_id);
  g_free (d->state);
  if (d->fields)
    gst_structure_free (d->fields);
  if (d->pending_action)
    gst_structure_free (d->pending_action);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_agent_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstAgent *self = GST_AGENT (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_BACKEND:
      g_free (self->backend_name);
      self->backend_name = g_value_dup_string (value);
      break;
    case PROP_SCRIPT:
      g_free (self->script);
      self->script = g_value_dup_string (value);
      break;
    case PROP_NO_INPUT_TIMEOUT:
      self->no_input_timeout = g_value_get_uint (value);
      break;
    case PROP_MAX_RETRIES:
      self->max_retries = g_value_get_uint (value);
      break;
    case PROP_BARGE_IN:
      self->barge_in = g_value_get_boolean (value);
      break;
    case PROP_OUTBOUND:
      self->outbound = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_agent_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstAgent *self = GST_AGENT (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_BACKEND:
      g_value_set_string (value, self->backend_name);
      break;
    case PROP_SCRIPT:
      g_value_set_string (value, self->script);
      break;
    case PROP_NO_INPUT_TIMEOUT:
      g_value_set_uint (value, self->no_input_timeout);
      break;
    case PROP_MAX_RETRIES:
      g_value_set_uint (value, self->max_retries);
      break;
    case PROP_BARGE_IN:
      g_value_set_boolean (value, self->barge_in);
      break;
    case PROP_OUTBOUND:
      g_value_set_boolean (value, self->outbound);
      break;
    case PROP_STATE:
      g_value_set_string (value, self->current_state);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */
/* ------------------------------------------------------------------------ */

static void
post_message (GstAgent *self, GstStructure *s)
{
  if (self->dialog.call_id)
    gst_structure_set (s, "call-id", G_TYPE_STRING, self->dialog.call_id, NULL);
  gst_element_post_message (
      GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

static const gchar *
current_state (GstAgent *self)
{
  return self->dialog.state ? self->dialog.state : "";
}

static void
post_intake_field (GstAgent *self, const gchar *field, const gchar *value)
{
  post_message (self,
      gst_structure_new (GST_AGENT_MESSAGE_INTAKE, "field", G_TYPE_STRING,
          field, "value", G_TYPE_STRING, value, "state", G_TYPE_STRING,
          current_state (self), "complete", G_TYPE_BOOLEAN, FALSE, NULL));
}

static void
post_intake_end (GstAgent *self, gboolean complete)
{
  post_message (self,
      gst_structure_new (GST_AGENT_MESSAGE_INTAKE, "complete", G_TYPE_BOOLEAN,
          complete, "fields", GST_TYPE_STRUCTURE, self->dialog.fields, "state",
          G_TYPE_STRING, current_state (self), NULL));
}

static void
post_turn (GstAgent *self, const GstAgentOutput *o)
{
  GstAgentDialog *d = &self->dialog;

  post_message (self,
      gst_structure_new (GST_AGENT_MESSAGE_TURN, "turn", G_TYPE_UINT, o->turn,
          "input", G_TYPE_STRING, d->turn_input ? d->turn_input : "", "state",
          G_TYPE_STRING, o->state ? o->state : "", "heard", G_TYPE_STRING,
          o->heard ? o->heard : "", "matched", G_TYPE_STRING,
          o->matched ? o->matched : "", "reply", G_TYPE_STRING, d->reply->str,
          "next-state", G_TYPE_STRING, current_state (self), NULL));
}

/* ------------------------------------------------------------------------ */
/* Speech out                                                                */
/* ------------------------------------------------------------------------ */

static gint64
speech_estimate_us (const gchar *text)
{
  return SPEECH_BASE_US + g_utf8_strlen (text, -1) * SPEECH_PER_CHAR_US;
}

static const gchar *const abbreviations[] = {"mr", "mrs", "ms", "dr", "st",
    "jr", "sr", "prof", "inc", "ltd", "co", "vs", "etc", "e.g", "i.e", "approx",
    "dept", "ave", "apt", NULL};

/* A period after "Dr" or an initial ("J.") does not end a sentence. */
static gboolean
is_abbreviation (const gchar *start, const gchar *dot)
{
  const gchar *w = dot;
  gchar *word;
  gboolean abbrev = FALSE;
  guint i;

  while (w > start && (g_ascii_isalpha (w[-1]) || w[-1] == '.'))
    w--;
  if (w == dot)
    return FALSE;
  if (dot - w == 1 && g_ascii_isupper (w[0]) && w[0] != 'I')
    return TRUE;
  word = g_ascii_strdown (w, dot - w);
  for (i = 0; abbreviations[i] && !abbrev; i++)
    abbrev = strcmp (word, abbreviations[i]) == 0;
  g_free (word);
  return abbrev;
}

static void
add_sentence (GQueue *out, const gchar *start, const gchar *end,
    gboolean barge_in, const gchar *voice)
{
  gchar *text = g_strstrip (g_strndup (start, end - start));
  Sentence *s;

  if (*text == '\0') {
    g_free (text);
    return;
  }
  s = g_new0 (Sentence, 1);
  s->text = text;
  s->voice = g_strdup (voice);
  s->barge_in = barge_in;
  g_queue_push_tail (out, s);
}

/* One buffer per sentence, so that speech starts before the reply ends. */
static void
split_sentences (
    const gchar *text, gboolean barge_in, const gchar *voice, GQueue *out)
{
  const gchar *start = text, *p;

  for (p = text; *p; p++) {
    gboolean end = *p == '\n';

    if (*p == '.' || *p == '!' || *p == '?') {
      while (p[1] == '.' || p[1] == '!' || p[1] == '?')
        p++;
      end = (p[1] == '\0' || g_ascii_isspace (p[1])) &&
          !(*p == '.' && is_abbreviation (start, p));
    }
    if (end) {
      add_sentence (out, start, p + 1, barge_in, voice);
      start = p + 1;
    }
  }
  add_sentence (out, start, p, barge_in, voice);
}

static GstClockTime
running_time (GstAgent *self)
{
  GstAgentDialog *d = &self->dialog;
  GstClock *clock = gst_element_get_clock (GST_ELEMENT (self));
  GstClockTime rt = GST_CLOCK_TIME_IS_VALID (d->last_pts) ? d->last_pts : 0;

  if (clock) {
    GstClockTime now = gst_clock_get_time (clock);
    GstClockTime base = gst_element_get_base_time (GST_ELEMENT (self));

    rt = now > base ? now - base : 0;
    gst_object_unref (clock);
  }
  if (GST_CLOCK_TIME_IS_VALID (d->last_pts) && rt < d->last_pts)
    rt = d->last_pts;
  d->last_pts = rt;
  return rt;
}

/* Our src pad starts its own stream: the input's caps and segment describe
 * transcripts, not what the agent says. */
static void
ensure_stream (GstAgent *self)
{
  GstAgentDialog *d = &self->dialog;

  if (d->need_stream_start) {
    gchar *id =
        gst_pad_create_stream_id (self->srcpad, GST_ELEMENT (self), NULL);
    GstEvent *event = gst_event_new_stream_start (id);
    GstCaps *caps = gst_pad_get_pad_template_caps (self->srcpad);

    gst_event_set_group_id (event, gst_util_group_id_next ());
    gst_pad_push_event (self->srcpad, event);
    gst_pad_push_event (self->srcpad, gst_event_new_caps (caps));
    gst_caps_unref (caps);
    g_free (id);
    d->need_stream_start = FALSE;
    d->need_segment = TRUE;
  }
  if (d->need_segment) {
    GstSegment segment;

    gst_segment_init (&segment, GST_FORMAT_TIME);
    gst_pad_push_event (self->srcpad, gst_event_new_segment (&segment));
    d->need_segment = FALSE;
  }
}

/* Tells ttsbridge to speak what follows in @voice (NULL: its own voice):
 * a serialized event, so the sentences already pushed keep theirs. */
static void
push_voice_event (GstAgent *self, const gchar *voice)
{
  GstAgentDialog *d = &self->dialog;
  gchar *backend = NULL, *name = NULL, *why = NULL;

  if (voice && !gst_agent_voice_name_parse (voice, &backend, &name, &why)) {
    /* a script's voices are checked at load time; another backend's bad
     * name must not cost the call its speech: the voice stays (once) */
    GST_WARNING_OBJECT (self, "not changing voice: %s", why);
    g_free (why);
  } else {
    ensure_stream (self);
    GST_DEBUG_OBJECT (self, "voice %s", voice ? voice : "default");
    if (!gst_pad_push_event (
            self->srcpad, gst_agent_event_new_tts_voice (backend, name)))
      GST_DEBUG_OBJECT (self, "nobody downstream took the voice");
  }
  g_free (d->sent_voice);
  d->sent_voice = g_strdup (voice);
  g_free (backend);
  g_free (name);
}

static GstFlowReturn
push_sentence (GstAgent *self, Sentence *s)
{
  GstAgentDialog *d = &self->dialog;
  GstBuffer *buf;
  gint64 now = g_get_monotonic_time ();

  if (g_strcmp0 (s->voice, d->sent_voice) != 0)
    push_voice_event (self, s->voice);
  ensure_stream (self);
  buf = gst_buffer_new_memdup (s->text, strlen (s->text));
  GST_BUFFER_PTS (buf) = running_time (self);
  d->playout_end = MAX (d->playout_end, now) + speech_estimate_us (s->text);
  s->end = d->playout_end;
  g_queue_push_tail (&d->in_flight, s);
  GST_DEBUG_OBJECT (self, "saying \"%s\"", s->text);
  return gst_pad_push (self->srcpad, buf);
}

/* Pushes held sentences while ttsbridge has room; without its feedback
 * there is nothing to pace against. */
static GstFlowReturn
pump (GstAgent *self)
{
  GstAgentDialog *d = &self->dialog;
  GstFlowReturn ret = GST_FLOW_OK;

  while (ret == GST_FLOW_OK && !g_queue_is_empty (&d->held) &&
      (!d->feedback_seen || d->in_flight.length < PACING_WINDOW))
    ret = push_sentence (self, g_queue_pop_head (&d->held));
  return ret;
}

static gboolean
speaking (GstAgent *self)
{
  return !g_queue_is_empty (&self->dialog.held) ||
      !g_queue_is_empty (&self->dialog.in_flight);
}

static gboolean
queue_protected (GQueue *q)
{
  GList *l;

  for (l = q->head; l; l = l->next) {
    if (!((Sentence *) l->data)->barge_in)
      return TRUE;
  }
  return FALSE;
}

/* Whether something that may not be interrupted is still to be heard. */
static gboolean
speech_protected (GstAgent *self)
{
  return queue_protected (&self->dialog.held) ||
      queue_protected (&self->dialog.in_flight);
}

static void
push_barge_in_event (GstAgent *self)
{
  ensure_stream (self);
  gst_pad_push_event (self->srcpad,
      gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
          gst_structure_new_empty (GST_AGENT_EVENT_BARGE_IN)));
}

static void
stop_speaking (GstAgent *self)
{
  clear_sentences (&self->dialog.held);
  clear_sentences (&self->dialog.in_flight);
  self->dialog.playout_end = 0;
}

/* ------------------------------------------------------------------------ */
/* The conversation                                                          */
/* ------------------------------------------------------------------------ */

static void
set_state_name (GstAgent *self, const gchar *state)
{
  g_free (self->dialog.state);
  self->dialog.state = g_strdup (state);
  GST_OBJECT_LOCK (self);
  g_free (self->current_state);
  self->current_state = g_strdup (state);
  GST_OBJECT_UNLOCK (self);
}

static void
call_backend_input (
    GstAgent *self, const GstAgentInput *input, const gchar *what)
{
  GstAgentDialog *d = &self->dialog;

  d->awaiting_input = FALSE;
  d->no_input_deadline = 0;
  d->turn++;
  d->turn_input = what;
  g_string_truncate (d->reply, 0);
  self->backend->klass->input (self->backend, d->turn, input);
}

static void
post_action (GstAgent *self)
{
  GstAgentDialog *d = &self->dialog;
  GstStructure *s = d->pending_action;

  d->pending_action = NULL;
  d->conversation = GST_AGENT_CONVERSATION_ENDED;
  d->transfer_pending =
      g_strcmp0 (gst_structure_get_string (s, "action"), "transfer") == 0;
  clear_sentences (&d->held);
  GST_INFO_OBJECT (self, "posting %" GST_PTR_FORMAT, s);
  post_message (self, s);
}

/* The intake is complete when the dialog decides to end; the action itself
 * waits until the caller heard what came before it. */
static void
decide_action (GstAgent *self, const GstAgentOutput *o)
{
  GstAgentDialog *d = &self->dialog;
  gint64 now = g_get_monotonic_time (), remaining = 0;
  GList *l;

  post_intake_end (self, TRUE);
  d->pending_action = gst_structure_new (GST_AGENT_MESSAGE_ACTION, "action",
      G_TYPE_STRING, o->action, "state", G_TYPE_STRING,
      o->state ? o->state : current_state (self), "reason", G_TYPE_STRING,
      o->reason ? o->reason : "", NULL);
  if (o->target)
    gst_structure_set (
        d->pending_action, "target", G_TYPE_STRING, o->target, NULL);
  d->conversation = GST_AGENT_CONVERSATION_ENDING;
  d->awaiting_input = FALSE;
  for (l = d->held.head; l; l = l->next)
    remaining += speech_estimate_us (((Sentence *) l->data)->text);
  remaining += MAX (d->playout_end - now, 0);
  d->action_deadline = now + MIN (remaining, ACTION_WAIT_MAX_US);
}

/* Keys for the far end (an IVR): posted at once and the conversation goes
 * on; sipbin sends them (RFC 4733 or tones). */
static void
post_send_dtmf (GstAgent *self, const GstAgentOutput *o)
{
  GstStructure *s =
      gst_structure_new (GST_AGENT_MESSAGE_ACTION, "action", G_TYPE_STRING,
          "send-dtmf", "digits", G_TYPE_STRING, o->target ? o->target : "",
          "state", G_TYPE_STRING, o->state ? o->state : current_state (self),
          "reason", G_TYPE_STRING, o->reason ? o->reason : "", NULL);

  if (self->dialog.call_id)
    gst_structure_set (s, "call-id", G_TYPE_STRING, self->dialog.call_id, NULL);
  GST_INFO_OBJECT (self, "sending DTMF %s", o->target ? o->target : "");
  gst_element_post_message (
      GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

static void
handle_output (GstAgent *self, const GstAgentOutput *o)
{
  GstAgentDialog *d = &self->dialog;
  gboolean current = o->turn == d->turn;
  gboolean active = d->conversation == GST_AGENT_CONVERSATION_ACTIVE;

  switch (o->type) {
    case GST_AGENT_OUTPUT_STATE:
      if (!current || !active)
        break;
      set_state_name (self, o->state);
      if (!gst_pad_push_event (self->sinkpad,
              gst_agent_event_new_hints (o->state, o->phrases, o->closed)))
        GST_DEBUG_OBJECT (self, "nobody upstream took the hints");
      break;
    case GST_AGENT_OUTPUT_SAY:
      if (!current || !active) {
        GST_DEBUG_OBJECT (self, "not saying \"%s\"", o->text);
        break;
      }
      if (d->reply->len > 0)
        g_string_append_c (d->reply, ' ');
      g_string_append (d->reply, o->text);
      split_sentences (o->text, o->barge_in, d->voice, &d->held);
      break;
    case GST_AGENT_OUTPUT_VOICE:
      /* the voice of the conversation from now on; like a field, a fact:
       * it holds for what is said after it, in later turns too */
      if (d->conversation == GST_AGENT_CONVERSATION_NONE)
        break;
      g_free (d->voice);
      d->voice = o->voice && g_ascii_strcasecmp (o->voice, "default") != 0
          ? g_strdup (o->voice)
          : NULL;
      GST_DEBUG_OBJECT (self, "speaking in %s from now on",
          d->voice ? d->voice : "the default voice");
      break;
    case GST_AGENT_OUTPUT_FIELD:
      if (d->conversation == GST_AGENT_CONVERSATION_NONE || !o->field)
        break;
      gst_structure_set (
          d->fields, o->field, G_TYPE_STRING, o->value ? o->value : "", NULL);
      post_intake_field (self, o->field, o->value ? o->value : "");
      break;
    case GST_AGENT_OUTPUT_ACTION:
      if (active && o->action && !strcmp (o->action, "send-dtmf"))
        post_send_dtmf (self, o);
      else if (active && o->action)
        decide_action (self, o);
      break;
    case GST_AGENT_OUTPUT_DONE:
      if (!current || d->conversation == GST_AGENT_CONVERSATION_NONE)
        break;
      if (!o->partial)
        post_turn (self, o);
      g_string_truncate (d->reply, 0);
      d->no_input_ms = o->no_input_timeout_ms;
      if (active && o->no_input_timeout_ms > 0) {
        d->awaiting_input = TRUE;
        d->no_input_deadline = 0;
      }
      break;
  }
}

/* Backend outputs: handled at once when the backend answers from inside a
 * call made by the dialog thread, queued for it otherwise. */
static void
gst_agent_emit (const GstAgentOutput *output, gpointer user_data)
{
  GstAgent *self = user_data;
  Item *item;

  if (g_thread_self () == self->dialog_thread) {
    handle_output (self, output);
    return;
  }
  item = item_new (ITEM_OUTPUT);
  item->output = output_copy (output);
  queue_item (self, item);
}

/* The conversation is over without the dialog ending it (new call, EOS,
 * stopping): keep what was captured, forget the rest. */
static void
end_conversation (GstAgent *self, const gchar *why, gboolean can_push)
{
  GstAgentDialog *d = &self->dialog;
  GstMessage *intake = NULL;

  if (d->conversation == GST_AGENT_CONVERSATION_NONE)
    return;
  GST_INFO_OBJECT (self, "conversation over: %s", why);
  /* posted once the element has let go of the conversation, so that an
   * application reacting to it finds the agent idle */
  if (d->conversation == GST_AGENT_CONVERSATION_ACTIVE &&
      gst_structure_n_fields (d->fields) > 0) {
    GstStructure *s = gst_structure_new (GST_AGENT_MESSAGE_INTAKE, "complete",
        G_TYPE_BOOLEAN, FALSE, "fields", GST_TYPE_STRUCTURE, d->fields, "state",
        G_TYPE_STRING, current_state (self), NULL);

    if (d->call_id)
      gst_structure_set (s, "call-id", G_TYPE_STRING, d->call_id, NULL);
    intake = gst_message_new_element (GST_OBJECT (self), s);
  }
  if (d->pending_action) {
    GST_WARNING_OBJECT (
        self, "dropping %" GST_PTR_FORMAT " (%s)", d->pending_action, why);
    g_clear_pointer (&d->pending_action, gst_structure_free);
  }
  self->backend->klass->stop (self->backend);
  if (can_push && !d->eos && speaking (self))
    push_barge_in_event (self);
  stop_speaking (self);
  d->feedback_seen = FALSE;
  d->awaiting_input = FALSE;
  d->no_input_deadline = 0;
  d->transfer_pending = FALSE;
  g_clear_pointer (&d->call_id, g_free);
  g_clear_pointer (&d->fields, gst_structure_free);
  set_state_name (self, NULL);
  d->conversation = GST_AGENT_CONVERSATION_NONE;
  if (intake)
    gst_element_post_message (GST_ELEMENT (self), intake);
}

static void
start_conversation (GstAgent *self, const gchar *call_id, gboolean from_segment)
{
  GstAgentDialog *d = &self->dialog;

  end_conversation (self, "a new call started", TRUE);
  GST_INFO_OBJECT (
      self, "new conversation (call-id %s)", call_id ? call_id : "none");
  d->call_id = g_strdup (call_id);
  d->from_segment = from_segment;
  d->on_hold = FALSE;
  d->fields = gst_structure_new_empty ("intake-fields");
  d->conversation = GST_AGENT_CONVERSATION_ACTIVE;
  /* every call starts in ttsbridge's own voice */
  g_clear_pointer (&d->voice, g_free);
  if (d->sent_voice && !d->eos)
    push_voice_event (self, NULL);
  d->turn++;
  d->turn_input = "start";
  g_string_truncate (d->reply, 0);
  self->backend->klass->start (self->backend, d->turn, call_id);
}

static void
handle_call_started (GstAgent *self, const gchar *call_id)
{
  GstAgentDialog *d = &self->dialog;
  gboolean running = d->conversation == GST_AGENT_CONVERSATION_ACTIVE ||
      d->conversation == GST_AGENT_CONVERSATION_ENDING;

  if (running && d->from_segment) {
    /* sipsrc's segment started us; this is the same call */
    GST_INFO_OBJECT (self, "conversation is call %s", call_id ? call_id : "?");
    g_free (d->call_id);
    d->call_id = g_strdup (call_id);
    d->from_segment = FALSE;
    return;
  }
  if (d->conversation != GST_AGENT_CONVERSATION_NONE && call_id &&
      g_strcmp0 (call_id, d->call_id) == 0)
    return;
  start_conversation (self, call_id, FALSE);
}

/* How the transfer the agent asked for ended (sipbin, through sipsrc).
 * Success: sipbin hangs up, sip-call-ended follows. Failure: the caller is
 * still there, so the conversation that ended with the transfer goes on
 * and the backend decides what to say (the script's transfer-failed). */
static void
handle_transfer_result (GstAgent *self, const gchar *call_id, gboolean success,
    gint status, const gchar *target)
{
  GstAgentDialog *d = &self->dialog;
  GstAgentInput input = {0};

  if (!d->transfer_pending ||
      (call_id && d->call_id && strcmp (call_id, d->call_id) != 0)) {
    GST_DEBUG_OBJECT (self, "result of a transfer that is not ours (%s)",
        call_id ? call_id : "no call-id");
    return;
  }
  d->transfer_pending = FALSE;
  if (success) {
    GST_INFO_OBJECT (self, "transferred to %s", target ? target : "?");
    return;
  }
  GST_INFO_OBJECT (self, "transfer to %s failed (%d): the conversation goes on",
      target ? target : "?", status);
  d->conversation = GST_AGENT_CONVERSATION_ACTIVE;
  input.type = GST_AGENT_INPUT_TRANSFER_FAILED;
  input.text = target;
  input.status = status;
  call_backend_input (self, &input, "transfer-failed");
}

/* The caller interrupts: drop the rest of the reply here and in ttsbridge,
 * and wait for what they say. FALSE when the prompt may not be cut. */
static gboolean
barge_in (GstAgent *self, const gchar *why)
{
  GstAgentDialog *d = &self->dialog;
  gboolean allowed;

  GST_OBJECT_LOCK (self);
  allowed = self->barge_in;
  GST_OBJECT_UNLOCK (self);
  if (!allowed || d->conversation != GST_AGENT_CONVERSATION_ACTIVE ||
      speech_protected (self))
    return FALSE;
  GST_INFO_OBJECT (self, "caller barged in (%s), dropping %u held sentences",
      why, d->held.length);
  stop_speaking (self);
  self->backend->klass->cancel (self->backend, d->turn);
  d->turn++;
  push_barge_in_event (self);
  d->awaiting_input = d->no_input_ms > 0;
  d->no_input_deadline = d->awaiting_input ? g_get_monotonic_time () +
          d->no_input_ms * G_TIME_SPAN_MILLISECOND + SPEECH_GRACE_US
                                           : 0;
  return TRUE;
}

/* The far end put the call on hold or took it off. On hold nobody
 * listens: the agent stops talking (ttsbridge drops what it holds), its
 * no-input timer stops, and input is ignored (sipsink sends nothing
 * anyway). Off hold, the backend says where the conversation stands. */
static void
handle_hold (GstAgent *self, const gchar *call_id, gboolean held)
{
  GstAgentDialog *d = &self->dialog;
  GstAgentInput input = {GST_AGENT_INPUT_RESUMED, NULL, 0};

  if (call_id && d->call_id && g_strcmp0 (call_id, d->call_id) != 0)
    return;
  if (held == d->on_hold)
    return;
  d->on_hold = held;
  if (held) {
    GST_INFO_OBJECT (self, "call on hold: the agent waits");
    if (speaking (self)) {
      stop_speaking (self);
      self->backend->klass->cancel (self->backend, d->turn);
      d->turn++;
      push_barge_in_event (self);
    }
    d->no_input_deadline = 0;
    return;
  }
  GST_INFO_OBJECT (self, "call off hold: the agent carries on");
  if (d->conversation == GST_AGENT_CONVERSATION_ACTIVE && !d->transfer_pending)
    call_backend_input (self, &input, "resumed");
}

static void
handle_caller_input (
    GstAgent *self, const GstAgentInput *input, const gchar *what)
{
  GstAgentDialog *d = &self->dialog;

  if (d->conversation != GST_AGENT_CONVERSATION_ACTIVE) {
    GST_DEBUG_OBJECT (self, "no conversation to take %s input", what);
    return;
  }
  if (d->on_hold) {
    GST_DEBUG_OBJECT (self, "ignoring %s input on hold", what);
    return;
  }
  if (speaking (self) && !barge_in (self, what)) {
    GST_INFO_OBJECT (self,
        "ignoring %s input while a prompt that cannot be "
        "interrupted plays",
        what);
    return;
  }
  call_backend_input (self, input, what);
}

static void
handle_speech_started (GstAgent *self)
{
  GstAgentDialog *d = &self->dialog;

  if (d->conversation != GST_AGENT_CONVERSATION_ACTIVE || d->on_hold)
    return;
  if (speaking (self)) {
    barge_in (self, "speech");
  } else if (d->awaiting_input && d->no_input_deadline) {
    /* the utterance is on its way: do not re-prompt over the caller */
    d->no_input_deadline = g_get_monotonic_time () +
        d->no_input_ms * G_TIME_SPAN_MILLISECOND + SPEECH_GRACE_US;
  }
}

static void
note_feedback (GstAgent *self)
{
  GstAgentDialog *d = &self->dialog;

  if (d->feedback_seen)
    return;
  d->feedback_seen = TRUE;
  /* a timer started on the guess that nobody reports playout restarts
   * once the prompt really ended */
  if (d->awaiting_input && speaking (self))
    d->no_input_deadline = 0;
}

/* ttsbridge plays in order and reports every sentence once: the one it
 * names is done, and so is everything pushed before it. What was pushed
 * after it may not have reached ttsbridge when it said idle, so idle alone
 * proves nothing here. A report about a sentence no longer tracked (dropped
 * by a barge-in or a new call) is late news and changes nothing. */
static void
handle_tts_finished (GstAgent *self, const gchar *text)
{
  GstAgentDialog *d = &self->dialog;
  GList *l;

  note_feedback (self);
  for (l = d->in_flight.head; l && text; l = l->next) {
    if (strcmp (((Sentence *) l->data)->text, text) == 0)
      break;
  }
  if (l == NULL) {
    GST_DEBUG_OBJECT (self, "report on an untracked sentence \"%s\"", text);
    return;
  }
  while (d->in_flight.head != l)
    sentence_free (g_queue_pop_head (&d->in_flight));
  sentence_free (g_queue_pop_head (&d->in_flight));
  if (g_queue_is_empty (&d->in_flight))
    d->playout_end = 0;
}

static void
handle_eos (GstAgent *self)
{
  GstAgentDialog *d = &self->dialog;
  GstFlowReturn ret = GST_FLOW_OK;

  /* the reply to the last utterance still goes out */
  while (ret == GST_FLOW_OK && !g_queue_is_empty (&d->held))
    ret = push_sentence (self, g_queue_pop_head (&d->held));
  if (d->pending_action)
    post_action (self);
  end_conversation (self, "end of stream", FALSE);
  ensure_stream (self);
  gst_pad_push_event (self->srcpad, gst_event_new_eos ());
  d->eos = TRUE;
}

static void
handle_item (GstAgent *self, Item *item)
{
  GstAgentDialog *d = &self->dialog;
  GstAgentInput input = {0};

  if (d->eos && item->type != ITEM_OUTPUT)
    return;
  switch (item->type) {
    case ITEM_UTTERANCE:
      input.type = GST_AGENT_INPUT_UTTERANCE;
      input.text = item->text;
      handle_caller_input (self, &input, "utterance");
      break;
    case ITEM_DTMF:
      input.type = GST_AGENT_INPUT_DTMF;
      input.digit = item->digit;
      handle_caller_input (self, &input, "dtmf");
      break;
    case ITEM_SPEECH_STARTED:
      handle_speech_started (self);
      break;
    case ITEM_TTS_STARTED:
      note_feedback (self);
      break;
    case ITEM_TTS_FINISHED:
      handle_tts_finished (self, item->text);
      break;
    case ITEM_SEGMENT:
      if (d->conversation == GST_AGENT_CONVERSATION_NONE)
        start_conversation (self, NULL, TRUE);
      break;
    case ITEM_CALL_STARTED:
      handle_call_started (self, item->text);
      ensure_stream (self);
      gst_pad_push_event (self->srcpad, gst_event_ref (item->event));
      break;
    case ITEM_CALL_ENDED:
      /* Nobody is listening any more: stop talking and re-prompting, and
       * post what was collected (complete=FALSE unless the dialog had
       * ended it). */
      if (item->text == NULL || d->call_id == NULL ||
          g_strcmp0 (item->text, d->call_id) == 0)
        end_conversation (self, "the call ended", TRUE);
      ensure_stream (self);
      gst_pad_push_event (self->srcpad, gst_event_ref (item->event));
      break;
    case ITEM_TRANSFER_RESULT:
      handle_transfer_result (
          self, item->text, item->success, item->status, item->target);
      ensure_stream (self);
      gst_pad_push_event (self->srcpad, gst_event_ref (item->event));
      break;
    case ITEM_CALL_HOLD:
      handle_hold (self, item->text, item->held);
      ensure_stream (self);
      gst_pad_push_event (self->srcpad, gst_event_ref (item->event));
      break;
    case ITEM_EVENT:
      ensure_stream (self);
      gst_pad_push_event (self->srcpad, gst_event_ref (item->event));
      break;
    case ITEM_EOS:
      handle_eos (self);
      break;
    case ITEM_OUTPUT:
      if (!d->eos)
        handle_output (self, item->output);
      break;
    case ITEM_WAKE:
      break;
  }
}

/* In-flight sentences end by estimate when ttsbridge says nothing; with
 * feedback, only much later, as a safety net. */
static gint64
sentence_expiry (GstAgent *self, Sentence *s)
{
  return s->end + (self->dialog.feedback_seen ? FEEDBACK_GRACE_US : 0);
}

static void
check_timers (GstAgent *self)
{
  GstAgentDialog *d = &self->dialog;
  gint64 now = g_get_monotonic_time ();
  Sentence *s;

  while ((s = g_queue_peek_head (&d->in_flight)) &&
      now >= sentence_expiry (self, s))
    sentence_free (g_queue_pop_head (&d->in_flight));

  if (d->conversation == GST_AGENT_CONVERSATION_ENDING && d->pending_action &&
      (!speaking (self) || now >= d->action_deadline))
    post_action (self);

  if (d->conversation != GST_AGENT_CONVERSATION_ACTIVE || !d->awaiting_input ||
      d->on_hold)
    return;
  if (d->no_input_deadline == 0) {
    if (d->feedback_seen ? !speaking (self) : g_queue_is_empty (&d->held))
      d->no_input_deadline = now + d->no_input_ms * G_TIME_SPAN_MILLISECOND;
  } else if (now >= d->no_input_deadline) {
    GstAgentInput input = {GST_AGENT_INPUT_NO_INPUT, NULL, 0};

    GST_INFO_OBJECT (self, "no input for %u ms", d->no_input_ms);
    call_backend_input (self, &input, "no-input");
  }
}

static gint64
next_wakeup (GstAgent *self)
{
  GstAgentDialog *d = &self->dialog;
  gint64 now = g_get_monotonic_time ();
  gint64 next = now + IDLE_WAKEUP_US;
  Sentence *s = g_queue_peek_head (&d->in_flight);

  if (s)
    next = MIN (next, sentence_expiry (self, s));
  if (d->pending_action)
    next = MIN (next, d->action_deadline);
  if (d->awaiting_input && d->no_input_deadline && !d->on_hold)
    next = MIN (next, d->no_input_deadline);
  return MAX (next - now, 0);
}

static void
handle_flow (GstAgent *self, GstFlowReturn ret)
{
  GST_OBJECT_LOCK (self);
  self->src_result = ret;
  GST_OBJECT_UNLOCK (self);
  GST_DEBUG_OBJECT (self, "pausing: %s", gst_flow_get_name (ret));
  if (ret == GST_FLOW_NOT_LINKED || ret < GST_FLOW_EOS) {
    GST_ELEMENT_FLOW_ERROR (self, ret);
    gst_pad_push_event (self->srcpad, gst_event_new_eos ());
  }
  gst_pad_pause_task (self->srcpad);
}

static void
gst_agent_loop (GstAgent *self)
{
  GstAgentDialog *d = &self->dialog;
  gint64 wait = next_wakeup (self);
  GstFlowReturn ret;
  Item *item;

  self->dialog_thread = g_thread_self ();
  item = wait > 0 ? g_async_queue_timeout_pop (self->queue, wait)
                  : g_async_queue_try_pop (self->queue);
  if (g_atomic_int_get (&self->flushing)) {
    if (item)
      item_free (item);
    gst_pad_pause_task (self->srcpad);
    return;
  }
  if (item) {
    handle_item (self, item);
    item_free (item);
  }
  if (d->eos)
    return;
  ret = pump (self);
  if (ret == GST_FLOW_OK) {
    check_timers (self);
    ret = pump (self);
  }
  if (ret != GST_FLOW_OK)
    handle_flow (self, ret);
}

/* ------------------------------------------------------------------------ */
/* Pads                                                                      */
/* ------------------------------------------------------------------------ */

static GstFlowReturn
gst_agent_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstAgent *self = GST_AGENT (parent);
  GstFlowReturn ret;
  GstMapInfo map;
  Item *item;

  GST_OBJECT_LOCK (self);
  ret = self->src_result;
  GST_OBJECT_UNLOCK (self);
  if (ret != GST_FLOW_OK) {
    gst_buffer_unref (buffer);
    return ret;
  }
  if (!gst_buffer_map (buffer, &map, GST_MAP_READ)) {
    gst_buffer_unref (buffer);
    GST_ELEMENT_ERROR (self, STREAM, FAILED, (NULL), ("cannot map buffer"));
    return GST_FLOW_ERROR;
  }
  item = item_new (ITEM_UTTERANCE);
  /* an empty buffer (speech without words) maps to NULL data */
  item->text = g_strstrip (map.size > 0
          ? g_utf8_make_valid ((const gchar *) map.data, map.size)
          : g_strdup (""));
  gst_buffer_unmap (buffer, &map);
  gst_buffer_unref (buffer);
  GST_LOG_OBJECT (self, "heard \"%s\"", item->text);
  queue_item (self, item);
  return GST_FLOW_OK;
}

static const gchar dtmf_chars[] = "0123456789*#ABCD";

/* A key once: on its end event, or on an event that has no start field. */
static gchar
dtmf_digit (const GstStructure *s)
{
  gint type, number;
  gboolean start;

  if (!gst_structure_get_int (s, "type", &type) || type != 1 ||
      !gst_structure_get_int (s, "number", &number) || number < 0 ||
      number > 15)
    return 0;
  if (gst_structure_get_boolean (s, "start", &start) && start)
    return 0;
  return dtmf_chars[number];
}

static gboolean
flush_start (GstAgent *self, GstEvent *event)
{
  gboolean ret = gst_pad_push_event (self->srcpad, event);

  g_atomic_int_set (&self->flushing, 1);
  GST_OBJECT_LOCK (self);
  self->src_result = GST_FLOW_FLUSHING;
  GST_OBJECT_UNLOCK (self);
  queue_item (self, item_new (ITEM_WAKE));
  gst_pad_pause_task (self->srcpad);
  return ret;
}

/* The dialog survives a flush; what was queued for it and what ttsbridge
 * was playing do not. */
static gboolean
flush_stop (GstAgent *self, GstEvent *event)
{
  GstAgentDialog *d = &self->dialog;
  gboolean ret;

  drain_queue (self);
  ret = gst_pad_push_event (self->srcpad, event);
  stop_speaking (self);
  d->need_segment = TRUE;
  d->eos = FALSE;
  g_atomic_int_set (&self->flushing, 0);
  GST_OBJECT_LOCK (self);
  self->src_result = GST_FLOW_OK;
  GST_OBJECT_UNLOCK (self);
  gst_pad_start_task (
      self->srcpad, (GstTaskFunction) gst_agent_loop, self, NULL);
  return ret;
}

static gboolean
custom_sink_event (GstAgent *self, GstEvent *event)
{
  const GstStructure *s = gst_event_get_structure (event);
  Item *item = NULL;
  gchar digit;

  if (gst_agent_event_is (event, GST_AGENT_EVENT_DTMF)) {
    if ((digit = dtmf_digit (s)) != 0) {
      item = item_new (ITEM_DTMF);
      item->digit = digit;
    }
  } else if (gst_agent_event_is (event, GST_AGENT_EVENT_SPEECH_STARTED)) {
    item = item_new (ITEM_SPEECH_STARTED);
  } else if (gst_agent_event_is (event, GST_AGENT_EVENT_SIP_CALL_STARTED)) {
    item = item_new (ITEM_CALL_STARTED);
    item->text = g_strdup (gst_structure_get_string (s, "call-id"));
    item->event = gst_event_ref (event);
  } else if (gst_agent_event_is (event, GST_AGENT_EVENT_SIP_CALL_ENDED)) {
    item = item_new (ITEM_CALL_ENDED);
    item->text = g_strdup (gst_structure_get_string (s, "call-id"));
    item->event = gst_event_ref (event);
  } else if (gst_agent_event_is (event, GST_AGENT_EVENT_SIP_CALL_HOLD)) {
    item = item_new (ITEM_CALL_HOLD);
    item->text = g_strdup (gst_structure_get_string (s, "call-id"));
    gst_structure_get_boolean (s, "held", &item->held);
    item->event = gst_event_ref (event);
  } else if (gst_agent_event_is (event, GST_AGENT_EVENT_SIP_TRANSFER_RESULT)) {
    item = item_new (ITEM_TRANSFER_RESULT);
    item->text = g_strdup (gst_structure_get_string (s, "call-id"));
    item->target = g_strdup (gst_structure_get_string (s, "target"));
    gst_structure_get_int (s, "status", &item->status);
    gst_structure_get_boolean (s, "success", &item->success);
    item->event = gst_event_ref (event);
  } else {
    return FALSE;
  }
  if (item)
    queue_item (self, item);
  gst_event_unref (event);
  return TRUE;
}

static gboolean
gst_agent_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstAgent *self = GST_AGENT (parent);
  Item *item;

  GST_LOG_OBJECT (self, "sink event %" GST_PTR_FORMAT, event);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:
    case GST_EVENT_CAPS:
    case GST_EVENT_GAP:
      gst_event_unref (event);
      return TRUE;
    case GST_EVENT_SEGMENT:
      queue_item (self, item_new (ITEM_SEGMENT));
      gst_event_unref (event);
      return TRUE;
    case GST_EVENT_EOS:
      queue_item (self, item_new (ITEM_EOS));
      gst_event_unref (event);
      return TRUE;
    case GST_EVENT_FLUSH_START:
      return flush_start (self, event);
    case GST_EVENT_FLUSH_STOP:
      return flush_stop (self, event);
    default:
      break;
  }
  if (custom_sink_event (self, event))
    return TRUE;
  if (!GST_EVENT_IS_SERIALIZED (event))
    return gst_pad_push_event (self->srcpad, event);
  /* in order with what the agent says */
  item = item_new (ITEM_EVENT);
  item->event = event;
  queue_item (self, item);
  return TRUE;
}

static gboolean
gst_agent_src_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstAgent *self = GST_AGENT (parent);
  gboolean started = gst_agent_event_is (event, GST_AGENT_EVENT_TTS_STARTED);
  const GstStructure *s;
  Item *item;

  if (!started && !gst_agent_event_is (event, GST_AGENT_EVENT_TTS_FINISHED))
    return gst_pad_event_default (pad, parent, event);
  s = gst_event_get_structure (event);
  item = item_new (started ? ITEM_TTS_STARTED : ITEM_TTS_FINISHED);
  item->text = g_strdup (gst_structure_get_string (s, "text"));
  GST_LOG_OBJECT (self, "feedback %" GST_PTR_FORMAT, s);
  queue_item (self, item);
  gst_event_unref (event);
  return TRUE;
}

static gboolean
gst_agent_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstCaps *filter, *caps, *result;

  if (GST_QUERY_TYPE (query) != GST_QUERY_CAPS)
    return gst_pad_query_default (pad, parent, query);
  gst_query_parse_caps (query, &filter);
  caps = gst_pad_get_pad_template_caps (pad);
  if (filter) {
    result = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (caps);
    caps = result;
  }
  gst_query_set_caps_result (query, caps);
  gst_caps_unref (caps);
  return TRUE;
}

static gboolean
gst_agent_src_activate_mode (
    GstPad *pad, GstObject *parent, GstPadMode mode, gboolean active)
{
  GstAgent *self = GST_AGENT (parent);
  gboolean ret;

  if (mode != GST_PAD_MODE_PUSH)
    return FALSE;
  if (active) {
    g_atomic_int_set (&self->flushing, 0);
    GST_OBJECT_LOCK (self);
    self->src_result = GST_FLOW_OK;
    GST_OBJECT_UNLOCK (self);
    return gst_pad_start_task (
        pad, (GstTaskFunction) gst_agent_loop, self, NULL);
  }
  g_atomic_int_set (&self->flushing, 1);
  queue_item (self, item_new (ITEM_WAKE));
  ret = gst_pad_stop_task (pad);
  self->dialog_thread = NULL;
  return ret;
}

/* ------------------------------------------------------------------------ */
/* States                                                                    */
/* ------------------------------------------------------------------------ */

static const GstAgentBackendClass *
find_backend (const gchar *name)
{
  guint i;

  for (i = 0; backends[i]; i++) {
    if (g_strcmp0 (backends[i]->name, name) == 0)
      return backends[i];
  }
  return NULL;
}

static gboolean
create_backend (GstAgent *self)
{
  GstAgentBackendConfig config = {0};
  const GstAgentBackendClass *klass;
  GError *err = NULL;
  gchar *name, *script;

  GST_OBJECT_LOCK (self);
  name = g_strdup (self->backend_name);
  script = g_strdup (self->script);
  config.no_input_timeout_ms = self->no_input_timeout;
  config.max_retries = self->max_retries;
  config.outbound = self->outbound;
  GST_OBJECT_UNLOCK (self);

  klass = find_backend (name);
  if (klass == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Unknown agent backend \"%s\" (available: script)",
            name ? name : "(null)"),
        (NULL));
  } else {
    config.element = GST_ELEMENT (self);
    config.script = script;
    config.emit = gst_agent_emit;
    config.emit_data = self;
    self->backend = klass->create (&config, &err);
    if (self->backend == NULL) {
      gst_element_message_full (GST_ELEMENT (self), GST_MESSAGE_ERROR,
          err->domain, err->code, g_strdup (err->message),
          g_strdup_printf ("%s backend: %s", name, klass->description),
          __FILE__, GST_FUNCTION, __LINE__);
      g_error_free (err);
    }
  }
  g_free (name);
  g_free (script);
  return self->backend != NULL;
}

static void
free_backend (GstAgent *self)
{
  GstAgentBackend *backend = self->backend;

  self->backend = NULL;
  if (backend)
    backend->klass->free (backend);
}

static void
reset_dialog (GstAgent *self)
{
  GstAgentDialog *d = &self->dialog;

  drain_queue (self);
  stop_speaking (self);
  d->conversation = GST_AGENT_CONVERSATION_NONE;
  d->need_stream_start = TRUE;
  d->need_segment = TRUE;
  d->eos = FALSE;
  d->last_pts = GST_CLOCK_TIME_NONE;
  d->awaiting_input = FALSE;
  d->no_input_deadline = 0;
  d->feedback_seen = FALSE;
  /* ttsbridge starts a new stream in its own voice too */
  g_clear_pointer (&d->voice, g_free);
  g_clear_pointer (&d->sent_voice, g_free);
}

static GstStateChangeReturn
gst_agent_change_state (GstElement *element, GstStateChange transition)
{
  GstAgent *self = GST_AGENT (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_NULL_TO_READY:
      if (!create_backend (self))
        return GST_STATE_CHANGE_FAILURE;
      break;
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      reset_dialog (self);
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    if (transition == GST_STATE_CHANGE_NULL_TO_READY)
      free_backend (self);
    return ret;
  }

  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      /* the dialog thread has stopped with the src pad */
      end_conversation (self, "stopping", FALSE);
      reset_dialog (self);
      break;
    case GST_STATE_CHANGE_READY_TO_NULL:
      free_backend (self);
      break;
    default:
      break;
  }
  return ret;
}
