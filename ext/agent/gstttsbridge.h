/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_TTS_BRIDGE_H__
#define __GST_TTS_BRIDGE_H__

#include <gst/gst.h>
#include <gst/base/gstpushsrc.h>
#include <gst/base/gstadapter.h>
#include <gst/audio/audio.h>

#include "gstttsbackend.h"

G_BEGIN_DECLS

#define GST_TYPE_TTS_BRIDGE (gst_tts_bridge_get_type ())
G_DECLARE_FINAL_TYPE (GstTtsBridge, gst_tts_bridge, GST, TTS_BRIDGE, GstPushSrc)

/* One (backend, voice) the element speaks with, private to gstttsbridge.c */
typedef struct _GstTtsBridgeVoice GstTtsBridgeVoice;

typedef struct
{
  guint64 sentences;
  guint64 finished;
  guint64 interrupted;
  guint64 failed;
  guint64 barge_ins;
  guint64 underruns;
  GstClockTime first_audio_latency;
  GstClockTime max_first_audio_latency;
} GstTtsBridgeStats;

struct _GstTtsBridge
{
  GstPushSrc parent;

  GstPad *sinkpad;

  /* properties, GST_OBJECT_LOCK */
  gchar *backend_name;
  gchar *voice;
  GstStructure *backend_options;
  GstClockTime chunk_time;
  gdouble speed;

  /* The voices, from NULL->READY to READY->NULL: the element's own
   * (backend, voice, backend-options), opened in NULL->READY, and those
   * tts-voice events asked for, added under lock by the event and opened
   * by the synthesis thread when a sentence first needs one. All are
   * closed in READY->NULL. default_voice does not change in between. */
  GPtrArray *voices; /* of GstTtsBridgeVoice, changed under lock */
  GstTtsBridgeVoice *default_voice;
  GstStructure *open_options; /* backend-options as of NULL->READY */

  /* lock guards everything below up to the streaming-thread fields; it is
   * only ever held for queue bookkeeping and copies, never while
   * synthesizing or waiting on the clock */
  GMutex lock;
  GCond cond;
  GThread *worker;
  gboolean running; /* between start() and stop() */
  gboolean flushing; /* create() must return (unlock) */
  GstClockID clock_id; /* create()'s wait, reused for every chunk */
  GQueue sentences; /* of Sentence, in playing order */
  GQueue dropped; /* dropped sentences create() still has to report */
  GstAdapter *adapter; /* synthesized audio at the output rate */
  guint generation; /* bumped by every drop */
  GCancellable *cancellable; /* of the synthesis in progress */
  gboolean eos; /* EOS arrived on the sink pad */
  gint rate; /* negotiated output rate, 0 before */
  GstTtsBridgeVoice *next_voice; /* of the next sentence queued */
  GstTtsBridgeStats stats;

  /* streaming thread only */
  gboolean started; /* the first chunk (DISCONT) went out */
  GstClockTime ts_offset; /* running time of sample 0 */
  guint64 n_samples; /* samples output since ts_offset */
};

G_END_DECLS
#endif
