/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Stereo recording of a call's pipeline: caller left, agent right.
 *
 *   caller: buffer probe on sttbridge's sink pad --copy-->
 *     appsrc (live, leaky) ! audioconvert ! audioresample ! capsfilter ! \
 *                                                       audiointerleave.sink_0
 *   agent: buffer probe on ttsbridge's src pad --copy-->
 *     appsrc (live, leaky) ! audioconvert ! audioresample ! capsfilter ! \
 *                                                       audiointerleave.sink_1
 *   audiointerleave (live) ! wavenc ! filesink
 *                          ! opusenc ! oggmux ! filesink
 *
 * all inside one GstSipRecorderBin ("sip-recorder") added to the pipeline.
 * Probes rather than tees: a tee would put the branch into the call's caps
 * and allocation negotiation and its latency; a probe costs the call's
 * thread one small copy and a queue push per packet.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsiprecorder.h"

#include <gst/app/gstappsrc.h>
#include <gst/audio/audio.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_sip_recorder_debug);
#define GST_CAT_DEFAULT gst_sip_recorder_debug

/* How late a side's audio may reach the mixer and still be recorded in
 * place; past that the mixer has written silence for it. Copies are
 * stamped when they pass the call path, so this is only the branch's own
 * delay: its threads being scheduled late on a loaded machine. Only the
 * recording is that much behind the call, never the call. */
#define RECORDER_LATENCY (400 * GST_MSECOND)
/* The mixer's output blocks */
#define RECORDER_BLOCK (20 * GST_MSECOND)
/* What each side's appsrc holds while the branch is stuck (a stalled
 * disk) before it drops the oldest: 6 s of 16 kHz mono */
#define RECORDER_QUEUE_BYTES (6 * 16000 * 2)
#define OPUS_BITRATE 32000
#define RECORDER_WRITE_BYTES 4096

enum
{
  SIDE_CALLER, /* left */
  SIDE_AGENT, /* right */
  N_SIDES
};

/* rec->state, read without the lock by the probes */
enum
{
  STATE_IDLE, /* no audio yet: rate not chosen */
  STATE_RUNNING,
  STATE_DONE, /* finishing, finished or failed: probes pass */
};

typedef struct _GstSipRecorderBin GstSipRecorderBin;
typedef struct _GstSipRecorderBinClass GstSipRecorderBinClass;

typedef struct
{
  GstSipRecorderBin *rec;
  GstPad *pad; /* the probed pad of the call path */
  gulong probe_id;
  GstElement *appsrc;
  GstElement *capsfilter;
  gint rate, bpf; /* of caps, streaming thread of pad only */
  GstCaps *caps; /* last caps seen on pad, under rec->lock */
} RecorderSide;

struct _GstSipRecorderBin
{
  GstBin parent;

  GMutex lock;
  GCond cond;
  gint state; /* atomic; changes under lock */
  gint rate;
  gboolean eos; /* filesink got EOS */
  gboolean failed;
  gboolean finished; /* gst_sip_recorder_finish() was called ... */
  gboolean complete; /* ... and returned this */
  RecorderSide sides[N_SIDES];
  GstElement *mixer;
  GstElement *filesink;
  gchar *path;
};

struct _GstSipRecorderBinClass
{
  GstBinClass parent_class;
};

#define GST_TYPE_SIP_RECORDER_BIN (gst_sip_recorder_bin_get_type ())
#define GST_SIP_RECORDER_BIN(obj) \
  (G_TYPE_CHECK_INSTANCE_CAST ( \
      (obj), GST_TYPE_SIP_RECORDER_BIN, GstSipRecorderBin))
#define GST_IS_SIP_RECORDER_BIN(obj) \
  (G_TYPE_CHECK_INSTANCE_TYPE ((obj), GST_TYPE_SIP_RECORDER_BIN))

static GType gst_sip_recorder_bin_get_type (void);
G_DEFINE_TYPE_WITH_CODE (GstSipRecorderBin, gst_sip_recorder_bin, GST_TYPE_BIN,
    GST_DEBUG_CATEGORY_INIT (
        gst_sip_recorder_debug, "siprecorder", 0, "call recording"));

