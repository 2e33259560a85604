/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_STT_BRIDGE_H__
#define __GST_STT_BRIDGE_H__

#include <gst/gst.h>
#include <gst/audio/audio.h>

#include "gststtbackend.h"

G_BEGIN_DECLS

#define GST_TYPE_STT_BRIDGE (gst_stt_bridge_get_type ())
G_DECLARE_FINAL_TYPE (GstSttBridge, gst_stt_bridge, GST, STT_BRIDGE, GstElement)

typedef struct _GstSttResult GstSttResult;

struct _GstSttBridge
{
  GstElement parent;

  GstPad *sinkpad;
  GstPad *srcpad;

  /* properties, object lock */
  gchar *backend_name;
  gchar *model_dir;
  guint hangover_ms;
  guint hint_hangover_ms;
  guint min_barge_in_ms;
  gdouble band_fill_db;
  guint pool_size;
  gint decode_nice;
  gint dtmf_detect_prop; /* GstSttDtmfDetect */

  /* in-band DTMF (gststtdtmf.c), from READY to NULL */
  gint dtmf_detect; /* the property, as it was at NULL->READY */
  struct _GstSttDtmf *dtmf;
  gboolean far_end_rfc4733; /* streaming thread: sip-call-started said so */
  GArray *dtmf_keys; /* streaming thread: scratch */

  /* from READY to NULL */
  const GstSttBackendClass *backend_class;
  GstSttBackend *backend;

  /* listener results, results_lock: backends may report from any thread */
  GMutex results_lock;
  GQueue results;
  gint n_results; /* atomic: length of results */

  /* hints from the agent (upstream, any thread), hints_lock */
  GMutex hints_lock;
  gchar **pending_hints;
  gboolean pending_hints_closed;
  gint hints_pending; /* atomic; set under hints_lock */

  /* streaming thread */
  gint in_rate;
  GstAudioResampler *resampler;
  gint16 *scratch;
  gsize scratch_len;
  const gint16 *fill_table;
  gsize fill_pos;
  gint16 fill_gain_q15;
  GstSegment segment;
  GstClockTime base_running_time; /* of the conversation's first sample */
  guint64 fed_samples; /* at the backend's rate */
  gboolean in_speech;
  GstClockTime speech_started_at;
  gboolean barge_in_sent;
  gboolean caps_sent;
  gboolean needs_priming;
  gboolean held; /* the call is on hold: audio is not listened to */
  gsize settle_left; /* samples before the detector has settled */
  GThread *niced_thread; /* the thread whose priority we lowered */
  gint niced_tid;
  gint niced_from;
};

/**
 * GstSttDtmfDetect:
 * @GST_STT_DTMF_DETECT_AUTO: detect tones unless sipsrc's
 *   `sip-call-started` says the far end sends RFC 4733 events
 * @GST_STT_DTMF_DETECT_ON: always detect tones
 * @GST_STT_DTMF_DETECT_OFF: never
 *
 * When sttbridge listens for DTMF tones in the caller's audio.
 */
typedef enum
{
  GST_STT_DTMF_DETECT_AUTO,
  GST_STT_DTMF_DETECT_ON,
  GST_STT_DTMF_DETECT_OFF,
} GstSttDtmfDetect;

#define GST_TYPE_STT_DTMF_DETECT (gst_stt_dtmf_detect_get_type ())
GType gst_stt_dtmf_detect_get_type (void);

GST_ELEMENT_REGISTER_DECLARE (sttbridge);

G_END_DECLS
#endif
