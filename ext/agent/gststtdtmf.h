/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * In-band DTMF for sttbridge: spandsp's detector (the dtmfdetect element of
 * gst-plugins-bad), driven privately on the caller's decoded audio.
 */
#ifndef __GST_STT_DTMF_H__
#define __GST_STT_DTMF_H__

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct _GstSttDtmf GstSttDtmf;

/* NULL when the dtmfdetect element is not installed. @owner names it in
 * the debug log. */
GstSttDtmf *gst_stt_dtmf_new (GstElement *owner);
void gst_stt_dtmf_free (GstSttDtmf *dtmf);
/* A new call: forget the tone in progress. */
void gst_stt_dtmf_reset (GstSttDtmf *dtmf);
/* Runs @n mono S16 samples at @rate (8000 or 16000) through the detector
 * and appends the keys it recognized (0-15) to @keys (a GArray of gint).
 * Streaming thread. */
void gst_stt_dtmf_process (
    GstSttDtmf *dtmf, const gint16 *samples, gsize n, gint rate, GArray *keys);

G_END_DECLS
#endif
