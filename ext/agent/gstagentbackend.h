/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The interface between the agent element and a dialog backend.
 *
 * The element owns everything that touches the pipeline: pads, the dialog
 * thread, timers, pacing of sentences against ttsbridge feedback, barge-in,
 * bus messages. A backend owns the conversation: it is told that a call
 * started, what the caller said or keyed, and that the caller said nothing;
 * it answers with outputs.
 *
 * Calls into the backend (start, input, cancel, stop) come from the agent's
 * dialog thread, one at a time. Outputs go back through the emit function of
 * the config, which is thread-safe: a backend that answers synchronously
 * (script) emits from inside input(); one that streams from a network
 * thread (chat completions with SSE) emits from that thread as each
 * sentence arrives. The element copies what it needs before emit returns.
 *
 * Turns. Every start/input carries a turn number; every output carries the
 * turn it answers. When the caller barges in the element calls cancel() for
 * the current turn and from then on ignores SAY, STATE and DONE outputs of
 * older turns, so a backend that is still streaming a cancelled reply does
 * no harm; it should still stop the work (abort the HTTP request). FIELD,
 * VOICE and ACTION outputs are facts, never dropped.
 *
 * A reply is any number of STATE, SAY, VOICE and FIELD outputs, at most one
 * ACTION (which ends the conversation), then exactly one DONE. A transfer
 * that fails brings the conversation back: the backend gets a
 * TRANSFER_FAILED input and answers it like any other. SAY text may hold
 * one or several sentences; the element splits it and pushes one buffer per
 * sentence, so a streaming backend should emit each sentence as soon as it
 * is complete.
 */
#ifndef __GST_AGENT_BACKEND_H__
#define __GST_AGENT_BACKEND_H__

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct _GstAgentBackend GstAgentBackend;
typedef struct _GstAgentBackendClass GstAgentBackendClass;

/**
 * GstAgentInputType:
 * @GST_AGENT_INPUT_UTTERANCE: one final transcript from sttbridge
 * @GST_AGENT_INPUT_DTMF: one key press (the end of a DTMF event)
 * @GST_AGENT_INPUT_NO_INPUT: the caller said nothing for the no-input
 *   timeout the last DONE asked for (counted from the end of the prompt)
 * @GST_AGENT_INPUT_TRANSFER_FAILED: the transfer of the last ACTION did not
 *   happen (@text: its target, @status: the SIP status, 0 when it never
 *   started) and the caller is still on the line: the conversation that
 *   ended with that ACTION goes on, the backend says what now
 * @GST_AGENT_INPUT_RESUMED: the far end took the call off hold. On hold
 *   the element cut what was being said (cancel()) and waited; the backend
 *   says where the conversation stands (the script thanks the caller and
 *   asks its current question again)
 */
typedef enum
{
  GST_AGENT_INPUT_UTTERANCE,
  GST_AGENT_INPUT_DTMF,
  GST_AGENT_INPUT_NO_INPUT,
  GST_AGENT_INPUT_TRANSFER_FAILED,
  GST_AGENT_INPUT_RESUMED,
} GstAgentInputType;

typedef struct
{
  GstAgentInputType type;
  const gchar *text; /* UTTERANCE: as sttbridge wrote it (valid UTF-8);
                        TRANSFER_FAILED: the target */
  gchar digit; /* DTMF: '0'-'9', '*', '#', 'A'-'D' */
  gint status; /* TRANSFER_FAILED: SIP status */
} GstAgentInput;

/**
 * GstAgentOutputType:
 * @GST_AGENT_OUTPUT_STATE: the dialog entered @state; the element sends
 *   sttbridge an `agent-hints` event with @phrases and @closed
 * @GST_AGENT_OUTPUT_SAY: @text to speak (one or more sentences);
 *   @barge_in says whether the caller may interrupt it
 * @GST_AGENT_OUTPUT_VOICE: the SAY outputs from now on are spoken in
 *   @voice (`espeak:es`, `flite:kal`, `es` for a voice of the backend in
 *   use, NULL for the default), until the next VOICE or the end of the
 *   conversation; the element sends ttsbridge a `tts-voice` event before
 *   the first sentence in the new voice
 * @GST_AGENT_OUTPUT_FIELD: an intake field was captured (@field = @value)
 * @GST_AGENT_OUTPUT_ACTION: @action ("transfer" with @target, or "hangup")
 *   for @reason; ends the conversation. The element posts it once what was
 *   said before it has played out. "send-dtmf" (keys in @target) is the
 *   exception: posted at once, the conversation goes on
 * @GST_AGENT_OUTPUT_DONE: the reply is complete. @heard and @matched
 *   describe how the input was understood (for the `agent-turn` record);
 *   @no_input_timeout_ms > 0 asks for a NO_INPUT input if the caller says
 *   nothing that long after the prompt ends. @partial: the input was
 *   absorbed without a turn of its own (a digit of a number being keyed)
 */