static void
gst_sip_recorder_bin_init (GstSipRecorderBin *rec)
{
  guint i;

  g_mutex_init (&rec->lock);
  g_cond_init (&rec->cond);
  for (i = 0; i < N_SIDES; i++)
    rec->sides[i].rec = rec;
}

/* The probes hold no ref on the recorder (the recorder holds the pads:
 * that would be a cycle when nobody calls gst_sip_recorder_finish()); they
 * go here, when the pipeline is disposed, where no data flows. */
static void
gst_sip_recorder_bin_dispose (GObject *object)
{
  GstSipRecorderBin *rec = GST_SIP_RECORDER_BIN (object);
  guint i;

  for (i = 0; i < N_SIDES; i++) {
    RecorderSide *side = &rec->sides[i];

    if (side->probe_id) {
      gst_pad_remove_probe (side->pad, side->probe_id);
      side->probe_id = 0;
    }
    gst_clear_object (&side->pad);
  }
  G_OBJECT_CLASS (gst_sip_recorder_bin_parent_class)->dispose (object);
}

static void
gst_sip_recorder_bin_finalize (GObject *object)
{
  GstSipRecorderBin *rec = GST_SIP_RECORDER_BIN (object);
  guint i;

  for (i = 0; i < N_SIDES; i++)
    gst_clear_caps (&rec->sides[i].caps);
  g_free (rec->path);
  g_mutex_clear (&rec->lock);
  g_cond_clear (&rec->cond);
  G_OBJECT_CLASS (gst_sip_recorder_bin_parent_class)->finalize (object);
}

/* Takes the branch out of the pipeline's state changes for good. Called
 * from our own change_state, never from a streaming thread. */
static void
isolate (GstSipRecorderBin *rec)
{
  GstIterator *it = gst_bin_iterate_elements (GST_BIN (rec));
  GValue item = G_VALUE_INIT;
  gboolean done = FALSE;

  g_mutex_lock (&rec->lock);
  rec->failed = TRUE;
  g_atomic_int_set (&rec->state, STATE_DONE);
  g_cond_broadcast (&rec->cond);
  g_mutex_unlock (&rec->lock);

  while (!done) {
    switch (gst_iterator_next (it, &item)) {
      case GST_ITERATOR_OK: {
        GstElement *e = g_value_get_object (&item);

        gst_element_set_locked_state (e, TRUE);
        gst_element_set_state (e, GST_STATE_NULL);
        g_value_reset (&item);
        break;
      }
      case GST_ITERATOR_RESYNC:
        gst_iterator_resync (it);
        break;
      default:
        done = TRUE;
        break;
    }
  }
  g_value_unset (&item);
  gst_iterator_free (it);
}

static GstStateChangeReturn
gst_sip_recorder_bin_change_state (
    GstElement *element, GstStateChange transition)
{
  GstSipRecorderBin *rec = GST_SIP_RECORDER_BIN (element);
  GstStateChangeReturn ret;

  ret = GST_ELEMENT_CLASS (gst_sip_recorder_bin_parent_class)
            ->change_state (element, transition);

  if (ret == GST_STATE_CHANGE_FAILURE) {
    if (GST_STATE_TRANSITION_NEXT (transition) >
        GST_STATE_TRANSITION_CURRENT (transition)) {
      /* the file cannot be opened any more (its error went out as a
       * warning): the call goes on without its recording */
      GST_WARNING_OBJECT (rec, "recording %s failed to start", rec->path);
      isolate (rec);
      ret = GST_STATE_CHANGE_SUCCESS;
    }
    return ret;
  }

  return ret;
}

