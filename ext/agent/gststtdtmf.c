/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * dtmfdetect is an element that posts a `dtmf-event` message (type 1,
 * number, method 2) for each key it hears, in the thread that pushed the
 * audio. It is used here without a pipeline: our own src pad feeds it, our
 * own sink pad swallows its output, and a private bus with a sync handler
 * takes its messages while the push is still on the stack. The library
 * (libspandsp) has no development package on the build machines, and the
 * element is what GStreamer offers for it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gststtdtmf.h"

#include <gst/audio/audio.h>

GST_DEBUG_CATEGORY_STATIC (stt_dtmf_debug);
#define GST_CAT_DEFAULT stt_dtmf_debug

#define DETECT_RATE 8000

struct _GstSttDtmf
{
  GstElement *owner;
  GstElement *detect;
  GstPad *src; /* ours, feeding dtmfdetect */
  GstPad *sink; /* ours, after dtmfdetect */
  GstBus *bus;
  gboolean started; /* stream-start, caps and segment went */
  GArray *found; /* keys reported during the current push */
  gint16 carry; /* 16 kHz input: a sample left over from the last buffer */
  gboolean have_carry;
};

static GstFlowReturn
swallow (GstPad *pad, GstObject *parent, GstBuffer *buf)
{
  gst_buffer_unref (buf);
  return GST_FLOW_OK;
}

static GstBusSyncReply
on_message (GstBus *bus, GstMessage *msg, gpointer data)
{
  GstSttDtmf *d = data;
  const GstStructure *s = gst_message_get_structure (msg);
  gint number;

  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT && s &&
      gst_structure_has_name (s, "dtmf-event") &&
      gst_structure_get_int (s, "number", &number) && number >= 0 &&
      number <= 15) {
    GST_DEBUG_OBJECT (d->owner, "dtmfdetect heard key %d", number);
    g_array_append_val (d->found, number);
  } else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR ||
      GST_MESSAGE_TYPE (msg) == GST_MESSAGE_WARNING) {
    GST_WARNING_OBJECT (d->owner, "dtmfdetect: %" GST_PTR_FORMAT, msg);
  }
  gst_message_unref (msg);
  return GST_BUS_DROP;
}

static gboolean
link_detector (GstSttDtmf *d)
{
  GstPad *in = gst_element_get_static_pad (d->detect, "sink");
  GstPad *out = gst_element_get_static_pad (d->detect, "src");
  gboolean ok = in && out && gst_pad_link (d->src, in) == GST_PAD_LINK_OK &&
      gst_pad_link (out, d->sink) == GST_PAD_LINK_OK;

  gst_clear_object (&in);
  gst_clear_object (&out);
  return ok;
}

GstSttDtmf *
gst_stt_dtmf_new (GstElement *owner)
{
  GstElement *detect;
  GstSttDtmf *d;

  if (stt_dtmf_debug == NULL)
    GST_DEBUG_CATEGORY_INIT (
        stt_dtmf_debug, "sttdtmf", 0, "sttbridge in-band DTMF detection");
  detect = gst_element_factory_make ("dtmfdetect", NULL);
  if (detect == NULL)
    return NULL;
  d = g_new0 (GstSttDtmf, 1);
  d->owner = owner;
  d->detect = gst_object_ref_sink (detect);
  d->found = g_array_new (FALSE, FALSE, sizeof (gint));
  d->bus = gst_bus_new ();
  gst_bus_set_sync_handler (d->bus, on_message, d, NULL);
  gst_element_set_bus (d->detect, d->bus);
  d->src = gst_object_ref_sink (gst_pad_new ("dtmfsrc", GST_PAD_SRC));
  d->sink = gst_object_ref_sink (gst_pad_new ("dtmfsink", GST_PAD_SINK));
  gst_pad_set_chain_function (d->sink, swallow);
  gst_pad_set_active (d->src, TRUE);
  gst_pad_set_active (d->sink, TRUE);
  if (!link_detector (d) ||
      gst_element_set_state (d->detect, GST_STATE_PLAYING) ==
          GST_STATE_CHANGE_FAILURE) {
    GST_WARNING_OBJECT (owner, "could not set up dtmfdetect");
    gst_stt_dtmf_free (d);
    return NULL;
  }
  return d;
}