typedef enum
{
  GST_AGENT_OUTPUT_STATE,
  GST_AGENT_OUTPUT_SAY,
  GST_AGENT_OUTPUT_VOICE,
  GST_AGENT_OUTPUT_FIELD,
  GST_AGENT_OUTPUT_ACTION,
  GST_AGENT_OUTPUT_DONE,
} GstAgentOutputType;

typedef struct
{
  GstAgentOutputType type;
  guint turn;
  const gchar *state; /* the dialog state the output belongs to */

  const gchar *text; /* SAY */
  gboolean barge_in; /* SAY */

  const gchar *voice; /* VOICE: a name gst_agent_voice_name_parse() takes */

  const gchar *const *phrases; /* STATE: what the state expects to hear */
  gboolean closed; /* STATE: only @phrases make sense */

  const gchar *field; /* FIELD */
  const gchar *value; /* FIELD */

  const gchar *action; /* ACTION: "transfer" or "hangup" */
  const gchar *target; /* ACTION: transfer target (SIP URI or a name) */
  const gchar *reason; /* ACTION: why (e.g. "intent:attorney") */

  const gchar *heard; /* DONE: the input as the backend read it */
  const gchar *matched; /* DONE: intent, slot, "no-match", "no-input" */
  guint no_input_timeout_ms; /* DONE: 0 = do not wait for input */
  gboolean partial; /* DONE */
} GstAgentOutput;

typedef void (*GstAgentBackendEmitFunc) (
    const GstAgentOutput *output, gpointer user_data);

/* What the element hands a backend when it creates it (NULL->READY). The
 * values are copies of the element's properties at that moment. */
typedef struct
{
  GstElement *element; /* for debug logs only; never post from a backend */
  const gchar *script; /* script backend: keyfile path, NULL = built-in */
  guint no_input_timeout_ms; /* default when the backend has none */
  guint max_retries; /* default re-prompts before a fallback */
  gboolean outbound; /* the conversations are calls we placed */
  GstAgentBackendEmitFunc emit;
  gpointer emit_data;
} GstAgentBackendConfig;

/**
 * GstAgentBackendClass:
 * @name: what the agent's `backend` property selects
 * @description: one line for gst-inspect and errors
 * @create: validate the configuration and build a backend. On failure set
 *   @error (GST_RESOURCE_ERROR) to a message the user can act on; for a
 *   file, "FILE:LINE: what is wrong"
 * @start: a new conversation: forget the previous one, greet. @call_id may
 *   be NULL (a pipeline without sipsrc)
 * @input: the caller said or keyed something, or nothing (NO_INPUT)
 * @cancel: the caller barged in during @turn: stop producing its reply.
 *   Outputs of @turn emitted afterwards are ignored
 * @stop: the conversation is over (new call, EOS, element stopping): abort
 *   work in flight. Emits after stop() returns are discarded
 * @free: release the backend; no emit may happen after it returns
 *
 * A vtable, not a GObject: backends are private to the plugin and chosen
 * by name, and a plain struct keeps one backend one .c file.
 */
struct _GstAgentBackendClass
{
  const gchar *name;
  const gchar *description;

  GstAgentBackend *(*create) (
      const GstAgentBackendConfig *config, GError **error);
  void (*start) (GstAgentBackend *backend, guint turn, const gchar *call_id);
  void (*input) (
      GstAgentBackend *backend, guint turn, const GstAgentInput *input);
  void (*cancel) (GstAgentBackend *backend, guint turn);
  void (*stop) (GstAgentBackend *backend);
  void (*free) (GstAgentBackend *backend);
};

/* The first member of every backend instance. */
struct _GstAgentBackend
{
  const GstAgentBackendClass *klass;
  GstElement *element;
  GstAgentBackendEmitFunc emit;
  gpointer emit_data;
};

static inline void
gst_agent_backend_init (GstAgentBackend *backend,
    const GstAgentBackendClass *klass, const GstAgentBackendConfig *config)
{
  backend->klass = klass;
  backend->element = config->element;
  backend->emit = config->emit;
  backend->emit_data = config->emit_data;
}

static inline void
gst_agent_backend_emit (GstAgentBackend *backend, const GstAgentOutput *output)
{
  backend->emit (output, backend->emit_data);
}

G_END_DECLS
#endif