static void
gst_sip_recorder_bin_handle_message (GstBin *bin, GstMessage *message)
{
  GstSipRecorderBin *rec = GST_SIP_RECORDER_BIN (bin);

  switch (GST_MESSAGE_TYPE (message)) {
    case GST_MESSAGE_ERROR: {
      /* never the call's error: say it as a warning, stop recording */
      GError *err = NULL;
      gchar *debug = NULL;
      GstMessage *warning;

      gst_message_parse_error (message, &err, &debug);
      GST_WARNING_OBJECT (
          rec, "recording %s failed: %s", rec->path, err->message);
      warning = gst_message_new_warning (GST_MESSAGE_SRC (message), err, debug);
      g_error_free (err);
      g_free (debug);
      gst_message_unref (message);
      message = warning;

      g_mutex_lock (&rec->lock);
      rec->failed = TRUE;
      g_atomic_int_set (&rec->state, STATE_DONE);
      g_cond_broadcast (&rec->cond);
      g_mutex_unlock (&rec->lock);
      break;
    }
    case GST_MESSAGE_EOS:
      /* the file is complete; the pipeline need not know */
      if (GST_MESSAGE_SRC (message) == GST_OBJECT_CAST (rec->filesink)) {
        g_mutex_lock (&rec->lock);
        rec->eos = TRUE;
        g_cond_broadcast (&rec->cond);
        g_mutex_unlock (&rec->lock);
      }
      gst_message_unref (message);
      return;
    default:
      break;
  }

  GST_BIN_CLASS (gst_sip_recorder_bin_parent_class)
      ->handle_message (bin, message);
}

static void
gst_sip_recorder_bin_class_init (GstSipRecorderBinClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBinClass *bin_class = GST_BIN_CLASS (klass);

  gobject_class->dispose = gst_sip_recorder_bin_dispose;
  gobject_class->finalize = gst_sip_recorder_bin_finalize;
  element_class->change_state =
      GST_DEBUG_FUNCPTR (gst_sip_recorder_bin_change_state);
  bin_class->handle_message =
      GST_DEBUG_FUNCPTR (gst_sip_recorder_bin_handle_message);
  gst_element_class_set_static_metadata (element_class, "SIP call recorder",
      "Generic/Bin/Sink",
      "Stereo recording of a call: caller left, agent right", "gst-sip-agent");
}

/* --- the probes: the call path's threads ---------------------------------- */

static gint
caps_rate (const GstCaps *caps)
{
  gint rate = 0;

  if (caps && gst_caps_get_size (caps) > 0)
    gst_structure_get_int (gst_caps_get_structure (caps, 0), "rate", &rate);
  return rate;
}

/* The first audio from either side: choose the rate, let the branch
 * negotiate. Returns whether to record. */
static gboolean
start_recording (GstSipRecorderBin *rec)
{
  gboolean running;

  g_mutex_lock (&rec->lock);
  if (g_atomic_int_get (&rec->state) == STATE_IDLE) {
    GstCaps *caps;
    guint i;

    rec->rate = 8000;
    for (i = 0; i < N_SIDES; i++)
      if (caps_rate (rec->sides[i].caps) > 8000)
        rec->rate = 16000;
    caps = gst_caps_new_simple ("audio/x-raw", "format", G_TYPE_STRING, "S16LE",
        "layout", G_TYPE_STRING, "interleaved", "channels", G_TYPE_INT, 1,
        "rate", G_TYPE_INT, rec->rate, NULL);
    for (i = 0; i < N_SIDES; i++) {
      g_object_set (rec->sides[i].capsfilter, "caps", caps, NULL);
      if (rec->sides[i].caps)
        gst_app_src_set_caps (
            GST_APP_SRC (rec->sides[i].appsrc), rec->sides[i].caps);
    }
    gst_caps_unref (caps);
    GST_INFO_OBJECT (rec, "recording %s at %d Hz", rec->path, rec->rate);
    g_atomic_int_set (&rec->state, STATE_RUNNING);
  }
  running = g_atomic_int_get (&rec->state) == STATE_RUNNING;
  g_mutex_unlock (&rec->lock);

  return running;
}

static void
side_set_caps (RecorderSide *side, GstCaps *caps)
{
  GstAudioInfo info;

  if (caps && gst_audio_info_from_caps (&info, caps)) {
    side->rate = GST_AUDIO_INFO_RATE (&info);
    side->bpf = GST_AUDIO_INFO_BPF (&info);
  } else {
    side->rate = side->bpf = 0;
  }
}

static GstClockTime
side_duration (RecorderSide *side, GstBuffer *buf)
{
  if (side->rate > 0 && side->bpf > 0)
    return gst_util_uint64_scale_int (
        gst_buffer_get_size (buf) / side->bpf, GST_SECOND, side->rate);
  return GST_BUFFER_DURATION (buf);
}

