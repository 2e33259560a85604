/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-sipplc
 * @title: sipplc
 * @see_also: rtpjitterbuffer, sipsrc
 *
 * sipplc conceals lost packets of a call's audio: for each GAP event
 * (which a depayloader sends when `rtpjitterbuffer do-lost=true` gives up
 * on a packet) it pushes audio made from the speech before the gap, with
 * spandsp's packet loss concealment (the G.711 Appendix I method: the last
 * pitch period repeated, fading to silence after about 50 ms), instead of
 * letting the speech recognizer hear a hole.
 *
 * It is spanplc (gst-plugins-bad) made safe for real lines. A jitter buffer
 * that sees reordering and loss together sometimes reports a loss of zero
 * duration, and spandsp's fill-in writes up to 30 samples whatever length
 * it is asked for: spanplc then crashes the whole process (with a
 * zero-length gap) or writes past its buffer (with a gap of a few
 * samples). sipplc skips gaps without a duration, always lets spandsp write
 * into room for at least 30 samples, and leaves gaps longer than a second
 * (a far end that stopped sending) to downstream as GAP events: silence,
 * not concealment. Buffers pass through in place; spandsp remembers their
 * last 28 ms, and smooths the first samples after a concealed gap into the
 * real speech.
 *
 * Mono S16 audio at any rate; spandsp's pitch search is made for 8 kHz.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 sipbin.( local-uri=sip:agent@127.0.0.1:5060 sipsrc ! rtpjitterbuffer latency=60 do-lost=true ! rtppcmudepay ! mulawdec ! sipplc ! audioresample ! sttbridge ! agent ! ttsbridge ! audioresample ! mulawenc ! rtppcmupay ! sipsink )
 * ]| The voice agent, with lost packets concealed before recognition (the
 * gst-sip-agent server's default receive path).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsipplc.h"

#include <string.h>
#include <gst/audio/audio.h>
#include <spandsp.h>

GST_DEBUG_CATEGORY_STATIC (gst_sip_plc_debug);
#define GST_CAT_DEFAULT gst_sip_plc_debug

/* spandsp's plc_fillin() writes a quarter pitch period (PLC_PITCH_MAX / 4
 * = 30 samples) on the first call of a gap, whatever `len` says */
#define MIN_FILL_SAMPLES 32
/* longer gaps are a far end that stopped sending, not packet loss */
#define MAX_FILL (1 * GST_SECOND)

struct _GstSipPlc
{
  GstBaseTransform parent;

  /* streaming thread */
  plc_state_t *plc;
  gint rate;

  /* object lock */
  guint64 concealed;
  GstClockTime concealed_duration;
  guint64 empty_gaps;
  guint64 long_gaps;
};

enum
{
  PROP_0,
  PROP_STATS,
};

#define CAPS \
  "audio/x-raw, format = (string) " GST_AUDIO_NE ( \
      S16) ", " \
           "rate = (int) [ 1, MAX ], channels = (int) 1, " \
           "layout = (string) interleaved"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE (
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (CAPS));

#define gst_sip_plc_parent_class parent_class
G_DEFINE_TYPE (GstSipPlc, gst_sip_plc, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (sipplc, "sipplc", GST_RANK_NONE, GST_TYPE_SIP_PLC);

static void
reset_state (GstSipPlc *self)
{
  if (self->plc)
    plc_free (self->plc);
  self->plc = plc_init (NULL);
}

static gboolean
gst_sip_plc_start (GstBaseTransform *trans)
{
  GstSipPlc *self = GST_SIP_PLC (trans);

  reset_state (self);
  self->rate = 0;
  GST_OBJECT_LOCK (self);
  self->concealed = self->empty_gaps = self->long_gaps = 0;
  self->concealed_duration = 0;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static gboolean
gst_sip_plc_stop (GstBaseTransform *trans)
{
  GstSipPlc *self = GST_SIP_PLC (trans);

  if (self->plc)
    plc_free (self->plc);
  self->plc = NULL;
  return TRUE;
}

static gboolean
gst_sip_plc_set_caps (
    GstBaseTransform *trans, GstCaps *incaps, GstCaps *outcaps)
{
  GstSipPlc *self = GST_SIP_PLC (trans);
  GstAudioInfo info;

  if (!gst_audio_info_from_caps (&info, incaps))
    return FALSE;
  if (info.rate != self->rate) {
    /* the speech remembered was at the old rate */
    reset_state (self);
    self->rate = info.rate;
  }
  return TRUE;
}

static GstFlowReturn
gst_sip_plc_transform_ip (GstBaseTransform *trans, GstBuffer *buffer)
{
  GstSipPlc *self = GST_SIP_PLC (trans);
  GstMapInfo map;

  if (!gst_buffer_map (buffer, &map, GST_MAP_READWRITE))
    return GST_FLOW_ERROR;
  plc_rx (self->plc, (int16_t *) map.data, map.size / sizeof (int16_t));
  gst_buffer_unmap (buffer, &map);
  return GST_FLOW_OK;
}

/* Conceal @duration of audio at @pts; FALSE: leave the gap to downstream */
static gboolean
conceal (GstSipPlc *self, GstClockTime pts, GstClockTime duration)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  guint samples;
  GstBuffer *buffer;
  GstMapInfo map;
  int16_t scratch[MIN_FILL_SAMPLES];

  if (self->rate == 0 || !GST_CLOCK_TIME_IS_VALID (duration) ||
      duration > MAX_FILL) {
    GST_OBJECT_LOCK (self);
    if (self->rate != 0)
      self->long_gaps++;
    GST_OBJECT_UNLOCK (self);
    return FALSE;
  }
  samples = gst_util_uint64_scale_round (duration, self->rate, GST_SECOND);
  if (samples == 0) {
    GST_LOG_OBJECT (self, "gap of %" GST_TIME_FORMAT " has no samples",
        GST_TIME_ARGS (duration));
    GST_OBJECT_LOCK (self);
    self->empty_gaps++;
    GST_OBJECT_UNLOCK (self);
    return TRUE;
  }

  buffer = gst_buffer_new_allocate (NULL, samples * sizeof (int16_t), NULL);
  gst_buffer_map (buffer, &map, GST_MAP_WRITE);
  if (samples < MIN_FILL_SAMPLES) {
    plc_fillin (self->plc, scratch, samples);
    memcpy (map.data, scratch, samples * sizeof (int16_t));
  } else {
    plc_fillin (self->plc, (int16_t *) map.data, samples);
  }
  gst_buffer_unmap (buffer, &map);
  GST_BUFFER_PTS (buffer) = pts;
  GST_BUFFER_DURATION (buffer) = duration;
  GST_LOG_OBJECT (self, "concealed %u samples at %" GST_TIME_FORMAT, samples,
      GST_TIME_ARGS (pts));

  GST_OBJECT_LOCK (self);
  self->concealed++;
  self->concealed_duration += duration;
  GST_OBJECT_UNLOCK (self);

  gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (trans), buffer);
  return TRUE;
}

static gboolean
gst_sip_plc_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstSipPlc *self = GST_SIP_PLC (trans);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_GAP: {
      GstClockTime pts, duration;

      gst_event_parse_gap (event, &pts, &duration);
      if (conceal (self, pts, duration)) {
        gst_event_unref (event);
        return TRUE;
      }
      break;
    }
    case GST_EVENT_FLUSH_STOP:
      reset_state (self);
      break;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

static void
gst_sip_plc_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstSipPlc *self = GST_SIP_PLC (object);

  switch (prop_id) {
    case PROP_STATS:
      GST_OBJECT_LOCK (self);
      g_value_take_boxed (value,
          gst_structure_new ("application/x-sipplc-stats", "concealed",
              G_TYPE_UINT64, self->concealed, "concealed-duration",
              G_TYPE_UINT64, self->concealed_duration, "empty-gaps",
              G_TYPE_UINT64, self->empty_gaps, "long-gaps", G_TYPE_UINT64,
              self->long_gaps, NULL));
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_sip_plc_finalize (GObject *object)
{
  GstSipPlc *self = GST_SIP_PLC (object);

  if (self->plc)
    plc_free (self->plc);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_sip_plc_class_init (GstSipPlcClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  gobject_class->get_property = gst_sip_plc_get_property;
  gobject_class->finalize = gst_sip_plc_finalize;

  /**
   * GstSipPlc:stats:
   *
   * What was concealed: `concealed` (guint64: gaps filled with audio),
   * `concealed-duration` (guint64, ns: their total length), `empty-gaps`
   * (guint64: gaps shorter than one sample, skipped) and `long-gaps`
   * (guint64: gaps longer than a second, or without a duration, passed on
   * as GAP events). Reset when the element starts.
   */
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "What was concealed (concealed, concealed-duration, empty-gaps, "
          "long-gaps)",
          GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "Call audio packet loss concealment", "Filter/Effect/Audio",
      "Fills the gaps lost packets leave in a call's audio with spandsp's "
      "packet loss concealment",
      "gst-sip-agent developers");
  gst_element_class_add_static_metadata (element_class, "example",
      "gst-launch-1.0 sipbin.( local-uri=sip:agent@127.0.0.1:5060 sipsrc ! "
      "rtpjitterbuffer latency=60 do-lost=true ! rtppcmudepay ! mulawdec ! "
      "sipplc ! audioresample ! sttbridge ! agent ! ttsbridge ! audioresample "
      "! mulawenc ! rtppcmupay ! sipsink )");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_sip_plc_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_sip_plc_stop);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_sip_plc_set_caps);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_sip_plc_transform_ip);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_sip_plc_sink_event);

  GST_DEBUG_CATEGORY_INIT (
      gst_sip_plc_debug, "sipplc", 0, "call audio packet loss concealment");
}

static void
gst_sip_plc_init (GstSipPlc *self)
{
}
