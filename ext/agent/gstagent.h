/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_AGENT_H__
#define __GST_AGENT_H__

#include <gst/gst.h>

#include "gstagentbackend.h"

G_BEGIN_DECLS

#define GST_TYPE_AGENT (gst_agent_get_type ())
G_DECLARE_FINAL_TYPE (GstAgent, gst_agent, GST, AGENT, GstElement)

/* One element message per answered input, for the call record. Not in
 * gstagentevents.h because only the agent posts it. */
#define GST_AGENT_MESSAGE_TURN "agent-turn"

typedef enum
{
  GST_AGENT_CONVERSATION_NONE, /* nothing started since READY->PAUSED */
  GST_AGENT_CONVERSATION_ACTIVE,
  GST_AGENT_CONVERSATION_ENDING, /* action decided, waiting for playout */
  GST_AGENT_CONVERSATION_ENDED, /* action posted; the agent is silent (a
                                  failed transfer makes it ACTIVE again) */
} GstAgentConversation;

/* What the dialog thread knows; only that thread touches it (and
 * change_state while the thread is stopped). */
typedef struct
{
  GstAgentConversation conversation;
  gchar *call_id;
  gboolean from_segment; /* started by a SEGMENT, no sip-call-started yet */
  guint turn;
  const gchar *turn_input; /* "start", "utterance", "dtmf", "no-input",
                            * "transfer-failed", "resumed" */
  GString *reply; /* what the current turn said */
  GstStructure *fields; /* intake fields of the conversation */
  gchar *state; /* current dialog state */

  /* speech out */
  gchar *voice; /* what the backend speaks in now (VOICE), NULL: default */
  gchar *sent_voice; /* the voice ttsbridge was last told, NULL: default */
  gboolean feedback_seen; /* ttsbridge spoke up in this conversation */
  GQueue held; /* sentences not pushed yet (pacing) */
  GQueue in_flight; /* pushed, not finished playing */
  gint64 playout_end; /* estimated end of what was pushed (monotonic) */

  /* the far end holds the call (sip-call-hold): nothing is said, heard or
   * timed until it resumes */
  gboolean on_hold;

  /* waiting for the caller */
  gboolean awaiting_input;
  guint no_input_ms;
  gint64 no_input_deadline; /* 0: not armed yet */

  /* hangup/transfer waiting for the prompt before it */
  GstStructure *pending_action;
  gint64 action_deadline;
  /* a transfer was posted and its sip-transfer-result has not come: the
   * agent stays silent, and a failure brings the conversation back */
  gboolean transfer_pending;

  /* src stream */
  gboolean need_stream_start;
  gboolean need_segment;
  gboolean eos;
  GstClockTime last_pts;
} GstAgentDialog;

struct _GstAgent
{
  GstElement parent;

  GstPad *sinkpad;
  GstPad *srcpad;

  /* properties, GST_OBJECT_LOCK */
  gchar *backend_name;
  gchar *script;
  guint no_input_timeout;
  guint max_retries;
  gboolean barge_in;
  gboolean outbound;
  gchar *current_state; /* read-only "state" */

  /* NULL->READY creates it, READY->NULL frees it */
  GstAgentBackend *backend;

  /* inputs and backend outputs for the dialog thread, from any thread */
  GAsyncQueue *queue;
  gint flushing; /* atomic */
  GstFlowReturn src_result; /* GST_OBJECT_LOCK */

  GThread *dialog_thread;
  GstAgentDialog dialog;
};

GST_ELEMENT_REGISTER_DECLARE (agent);

G_END_DECLS
#endif