/* A copy, never a ref: the call path must not find its buffers shared (an
 * in-place element there would then copy them) nor wait for the branch. A
 * 20 ms packet is 160 to 640 bytes.
 *
 * Stamped with when it passed here on the pipeline clock (it ends now),
 * not with its own timestamp: the caller's audio as it arrived, the
 * agent's as it left, which is the conversation the caller had, whatever
 * the sinks of the template do (sipsink sends at once; a sink that syncs
 * would send each buffer a pipeline latency after its timestamp). For the
 * default template the two are the same to within a packet. */
static void
push_copy (RecorderSide *side, GstBuffer *buf, GstClockTime start)
{
  GstBuffer *copy;
  GstMapInfo map;

  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return;
  copy = gst_buffer_new_memdup (map.data, map.size);
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (copy) = start;
  GST_BUFFER_DURATION (copy) = side_duration (side, buf);
  if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_GAP))
    GST_BUFFER_FLAG_SET (copy, GST_BUFFER_FLAG_GAP);
  /* never blocks (leaky); FLUSHING/EOS just drop the copy */
  gst_app_src_push_buffer (GST_APP_SRC (side->appsrc), copy);
}

/* where a buffer of @duration that ends now starts, in running time. On
 * the clock and base time of the element whose pad is probed: it is
 * PLAYING when data passes, while the recorder bin may not be yet (a bin
 * sets its sinks and then the elements upstream of them to PLAYING; the
 * recorder is linked to neither), and a base time not set yet gives a
 * running time hours ahead, which the mixer would hold on to. */
static GstClockTime
start_time (RecorderSide *side, GstClockTime duration)
{
  GstElement *element = GST_PAD_PARENT (side->pad);
  GstClockTime now = element ? gst_element_get_current_running_time (element)
                             : GST_CLOCK_TIME_NONE;

  if (!GST_CLOCK_TIME_IS_VALID (now) || !GST_CLOCK_TIME_IS_VALID (duration))
    return now;
  return now > duration ? now - duration : 0;
}

static void
side_push_list (RecorderSide *side, GstBufferList *list)
{
  guint i, n = gst_buffer_list_length (list);
  GstClockTime total = 0, t;

  for (i = 0; i < n; i++)
    total += side_duration (side, gst_buffer_list_get (list, i));
  t = start_time (side, total);
  for (i = 0; i < n; i++) {
    GstBuffer *buf = gst_buffer_list_get (list, i);

    push_copy (side, buf, t);
    if (GST_CLOCK_TIME_IS_VALID (t))
      t += side_duration (side, buf);
  }
}

static void
side_event (RecorderSide *side, GstEvent *event)
{
  GstSipRecorderBin *rec = side->rec;
  GstCaps *caps;

  if (GST_EVENT_TYPE (event) != GST_EVENT_CAPS)
    return;
  gst_event_parse_caps (event, &caps);
  side_set_caps (side, caps);
  g_mutex_lock (&rec->lock);
  gst_caps_replace (&side->caps, caps);
  if (g_atomic_int_get (&rec->state) == STATE_RUNNING)
    gst_app_src_set_caps (GST_APP_SRC (side->appsrc), caps);
  g_mutex_unlock (&rec->lock);
}

static GstPadProbeReturn
side_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  RecorderSide *side = user_data;
  gint state = g_atomic_int_get (&side->rec->state);

  if (G_UNLIKELY (state == STATE_DONE))
    return GST_PAD_PROBE_OK;

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);

    if (G_UNLIKELY (state == STATE_IDLE) && !start_recording (side->rec))
      return GST_PAD_PROBE_OK;
    push_copy (side, buf, start_time (side, side_duration (side, buf)));
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    if (G_UNLIKELY (state == STATE_IDLE) && !start_recording (side->rec))
      return GST_PAD_PROBE_OK;
    side_push_list (side, GST_PAD_PROBE_INFO_BUFFER_LIST (info));
  } else if (info->type & GST_PAD_PROBE_TYPE_EVENT_BOTH) {
    side_event (side, GST_PAD_PROBE_INFO_EVENT (info));
  }

  return GST_PAD_PROBE_OK;
}

/* --- building ------------------------------------------------------------- */

