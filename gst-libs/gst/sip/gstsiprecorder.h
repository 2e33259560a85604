/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_RECORDER_H__
#define __GST_SIP_RECORDER_H__

#include <gst/gst.h>

G_BEGIN_DECLS

/**
 * SECTION:gstsiprecorder
 * @title: GstSipRecorder
 * @short_description: stereo audio recording of a call's pipeline
 *
 * gst_sip_recorder_attach() adds a recording branch to a call's pipeline
 * without touching its launch description: the caller on the left channel
 * (what flows into the first `sttbridge`'s sink pad), the agent on the
 * right (what leaves the first `ttsbridge`'s src pad), as WAV or Ogg/Opus.
 * gst_sip_recorder_finish() completes the file before the pipeline goes.
 *
 * The call path is not changed: buffer probes on those two pads copy each
 * buffer (160 to 640 bytes per 20 ms packet) into a leaky `appsrc` of the
 * branch and return. No tee, so no extra caps or allocation negotiation;
 * no latency (the branch is not a sink of the pipeline and its `filesink`
 * does not sync, so the pipeline's latency is the same with it); the call
 * never waits for the branch, which drops its oldest audio when it falls
 * 6 s behind (a stalled disk).
 *
 * The branch runs on its own threads in a bin added to the pipeline:
 * `appsrc ! audioconvert ! audioresample ! capsfilter` per side into a
 * live `audiointerleave`, then `wavenc ! filesink` or
 * `opusenc ! oggmux ! filesink`. Each copy is stamped with the moment it
 * passed the call path (the caller's audio as it arrived, the agent's as
 * it left), so the two sides line up as the server heard and sent them;
 * the mixer writes silence for a side that sends nothing (a caller on
 * hold, one-way audio) and goes on with the other. It lags the call by
 * 0.4 s, its own latency.
 *
 * Rate: 8000 Hz, or 16000 Hz when either side runs above 8 kHz (G.722),
 * chosen when the first audio arrives from either side. The recording
 * starts then too: in the server's pipelines ttsbridge plays (silence)
 * from the answer, so the file starts at the answer.
 *
 * Failures of the branch (the file cannot be opened, a full disk) never
 * reach the call: their errors are posted as #GST_MESSAGE_WARNING (from
 * the branch's elements, inside the bin `sip-recorder`) and the
 * recording stops.
 *
 * A file the pipeline left without gst_sip_recorder_finish() (a crash, a
 * pipeline set to NULL directly) holds the audio written until then, all
 * but about the last half second. Ogg/Opus plays as it is. A WAV file's
 * header then still gives its data size as 0x7fff0000 bytes: GStreamer's
 * `wavparse` reads such a file to its end, stricter readers need the
 * header fixed (the data runs from byte 44 to the end).
 */

/**
 * GstSipRecordingFormat:
 * @GST_SIP_RECORDING_WAV: 16-bit PCM WAV (`wavenc`): 32 kB/s at 8 kHz,
 *   64 kB/s at 16 kHz
 * @GST_SIP_RECORDING_OGG_OPUS: Opus in Ogg (`opusenc` in voice mode at
 *   32 kbit/s, `oggmux`): 4 kB/s
 *
 * The container and codec of a call recording.
 */
typedef enum
{
  GST_SIP_RECORDING_WAV,
  GST_SIP_RECORDING_OGG_OPUS,
} GstSipRecordingFormat;

/**
 * GST_SIP_RECORDER_FINISH_TIMEOUT:
 *
 * A timeout for gst_sip_recorder_finish(): finishing takes a few
 * milliseconds; this much only passes when the disk stalls.
 */
#define GST_SIP_RECORDER_FINISH_TIMEOUT (2 * GST_SECOND)

gboolean gst_sip_recorder_attach (GstBin *pipeline, const gchar *path,
    GstSipRecordingFormat format, GError **error);

gboolean gst_sip_recorder_finish (GstBin *pipeline, GstClockTime timeout);

G_END_DECLS
#endif