void
gst_stt_dtmf_free (GstSttDtmf *d)
{
  GstPad *pad;

  if (d == NULL)
    return;
  gst_element_set_state (d->detect, GST_STATE_NULL);
  pad = gst_pad_get_peer (d->src);
  if (pad) {
    gst_pad_unlink (d->src, pad);
    gst_object_unref (pad);
  }
  pad = gst_pad_get_peer (d->sink);
  if (pad) {
    gst_pad_unlink (pad, d->sink);
    gst_object_unref (pad);
  }
  gst_element_set_bus (d->detect, NULL);
  gst_bus_set_sync_handler (d->bus, NULL, NULL, NULL);
  gst_object_unref (d->bus);
  gst_object_unref (d->detect);
  gst_object_unref (d->src);
  gst_object_unref (d->sink);
  g_array_free (d->found, TRUE);
  g_free (d);
}

void
gst_stt_dtmf_reset (GstSttDtmf *d)
{
  /* READY and back: dtmfdetect sets spandsp's receiver up afresh */
  gst_element_set_state (d->detect, GST_STATE_READY);
  gst_element_set_state (d->detect, GST_STATE_PLAYING);
  d->started = FALSE;
  d->have_carry = FALSE;
}

static void
start_stream (GstSttDtmf *d)
{
  GstCaps *caps = gst_caps_new_simple ("audio/x-raw", "format", G_TYPE_STRING,
      GST_AUDIO_NE (S16), "layout", G_TYPE_STRING, "interleaved", "rate",
      G_TYPE_INT, DETECT_RATE, "channels", G_TYPE_INT, 1, NULL);
  GstSegment segment;

  gst_segment_init (&segment, GST_FORMAT_TIME);
  gst_pad_push_event (d->src, gst_event_new_stream_start ("sttbridge-dtmf"));
  gst_pad_push_event (d->src, gst_event_new_caps (caps));
  gst_pad_push_event (d->src, gst_event_new_segment (&segment));
  gst_caps_unref (caps);
  d->started = TRUE;
}

void
gst_stt_dtmf_process (
    GstSttDtmf *d, const gint16 *samples, gsize n, gint rate, GArray *keys)
{
  GstBuffer *buf;
  GstMapInfo map;
  gint16 *out;
  gsize i, m;

  if (n == 0 || (rate != DETECT_RATE && rate != 2 * DETECT_RATE))
    return;
  if (!d->started)
    start_stream (d);
  if (rate == DETECT_RATE) {
    buf = gst_buffer_new_memdup (samples, n * sizeof (gint16));
  } else {
    /* 16 kHz: pairs averaged (a two-tap low-pass: -0.4 dB at 1633 Hz, the
     * highest DTMF tone) and decimated */
    buf = gst_buffer_new_allocate (NULL, (n / 2 + 1) * sizeof (gint16), NULL);
    gst_buffer_map (buf, &map, GST_MAP_WRITE);
    out = (gint16 *) map.data;
    m = 0;
    i = 0;
    if (d->have_carry) {
      out[m++] = (d->carry + samples[0]) / 2;
      i = 1;
    }
    for (; i + 1 < n; i += 2)
      out[m++] = (samples[i] + samples[i + 1]) / 2;
    d->have_carry = i < n;
    if (d->have_carry)
      d->carry = samples[i];
    gst_buffer_unmap (buf, &map);
    gst_buffer_set_size (buf, m * sizeof (gint16));
  }
  g_array_set_size (d->found, 0);
  if (gst_pad_push (d->src, buf) != GST_FLOW_OK)
    GST_DEBUG_OBJECT (d->owner, "dtmfdetect did not take the audio");
  g_array_append_vals (keys, d->found->data, d->found->len);
}