/* the first @factory_name element in @bin, recursively, or NULL */
static GstElement *
find_by_factory (GstBin *bin, const gchar *factory_name)
{
  GstIterator *it =
      gst_bin_iterate_all_by_element_factory_name (bin, factory_name);
  GValue item = G_VALUE_INIT;
  GstElement *found = NULL;
  GstIteratorResult res;

  while ((res = gst_iterator_next (it, &item)) == GST_ITERATOR_RESYNC)
    gst_iterator_resync (it);
  if (res == GST_ITERATOR_OK) {
    found = g_value_dup_object (&item);
    g_value_unset (&item);
  }
  gst_iterator_free (it);
  return found;
}

static GstSipRecorderBin *
find_recorder (GstBin *pipeline)
{
  GstSipRecorderBin *rec = NULL;
  GList *l;

  GST_OBJECT_LOCK (pipeline);
  for (l = pipeline->children; l; l = l->next) {
    if (GST_IS_SIP_RECORDER_BIN (l->data)) {
      rec = gst_object_ref (l->data);
      break;
    }
  }
  GST_OBJECT_UNLOCK (pipeline);
  return rec;
}

static GstElement *
make (GstSipRecorderBin *rec, const gchar *factory, GError **error)
{
  GstElement *e = gst_element_factory_make (factory, NULL);

  if (!e) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
        "Call recording needs the '%s' element", factory);
    return NULL;
  }
  gst_bin_add (GST_BIN (rec), e);
  return e;
}

static gboolean
build (GstSipRecorderBin *rec, GstSipRecordingFormat format, GError **error)
{
  GstElement *last;
  GValueArray *positions;
  GValue pos = G_VALUE_INIT;
  guint i;

  if (!(rec->mixer = make (rec, "audiointerleave", error)))
    return FALSE;
  /* sink_0 is channel 0: requested in order once positions are set (the
   * property is a GValueArray, deprecated in GLib but what it takes) */
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  positions = g_value_array_new (2);
  g_value_init (&pos, GST_TYPE_AUDIO_CHANNEL_POSITION);
  g_value_set_enum (&pos, GST_AUDIO_CHANNEL_POSITION_FRONT_LEFT);
  g_value_array_append (positions, &pos);
  g_value_set_enum (&pos, GST_AUDIO_CHANNEL_POSITION_FRONT_RIGHT);
  g_value_array_append (positions, &pos);
  g_value_unset (&pos);
  g_object_set (rec->mixer, "channel-positions", positions, "latency",
      (guint64) RECORDER_LATENCY, "output-buffer-duration",
      (guint64) RECORDER_BLOCK, NULL);
  g_value_array_free (positions);
  G_GNUC_END_IGNORE_DEPRECATIONS
  /* Live (the appsrcs are), so it produces on the clock and a side that
   * sends nothing is silence instead of holding the other back. It starts
   * with the first audio from either side, at that audio's time: until
   * then it waits without timing out, which it must not do before it has
   * caps (audioaggregator fails then: it cannot size a buffer), and the
   * recording starts with the call's audio even when attached late. (Not
   * force-live: with it audioaggregator never goes EOS, and the file could
   * not be finished.) */
  gst_util_set_object_arg (
      G_OBJECT (rec->mixer), "start-time-selection", "first");

  for (i = 0; i < N_SIDES; i++) {
    RecorderSide *side = &rec->sides[i];
    GstElement *convert, *resample;
    GstPad *srcpad, *sinkpad;

    if (!(side->appsrc = make (rec, "appsrc", error)) ||
        !(convert = make (rec, "audioconvert", error)) ||
        !(resample = make (rec, "audioresample", error)) ||
        !(side->capsfilter = make (rec, "capsfilter", error)))
      return FALSE;
    g_object_set (side->appsrc, "is-live", TRUE, "format", GST_FORMAT_TIME,
        "emit-signals", FALSE, "block", FALSE, "max-bytes",
        (guint64) RECORDER_QUEUE_BYTES, "min-latency", (gint64) 0, NULL);
    gst_util_set_object_arg (
        G_OBJECT (side->appsrc), "leaky-type", "downstream");
    if (!gst_element_link_many (
            side->appsrc, convert, resample, side->capsfilter, NULL))
      goto link_failed;
    srcpad = gst_element_get_static_pad (side->capsfilter, "src");
    sinkpad = gst_element_request_pad_simple (rec->mixer, "sink_%u");
    if (gst_pad_link (srcpad, sinkpad) != GST_PAD_LINK_OK) {
      gst_object_unref (srcpad);
      gst_object_unref (sinkpad);
      goto link_failed;
    }
    gst_object_unref (srcpad);
    gst_object_unref (sinkpad);
  }

  last = rec->mixer;
  if (format == GST_SIP_RECORDING_WAV) {
    GstElement *wavenc;

    if (!(wavenc = make (rec, "wavenc", error)))
      return FALSE;
    if (!gst_element_link (last, wavenc))
      goto link_failed;
    last = wavenc;
  } else {
    GstElement *opusenc, *oggmux;

    if (!(opusenc = make (rec, "opusenc", error)) ||
        !(oggmux = make (rec, "oggmux", error)))
      return FALSE;
    g_object_set (opusenc, "bitrate", OPUS_BITRATE, NULL);
    gst_util_set_object_arg (G_OBJECT (opusenc), "audio-type", "voice");
    if (!gst_element_link_many (last, opusenc, oggmux, NULL))
      goto link_failed;
    last = oggmux;
  }
  if (!(rec->filesink = make (rec, "filesink", error)))
    return FALSE;
  /* never a clock wait, never an async state change; on disk as the call
   * goes, so that a crash loses little: WAV in writes of 4 kB (1/8 s at 8
   * kHz), Ogg page by page (oggmux makes one every 0.5 s at most) */
  g_object_set (rec->filesink, "location", rec->path, "sync", FALSE, "async",
      FALSE, "buffer-size", RECORDER_WRITE_BYTES, NULL);
  gst_util_set_object_arg (G_OBJECT (rec->filesink), "buffer-mode",
      format == GST_SIP_RECORDING_WAV ? "full" : "unbuffered");
  if (!gst_element_link (last, rec->filesink))
    goto link_failed;

  return TRUE;

link_failed:
  g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
      "Could not link the call recording branch");
  return FALSE;
}

