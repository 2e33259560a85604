/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The events that sttbridge, agent and ttsbridge exchange through the
 * pipeline, and the names of the bus messages they post. docs/elements.md
 * documents each one; keep the two in step.
 *
 *   sipsrc ... ! sttbridge ! agent ! ttsbridge ! ... sipsink
 *
 * downstream (serialized, custom):
 *   "sip-call-started"   sipbin through sipsrc when the call is answered,
 *                        out of band (call-id: string); without sipbin,
 *                        sipsrc itself, serialized, before the first packet
 *                        of each call (call-id may be absent). Both carry
 *                        telephone-event-payload (int, -1 = none), which
 *                        tells sttbridge whether to listen for DTMF tones
 *   "sip-call-hold"      sipbin through sipsrc, out of band, when the far
 *                        end puts the call on hold (held=TRUE: its SDP is
 *                        sendonly or inactive, we must not send) or takes
 *                        it off hold (held=FALSE) (call-id). sttbridge stops
 *                        listening, the agent stops talking and its timers,
 *                        and carries on when the hold ends
 *   "sip-call-ended"     sipsrc, when the call's socket is taken away
 *                        (call-id), after media of that call went out;
 *                        out of band (GstAudioDecoder would hold a
 *                        serialized one until audio that never comes)
 *   "sip-transfer-result" sipbin through sipsrc, when a transfer the agent
 *                        asked for (agent-action transfer) has ended
 *                        (success: boolean, status: int, the SIP status of
 *                        the REFER's refusal or of the final sipfrag, 0 when
 *                        it never started, 408 on timeout; target: string;
 *                        call-id); out of band like sip-call-ended. On
 *                        success sipbin hangs up; on failure the call goes
 *                        on and the agent takes the conversation back
 *   "dtmf-event"         sipsrc (same fields as rtpdtmfdepay's, plus start;
 *                        RFC 4733 keys, method 1, and SIP INFO keys that
 *                        sipbin hands it, method 3); out of band once the
 *                        call's media flows (a GstAudioDecoder would hold
 *                        a serialized one while a phone sends events
 *                        instead of audio). sttbridge, serialized: keys
 *                        heard as tones, method 2
 *   "stt-speech-started" sttbridge, once the caller has spoken for
 *                        min-barge-in (running-time: guint64)
 *   "agent-barge-in"     agent, when it stops talking because the caller
 *                        spoke; ttsbridge drops everything queued
 *   "tts-voice"          agent -> ttsbridge, before the first sentence to be
 *                        spoken in another voice (backend: string, absent =
 *                        the backend of the voice in use; voice: string,
 *                        absent or "default" = the element's own
 *                        backend/voice properties); ttsbridge speaks the
 *                        sentences queued after it in that voice, those
 *                        queued before it in theirs
 * upstream (custom):
 *   "agent-hints"        agent -> sttbridge on entering a dialog state
 *                        (phrases: GStrv, closed: boolean, state: string)
 *   "tts-started"        ttsbridge -> agent, first audio of a sentence
 *                        (text: string)
 *   "tts-finished"       ttsbridge -> agent, a sentence played out or was
 *                        dropped (text: string, interrupted: boolean,
 *                        idle: boolean = nothing more queued)
 */
#ifndef __GST_AGENT_EVENTS_H__
#define __GST_AGENT_EVENTS_H__

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_AGENT_EVENT_SIP_CALL_STARTED "sip-call-started"
#define GST_AGENT_EVENT_SIP_CALL_ENDED "sip-call-ended"
#define GST_AGENT_EVENT_SIP_CALL_HOLD "sip-call-hold"
#define GST_AGENT_EVENT_SIP_TRANSFER_RESULT "sip-transfer-result"
#define GST_AGENT_EVENT_DTMF "dtmf-event"
#define GST_AGENT_EVENT_SPEECH_STARTED "stt-speech-started"
#define GST_AGENT_EVENT_BARGE_IN "agent-barge-in"
#define GST_AGENT_EVENT_HINTS "agent-hints"
#define GST_AGENT_EVENT_TTS_STARTED "tts-started"
#define GST_AGENT_EVENT_TTS_FINISHED "tts-finished"
#define GST_AGENT_EVENT_TTS_VOICE "tts-voice"

/* Bus message structure names (element messages). */
#define GST_AGENT_MESSAGE_SPEECH_STARTED "speech-started"
#define GST_AGENT_MESSAGE_SPEECH_STOPPED "speech-stopped"
#define GST_AGENT_MESSAGE_TRANSCRIPT "transcript"
#define GST_AGENT_MESSAGE_ACTION "agent-action"
#define GST_AGENT_MESSAGE_INTAKE "intake"
#define GST_AGENT_MESSAGE_TTS_STARTED "tts-started"
#define GST_AGENT_MESSAGE_TTS_FINISHED "tts-finished"

/* The name of a custom event's structure, or NULL for other events. */
const gchar *gst_agent_event_name (GstEvent *event);

gboolean gst_agent_event_is (GstEvent *event, const gchar *name);

GstEvent *gst_agent_event_new_hints (
    const gchar *state, const gchar *const *phrases, gboolean closed);

GstEvent *gst_agent_event_new_tts (
    const gchar *name, const gchar *text, gboolean interrupted, gboolean idle);

GstEvent *gst_agent_event_new_tts_voice (
    const gchar *backend, const gchar *voice);

gboolean gst_agent_voice_name_parse (
    const gchar *name, gchar **backend, gchar **voice, gchar **why);

G_END_DECLS
#endif