/**
 * gst_sip_recorder_attach:
 * @pipeline: a call's top-level pipeline, before it starts (the server's
 *   `call-pipeline` handler); a playing one is recorded from then on
 * @path: the file to write, created (or truncated) at once
 * @format: WAV or Ogg/Opus
 * @error: where to report why not
 *
 * Records the call in @pipeline in stereo: the caller, as it goes into the
 * first `sttbridge` found in @pipeline (recursively, by factory name), on
 * the left; the agent, as it leaves the first `ttsbridge`, on the right.
 * Both sides go to 8000 Hz, or to 16000 Hz when either runs above 8 kHz
 * when the first audio arrives. A side that sends nothing (a caller on
 * hold) is recorded as silence.
 *
 * The recording runs in a bin of its own, `sip-recorder`, added to
 * @pipeline, on its own threads, fed by buffer probes that copy each buffer
 * into a leaky queue: it adds no latency to the call and never holds it
 * up. Its errors (the file cannot be opened when the pipeline starts, a
 * full disk) are posted as #GST_MESSAGE_WARNING, not errors, and end the
 * recording only; its end-of-stream is not posted. Call from any thread
 * but @pipeline's streaming threads.
 *
 * Call gst_sip_recorder_finish() before setting @pipeline to NULL.
 *
 * Returns: %TRUE when recording; %FALSE with @error set when @pipeline has
 *   no sttbridge or ttsbridge or already records (#GST_CORE_ERROR_FAILED),
 *   an element is missing (#GST_CORE_ERROR_MISSING_PLUGIN) or @path cannot
 *   be written (#GST_RESOURCE_ERROR_OPEN_WRITE).
 */
gboolean
gst_sip_recorder_attach (GstBin *pipeline, const gchar *path,
    GstSipRecordingFormat format, GError **error)
{
  GstSipRecorderBin *rec;
  GstElement *stt = NULL, *tts = NULL;
  GstState state, pending;
  gboolean ok = FALSE;
  guint i;
  int fd;

  g_return_val_if_fail (GST_IS_BIN (pipeline), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (
      format == GST_SIP_RECORDING_WAV || format == GST_SIP_RECORDING_OGG_OPUS,
      FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if ((rec = find_recorder (pipeline))) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_FAILED,
        "%s is already recorded (to %s)", GST_OBJECT_NAME (pipeline),
        rec->path);
    gst_object_unref (rec);
    return FALSE;
  }
  stt = find_by_factory (pipeline, "sttbridge");
  tts = find_by_factory (pipeline, "ttsbridge");
  if (!stt || !tts) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_FAILED,
        "Nothing to record in %s: it has no %s", GST_OBJECT_NAME (pipeline),
        stt ? "ttsbridge" : "sttbridge");
    goto out;
  }

  /* what filesink will do in NULL->READY, now, where it can be reported */
  fd = g_open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    int errsv = errno;

    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_WRITE,
        "Could not open %s for writing: %s", path, g_strerror (errsv));
    goto out;
  }
  g_close (fd, NULL);

  rec = g_object_new (GST_TYPE_SIP_RECORDER_BIN, "name", "sip-recorder", NULL);
  gst_object_ref_sink (rec);
  rec->path = g_strdup (path);
  if (!build (rec, format, error)) {
    gst_object_unref (rec);
    g_unlink (path);
    goto out;
  }
  /* No sink of the pipeline: no part in its EOS, latency or preroll. */
  GST_OBJECT_FLAG_UNSET (rec, GST_ELEMENT_FLAG_SINK);

  rec->sides[SIDE_CALLER].pad = gst_element_get_static_pad (stt, "sink");
  rec->sides[SIDE_AGENT].pad = gst_element_get_static_pad (tts, "src");
  for (i = 0; i < N_SIDES; i++) {
    RecorderSide *side = &rec->sides[i];

    /* a running pipeline: what its pads already know */
    side->caps = gst_pad_get_current_caps (side->pad);
    side_set_caps (side, side->caps);
  }

  gst_element_get_state (GST_ELEMENT (pipeline), &state, &pending, 0);
  if (!gst_bin_add (pipeline, GST_ELEMENT (rec))) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_FAILED,
        "Could not add the recorder to %s", GST_OBJECT_NAME (pipeline));
    gst_object_unref (rec);
    g_unlink (path);
    goto out;
  }

  for (i = 0; i < N_SIDES; i++) {
    RecorderSide *side = &rec->sides[i];

    side->probe_id = gst_pad_add_probe (side->pad,
        GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST |
            GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
        side_probe, side, NULL);
  }
  if (state >= GST_STATE_PAUSED)
    gst_element_sync_state_with_parent (GST_ELEMENT (rec));

  GST_INFO_OBJECT (rec, "recording %s:%s and %s:%s of %s to %s",
      GST_DEBUG_PAD_NAME (rec->sides[SIDE_CALLER].pad),
      GST_DEBUG_PAD_NAME (rec->sides[SIDE_AGENT].pad),
      GST_OBJECT_NAME (pipeline), path);
  gst_object_unref (rec); /* the pipeline has it */
  ok = TRUE;

out:
  gst_clear_object (&stt);
  gst_clear_object (&tts);
  return ok;
}

/* where the end-of-stream stopped, for the log */
static void
log_stuck (GstSipRecorderBin *rec)
{
  GString *where = g_string_new (NULL);
  GList *l, *p;

  GST_OBJECT_LOCK (rec);
  for (l = GST_BIN (rec)->children; l; l = l->next) {
    GstElement *e = l->data;

    GST_OBJECT_LOCK (e);
    for (p = e->sinkpads; p; p = p->next)
      if (!GST_PAD_IS_EOS (p->data))
        g_string_append_printf (where, " %s:%s", GST_DEBUG_PAD_NAME (p->data));
    GST_OBJECT_UNLOCK (e);
  }
  GST_OBJECT_UNLOCK (rec);
  GST_WARNING_OBJECT (rec,
      "%s not complete in time; no end-of-stream yet on%s; queued: caller "
      "%" G_GUINT64_FORMAT " bytes, agent %" G_GUINT64_FORMAT " bytes",
      rec->path, where->str,
      gst_app_src_get_current_level_bytes (
          GST_APP_SRC (rec->sides[SIDE_CALLER].appsrc)),
      gst_app_src_get_current_level_bytes (
          GST_APP_SRC (rec->sides[SIDE_AGENT].appsrc)));
  g_string_free (where, TRUE);
}

/**
 * gst_sip_recorder_finish:
 * @pipeline: a pipeline given to gst_sip_recorder_attach(), still playing
 * @timeout: how long to wait for the file to be complete;
 *   %GST_CLOCK_TIME_NONE: as long as it takes
 *
 * Ends the recording of @pipeline: stops taking audio from the call, sends
 * end-of-stream into the recording branch and waits until the file is
 * complete on disk (WAV: its header rewritten with the sizes; Ogg: the last
 * page written), or @timeout. That takes a few milliseconds; the call's
 * elements are not involved and go on playing. Call it right before
 * setting @pipeline to NULL, from any thread but the pipeline's streaming
 * threads.
 *
 * What the branch still holds (its 0.4 s of latency) goes into the file,
 * so the recording ends where the call's audio ended. A recording that
 * never received audio (the call never played) leaves no file. Calling it
 * again returns the same; on a pipeline without a recording it does
 * nothing.
 *
 * Returns: %TRUE when the file is complete (or there is none); %FALSE when
 *   the recording failed (see the warning on the bus), @pipeline was not
 *   playing or @timeout passed (logged with where the end-of-stream
 *   stopped): the file is then as a crash would leave it (see above).
 */
gboolean
gst_sip_recorder_finish (GstBin *pipeline, GstClockTime timeout)
{
  GstSipRecorderBin *rec;
  gint state;
  gboolean done;
  guint i;

  g_return_val_if_fail (GST_IS_BIN (pipeline), FALSE);

  if (!(rec = find_recorder (pipeline)))
    return TRUE;

  g_mutex_lock (&rec->lock);
  if (rec->finished) {
    done = rec->complete;
    g_mutex_unlock (&rec->lock);
    gst_object_unref (rec);
    return done;
  }
  rec->finished = TRUE;
  state = g_atomic_int_get (&rec->state);
  g_atomic_int_set (&rec->state, STATE_DONE);
  g_mutex_unlock (&rec->lock);

  for (i = 0; i < N_SIDES; i++) {
    if (rec->sides[i].probe_id) {
      gst_pad_remove_probe (rec->sides[i].pad, rec->sides[i].probe_id);
      rec->sides[i].probe_id = 0;
    }
  }

  if (state == STATE_IDLE) {
    /* not a sample: the empty file filesink opened says nothing */
    GST_INFO_OBJECT (rec, "no audio, removing %s", rec->path);
    g_unlink (rec->path);
    done = TRUE;
  } else if (state == STATE_DONE) {
    done = FALSE; /* failed */
  } else if (GST_STATE (rec) != GST_STATE_PLAYING) {
    GST_WARNING_OBJECT (rec, "not playing, %s is cut", rec->path);
    done = FALSE;
  } else {
    gint64 deadline = GST_CLOCK_TIME_IS_VALID (timeout)
        ? g_get_monotonic_time () + (gint64) (timeout / GST_USECOND)
        : G_MAXINT64;

    /* behind what each appsrc still holds; once both sides end, the mixer
     * writes out what it has without waiting for the clock */
    for (i = 0; i < N_SIDES; i++)
      gst_app_src_end_of_stream (GST_APP_SRC (rec->sides[i].appsrc));

    g_mutex_lock (&rec->lock);
    while (!rec->eos && !rec->failed) {
      if (deadline == G_MAXINT64)
        g_cond_wait (&rec->cond, &rec->lock);
      else if (!g_cond_wait_until (&rec->cond, &rec->lock, deadline))
        break;
    }
    done = rec->eos && !rec->failed;
    g_mutex_unlock (&rec->lock);
    if (done)
      GST_INFO_OBJECT (rec, "%s complete", rec->path);
    else
      log_stuck (rec);
  }

  g_mutex_lock (&rec->lock);
  rec->complete = done;
  g_mutex_unlock (&rec->lock);
  gst_object_unref (rec);
  return done;
}
