/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-sipsink
 * @title: sipsink
 * @see_also: sipsrc, sipbin
 *
 * sipsink is the sending RTP endpoint of one SIP call. It sends the
 * pipeline's RTP to the far end's media address from the same socket the
 * call's sipsrc receives on (symmetric RTP, which NAT and carriers'
 * strict-source checks expect). Inside a sipbin it needs no configuration:
 * sipbin hands it the call's socket, media address and negotiated caps, and
 * the caps are offered upstream so that the payloader uses the negotiated
 * payload type. When sipsrc latches to a new source (NAT), sipsink follows.
 *
 * With #GstSipSink:srtp-key set (sipbin does for SRTP calls) every packet
 * is encrypted and authenticated (SRTP, libsrtp2) before it is sent, and
 * nothing goes out in the clear.
 *
 * sipsink never blocks the pipeline: with no call up, or when the socket
 * cannot take a packet, the packet is dropped and counted in
 * #GstSipSink:stats. Inside sipbin, EOS reaching sipsink hangs up the call.
 *
 * The #GstSipSink::send-dtmf action signal (sipbin's `send-dtmf` calls it)
 * presses keys towards the far end: RFC 4733 events with
 * #GstSipSink:telephone-event-payload, else the two Q.23 tones in a PCMU or
 * PCMA call's audio. Each event (or tone) packet takes the place of one
 * audio packet from the payloader, with its sequence number and SSRC, so the
 * sequence stays continuous and the keys go at the audio's pace.
 *
 * Unlike udpsink, #GstBaseSink:sync defaults to %FALSE: the sources of a
 * call pipeline (sipsrc, ttsbridge) are live and already paced, and waiting
 * on the clock again would add latency to every packet. Set sync=true when
 * a non-live source (a file) feeds the call.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 sipbin.( local-uri=sip:agent@127.0.0.1:5060 sipsrc ! rtppcmudepay ! rtppcmupay ! sipsink )
 * ]| Answers a SIP call on 127.0.0.1:5060 and echoes the caller's audio.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsipsink.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <gst/rtp/gstrtpbuffer.h>

GST_DEBUG_CATEGORY_STATIC (gst_sip_sink_debug);
#define GST_CAT_DEFAULT gst_sip_sink_debug

#define MAX_IOV 16
/* SRTP protects a contiguous copy of the packet on the stack */
#define MAX_SRTP_PACKET 2048
#define DEFAULT_SYNC FALSE
#define DEFAULT_TELEPHONE_EVENT_PT -1
#define DEFAULT_DTMF_DURATION 160
#define DEFAULT_DTMF_GAP 100
/* RFC 4733 2.5.1.4: the final packet is sent three times */
#define DTMF_END_PACKETS 3
/* power level of the keys we send, in -dBm0 (RFC 4733 2.3.4) */
#define DTMF_VOLUME 10
/* in-band: the peak of each of the two tones (about -9 dBm0 each) */
#define DTMF_TONE_AMPLITUDE 7000.0
#define MAX_PACKET 1500

enum
{
  PROP_0,
  PROP_SOCKET,
  PROP_CAPS,
  PROP_REMOTE_ADDRESS,
  PROP_REMOTE_PORT,
  PROP_SENDING,
  PROP_TELEPHONE_EVENT_PAYLOAD,
  PROP_DTMF_DURATION,
  PROP_DTMF_GAP,
  PROP_STATS,
  PROP_SRTP_KEY,
};

enum
{
  SIGNAL_SEND_DTMF,
  LAST_SIGNAL
};

static guint signals[LAST_SIGNAL];

typedef enum
{
  DTMF_IDLE,
  DTMF_TONE, /* the key is down */
  DTMF_END, /* RFC 4733: the end packets */
  DTMF_GAP, /* audio again before the next key */
} DtmfState;

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS ("application/x-rtp"));

#define gst_sip_sink_parent_class parent_class
G_DEFINE_TYPE (GstSipSink, gst_sip_sink, GST_TYPE_BASE_SINK);
GST_ELEMENT_REGISTER_DEFINE (
    sipsink, "sipsink", GST_RANK_NONE, GST_TYPE_SIP_SINK);

static void gst_sip_sink_finalize (GObject *object);
static void gst_sip_sink_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec);
static void gst_sip_sink_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec);
static gboolean gst_sip_sink_start (GstBaseSink *bsink);
static gboolean gst_sip_sink_stop (GstBaseSink *bsink);
static GstCaps *gst_sip_sink_get_caps (GstBaseSink *bsink, GstCaps *filter);
static GstFlowReturn gst_sip_sink_render (
    GstBaseSink *bsink, GstBuffer *buffer);
static GstFlowReturn gst_sip_sink_render_list (
    GstBaseSink *bsink, GstBufferList *list);
static gboolean gst_sip_sink_send_dtmf (GstSipSink *self, const gchar *keys);

static void
gst_sip_sink_class_init (GstSipSinkClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *basesink_class = GST_BASE_SINK_CLASS (klass);

  gobject_class->finalize = gst_sip_sink_finalize;
  gobject_class->set_property = gst_sip_sink_set_property;
  gobject_class->get_property = gst_sip_sink_get_property;

  g_object_class_install_property (gobject_class, PROP_SOCKET,
      g_param_spec_object ("socket", "Socket",
          "RTP socket of the current call, the one sipsrc receives on "
          "(set by sipbin). NULL: no call, packets are dropped",
          G_TYPE_SOCKET, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_CAPS,
      g_param_spec_boxed ("caps", "Caps",
          "Negotiated RTP caps of the current call, offered upstream so the "
          "payloader uses the negotiated payload type",
          GST_TYPE_CAPS, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_REMOTE_ADDRESS,
      g_param_spec_string ("remote-address", "Remote address",
          "Media address of the far end (numeric IPv4 or IPv6)", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_REMOTE_PORT,
      g_param_spec_int ("remote-port", "Remote port",
          "Media port of the far end", 0, 65535, 0,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_SENDING,
      g_param_spec_boolean ("sending", "Sending",
          "FALSE while the far end wants no media from us (our SDP answer "
          "said recvonly or inactive, e.g. on hold): packets are dropped",
          TRUE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_TELEPHONE_EVENT_PAYLOAD,
      g_param_spec_int ("telephone-event-payload",
          "Telephone-event payload type",
          "RTP payload type of RFC 4733 telephone-events the far end takes "
          "(set by sipbin; -1: none, send-dtmf sends tones in the audio)",
          -1, 127, DEFAULT_TELEPHONE_EVENT_PT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_DTMF_DURATION,
      g_param_spec_uint ("dtmf-duration", "DTMF duration",
          "How long each key of send-dtmf is held, in milliseconds", 40, 2000,
          DEFAULT_DTMF_DURATION, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_DTMF_GAP,
      g_param_spec_uint ("dtmf-gap", "DTMF gap",
          "Milliseconds of audio between two keys of send-dtmf", 40, 2000,
          DEFAULT_DTMF_GAP, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  /**
   * GstSipSink:stats:
   *
   * An `application/x-sipsink-stats` structure: `packets-sent`,
   * `bytes-sent` (on the wire, SRTP tag included), `dropped-no-call` (no
   * socket or far end yet), `send-errors` (the socket refused the packet),
   * `srtp-errors` (not sent: SRTP protection failed, the key was unusable
   * or the packet larger than 2048 bytes), `dtmf-keys-sent` and
   * `dtmf-packets-sent` (send-dtmf: keys begun, and the packets that
   * carried them in place of audio), all guint64.
   */
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics", "Packet counters",
          GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
#ifdef HAVE_SRTP
  /**
   * GstSipSink:srtp-key:
   *
   * SRTP (RFC 3711) with our SDES key (RFC 4568), as in our `a=crypto`
   * line without the tag: `AES_CM_128_HMAC_SHA1_80 inline:BASE64`. The
   * suites of #GstSipSrc:srtp-key. Each packet is copied into one
   * contiguous block, protected (encrypted, the authentication tag
   * appended) and sent. With a key set nothing goes out in the clear: a
   * packet that cannot be protected is dropped and counted as
   * `srtp-errors`. NULL (the default): plain RTP. sipbin sets it with the
   * socket for each call; write-only, so that keys stay out of logs.
   */
  g_object_class_install_property (gobject_class, PROP_SRTP_KEY,
      g_param_spec_string ("srtp-key", "SRTP key",
          "SRTP crypto suite and SDES key of ours (\"SUITE inline:BASE64\"), "
          "NULL: plain RTP",
          NULL, G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS));
#endif

  /**
   * GstSipSink::send-dtmf:
   * @sipsink: the sipsink
   * @keys: the keys to press, in order: `0`-`9`, `*`, `#`, `A`-`D`
   *
   * Presses @keys towards the far end, one after the other, each held for
   * #GstSipSink:dtmf-duration with #GstSipSink:dtmf-gap of audio between
   * them. With a #GstSipSink:telephone-event-payload they go as RFC 4733
   * events; without one, as tones in the audio when the call is G.711
   * (PCMU or PCMA). Keys ride on the outgoing audio: each event (or tone)
   * packet takes the place of one audio packet, with its sequence number,
   * SSRC and timestamp, so they go out at the audio's pace and the sequence
   * numbers stay continuous.
   *
   * Returns: %FALSE (and nothing is sent) for a key out of range, no call,
   *   or a call with neither telephone-event nor G.711.
   */
  signals[SIGNAL_SEND_DTMF] = g_signal_new_class_handler ("send-dtmf",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
      G_CALLBACK (gst_sip_sink_send_dtmf), NULL, NULL, NULL, G_TYPE_BOOLEAN, 1,
      G_TYPE_STRING);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_set_static_metadata (element_class, "SIP call RTP sink",
      "Sink/Network/RTP",
      "Sends one SIP call's RTP to the far end from the call's own socket "
      "(symmetric RTP)",
      "gst-sip-agent developers");
  gst_element_class_add_static_metadata (element_class, "example",
      "gst-launch-1.0 -m sipbin.( local-uri=sip:agent@127.0.0.1:5060 sipsrc ! "
      "rtppcmudepay ! rtppcmupay ! sipsink )");

  basesink_class->start = GST_DEBUG_FUNCPTR (gst_sip_sink_start);
  basesink_class->stop = GST_DEBUG_FUNCPTR (gst_sip_sink_stop);
  basesink_class->get_caps = GST_DEBUG_FUNCPTR (gst_sip_sink_get_caps);
  basesink_class->render = GST_DEBUG_FUNCPTR (gst_sip_sink_render);
  basesink_class->render_list = GST_DEBUG_FUNCPTR (gst_sip_sink_render_list);

  GST_DEBUG_CATEGORY_INIT (
      gst_sip_sink_debug, "sipsink", 0, "SIP call RTP sink");
}

static void
gst_sip_sink_init (GstSipSink *self)
{
  /* Everything that feeds a call is live and paced (sipsrc, ttsbridge):
   * waiting on the clock again here would only add latency. */
  gst_base_sink_set_sync (GST_BASE_SINK (self), DEFAULT_SYNC);
  g_mutex_init (&self->config_lock);
  self->sending = TRUE;
  self->active_generation = -1;
  self->active_fd = -1;
  self->telephone_event_pt = DEFAULT_TELEPHONE_EVENT_PT;
  self->dtmf_queue = g_string_new (NULL);
  self->dtmf_duration_ms = DEFAULT_DTMF_DURATION;
  self->dtmf_gap_ms = DEFAULT_DTMF_GAP;
  self->dtmf_te_pt = -1;
}

static void
gst_sip_sink_finalize (GObject *object)
{
  GstSipSink *self = GST_SIP_SINK (object);

  g_clear_object (&self->socket);
  gst_clear_caps (&self->caps);
  g_free (self->remote_host);
  g_string_free (self->dtmf_queue, TRUE);
  gst_sip_srtp_key_free (self->srtp_key);
  gst_sip_srtp_key_free (self->active_srtp_key);
#ifdef HAVE_SRTP
  gst_sip_srtp_free (self->srtp);
#endif
  g_mutex_clear (&self->config_lock);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
push_remote_to_channel_locked (GstSipSink *self)
{
  GstSipRtpChannel *channel;

  if (self->socket == NULL ||
      (self->remote_host == NULL && self->remote_port == 0))
    return;
  channel = gst_sip_rtp_channel_get (self->socket);
  gst_sip_rtp_channel_set_remote (
      channel, self->remote_host, self->remote_port);
  gst_sip_rtp_channel_unref (channel);
}

static void
gst_sip_sink_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstSipSink *self = GST_SIP_SINK (object);
  gboolean reconfigure = FALSE;

  g_mutex_lock (&self->config_lock);
  switch (prop_id) {
    case PROP_SOCKET:
      g_clear_object (&self->socket);
      self->socket = g_value_dup_object (value);
      push_remote_to_channel_locked (self);
      /* keys asked for in the call that ended are not the next call's */
      g_string_truncate (self->dtmf_queue, 0);
      break;
    case PROP_TELEPHONE_EVENT_PAYLOAD:
      self->telephone_event_pt = g_value_get_int (value);
      break;
    case PROP_DTMF_DURATION:
      GST_OBJECT_LOCK (self);
      self->dtmf_duration_ms = g_value_get_uint (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_DTMF_GAP:
      GST_OBJECT_LOCK (self);
      self->dtmf_gap_ms = g_value_get_uint (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_CAPS:
      gst_caps_replace (&self->caps, (GstCaps *) gst_value_get_caps (value));
      reconfigure = TRUE;
      break;
    case PROP_REMOTE_ADDRESS:
      g_free (self->remote_host);
      self->remote_host = g_value_dup_string (value);
      push_remote_to_channel_locked (self);
      break;
    case PROP_REMOTE_PORT:
      self->remote_port = g_value_get_int (value);
      push_remote_to_channel_locked (self);
      break;
    case PROP_SRTP_KEY:
      gst_sip_srtp_key_free (self->srtp_key);
      self->srtp_key = g_value_dup_string (value);
      break;
    case PROP_SENDING:
      GST_INFO_OBJECT (self, "%s",
          g_value_get_boolean (value) ? "sending" : "not sending (hold)");
      g_atomic_int_set (&self->sending, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  g_atomic_int_inc (&self->config_generation);
  g_mutex_unlock (&self->config_lock);

  /* New call caps: make the payloader renegotiate its payload type. */
  if (reconfigure)
    gst_pad_push_event (GST_BASE_SINK_PAD (self), gst_event_new_reconfigure ());
}

static void
gst_sip_sink_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstSipSink *self = GST_SIP_SINK (object);

  switch (prop_id) {
    case PROP_SOCKET:
      g_mutex_lock (&self->config_lock);
      g_value_set_object (value, self->socket);
      g_mutex_unlock (&self->config_lock);
      break;
    case PROP_CAPS:
      g_mutex_lock (&self->config_lock);
      gst_value_set_caps (value, self->caps);
      g_mutex_unlock (&self->config_lock);
      break;
    case PROP_REMOTE_ADDRESS:
      g_mutex_lock (&self->config_lock);
      g_value_set_string (value, self->remote_host);
      g_mutex_unlock (&self->config_lock);
      break;
    case PROP_REMOTE_PORT:
      g_mutex_lock (&self->config_lock);
      g_value_set_int (value, self->remote_port);
      g_mutex_unlock (&self->config_lock);
      break;
    case PROP_SENDING:
      g_value_set_boolean (value, g_atomic_int_get (&self->sending));
      break;
    case PROP_TELEPHONE_EVENT_PAYLOAD:
      g_mutex_lock (&self->config_lock);
      g_value_set_int (value, self->telephone_event_pt);
      g_mutex_unlock (&self->config_lock);
      break;
    case PROP_DTMF_DURATION:
      GST_OBJECT_LOCK (self);
      g_value_set_uint (value, self->dtmf_duration_ms);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_DTMF_GAP:
      GST_OBJECT_LOCK (self);
      g_value_set_uint (value, self->dtmf_gap_ms);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_STATS:
      g_value_take_boxed (value,
          gst_structure_new ("application/x-sipsink-stats", "packets-sent",
              G_TYPE_UINT64, self->packets_sent, "bytes-sent", G_TYPE_UINT64,
              self->bytes_sent, "dropped-no-call", G_TYPE_UINT64,
              self->dropped_no_call, "dropped-not-sending", G_TYPE_UINT64,
              self->dropped_not_sending, "send-errors", G_TYPE_UINT64,
              self->send_errors, "srtp-errors", G_TYPE_UINT64,
              self->srtp_errors, "dtmf-keys-sent", G_TYPE_UINT64,
              self->dtmf_keys_sent, "dtmf-packets-sent", G_TYPE_UINT64,
              self->dtmf_packets_sent, NULL));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
release_active (GstSipSink *self)
{
#ifdef HAVE_SRTP
  g_clear_pointer (&self->srtp, gst_sip_srtp_free);
#endif
  gst_sip_srtp_key_free (self->active_srtp_key);
  self->active_srtp_key = NULL;
  g_clear_object (&self->active_socket);
  self->active_fd = -1;
  if (self->channel) {
    gst_sip_rtp_channel_unref (self->channel);
    self->channel = NULL;
  }
  memset (&self->remote, 0, sizeof (self->remote));
}

static gboolean
gst_sip_sink_start (GstBaseSink *bsink)
{
  GstSipSink *self = GST_SIP_SINK (bsink);

  self->packets_sent = self->bytes_sent = 0;
  self->dropped_no_call = self->dropped_not_sending = self->send_errors = 0;
  self->dtmf_keys_sent = self->dtmf_packets_sent = 0;
  self->dtmf_state = DTMF_IDLE;
  self->dtmf_have_last_ts = FALSE;
  self->srtp_errors = 0;
  self->active_generation = -1;
  return TRUE;
}

static gboolean
gst_sip_sink_stop (GstBaseSink *bsink)
{
  release_active (GST_SIP_SINK (bsink));
  GST_SIP_SINK (bsink)->active_generation = -1;
  return TRUE;
}

static GstCaps *
gst_sip_sink_get_caps (GstBaseSink *bsink, GstCaps *filter)
{
  GstSipSink *self = GST_SIP_SINK (bsink);
  GstCaps *caps;

  g_mutex_lock (&self->config_lock);
  caps = self->caps ? gst_caps_ref (self->caps)
                    : gst_pad_get_pad_template_caps (GST_BASE_SINK_PAD (bsink));
  g_mutex_unlock (&self->config_lock);
  if (filter) {
    GstCaps *tmp =
        gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (caps);
    caps = tmp;
  }
  return caps;
}

static const gchar dtmf_keys[] = "0123456789*#ABCD";
/* ITU-T Q.23: the low (row) and high (column) tone of each key */
static const gdouble dtmf_low[16] = {941, 697, 697, 697, 770, 770, 770, 852,
    852, 852, 941, 941, 697, 770, 852, 941};
static const gdouble dtmf_high[16] = {1336, 1209, 1336, 1477, 1209, 1336, 1477,
    1209, 1336, 1477, 1209, 1477, 1633, 1633, 1633, 1633};

/* Streaming thread, config_lock held: what the call's keys go out as. */
static void
dtmf_config_locked (GstSipSink *self)
{
  const GstStructure *st = self->caps && gst_caps_get_size (self->caps) > 0
      ? gst_caps_get_structure (self->caps, 0)
      : NULL;
  const gchar *name =
      st ? gst_structure_get_string (st, "encoding-name") : NULL;
  gint rate = 8000;

  if (st)
    gst_structure_get_int (st, "clock-rate", &rate);
  self->dtmf_te_pt = self->telephone_event_pt;
  self->dtmf_law = 0;
  if (name && g_ascii_strcasecmp (name, "PCMU") == 0)
    self->dtmf_law = 1;
  else if (name && g_ascii_strcasecmp (name, "PCMA") == 0)
    self->dtmf_law = 2;
  self->dtmf_clock_rate = rate > 0 ? rate : 8000;
}

static gboolean
gst_sip_sink_send_dtmf (GstSipSink *self, const gchar *keys)
{
  gboolean ok = TRUE;
  const gchar *k;

  if (keys == NULL || *keys == '\0')
    return FALSE;
  for (k = keys; *k; k++) {
    if (strchr (dtmf_keys, g_ascii_toupper (*k)) == NULL) {
      GST_WARNING_OBJECT (
          self, "send-dtmf: '%c' is not a key (0-9 * # A-D)", *k);
      return FALSE;
    }
  }
  g_mutex_lock (&self->config_lock);
  if (self->socket == NULL) {
    GST_WARNING_OBJECT (self, "send-dtmf: no call");
    ok = FALSE;
  } else if (self->telephone_event_pt < 0) {
    const GstStructure *st = self->caps && gst_caps_get_size (self->caps) > 0
        ? gst_caps_get_structure (self->caps, 0)
        : NULL;
    const gchar *name =
        st ? gst_structure_get_string (st, "encoding-name") : NULL;

    if (name == NULL ||
        (g_ascii_strcasecmp (name, "PCMU") != 0 &&
            g_ascii_strcasecmp (name, "PCMA") != 0)) {
      GST_WARNING_OBJECT (self,
          "send-dtmf: the far end takes no telephone-event and the call is "
          "%s, not G.711: no way to send keys",
          name ? name : "not negotiated");
      ok = FALSE;
    }
  }
  if (ok) {
    for (k = keys; *k; k++)
      g_string_append_c (self->dtmf_queue, g_ascii_toupper (*k));
    g_atomic_int_set (&self->dtmf_pending, TRUE);
    GST_INFO_OBJECT (self, "send-dtmf %s (%s)", keys,
        self->telephone_event_pt >= 0 ? "RFC 4733" : "in-band tones");
  }
  g_mutex_unlock (&self->config_lock);
  return ok;
}

/* G.711 encoders (ITU-T G.711, as in the reference implementation). */
static guint8
linear_to_ulaw (gint pcm)
{
  gint sign = 0, exponent, mantissa, mask;

  if (pcm < 0) {
    pcm = -pcm;
    sign = 0x80;
  }
  pcm = MIN (pcm, 32635) + 0x84;
  for (exponent = 7, mask = 0x4000; exponent > 0 && !(pcm & mask);
       exponent--, mask >>= 1)
    ;
  mantissa = (pcm >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa);
}

static guint8
linear_to_alaw (gint pcm)
{
  gint mask, seg;
  guint8 aval;

  pcm >>= 3;
  if (pcm >= 0) {
    mask = 0xd5;
  } else {
    mask = 0x55;
    pcm = -pcm - 1;
  }
  for (seg = 0; seg < 8 && pcm > (0x20 << seg) - 1; seg++)
    ;
  if (seg >= 8)
    return 0x7f ^ mask;
  aval = seg << 4;
  aval |= (seg < 2 ? pcm >> 1 : pcm >> seg) & 0x0f;
  return aval ^ mask;
}

/* The next @n samples of the key's two tones, G.711-encoded. */
static void
dtmf_tone (GstSipSink *self, guint8 *out, gsize n)
{
  gdouble lo = 2 * G_PI * dtmf_low[self->dtmf_number] / 8000.0;
  gdouble hi = 2 * G_PI * dtmf_high[self->dtmf_number] / 8000.0;
  gsize i;

  for (i = 0; i < n; i++) {
    gdouble t = (gdouble) (self->dtmf_tone_pos + i);
    gint v = (gint) (DTMF_TONE_AMPLITUDE * (sin (lo * t) + sin (hi * t)));

    out[i] = self->dtmf_law == 1 ? linear_to_ulaw (v) : linear_to_alaw (v);
  }
  self->dtmf_tone_pos += n;
}

/* For sipsrc's RTCP sender reports: the RTP header we just sent. */
static inline void
note_sent (GstSipSink *self, const guint8 *header, gsize size)
{
  if (G_LIKELY (size >= 12))
    gst_sip_rtp_channel_note_sent (self->channel,
        GST_READ_UINT32_BE (header + 8), GST_READ_UINT32_BE (header + 4),
        size - 12);
}

static gboolean send_contiguous (
    GstSipSink *self, guint8 *packet, gsize size, gsize room);

/* A key's packet (built in @data, with @room bytes for an SRTP tag) */
static void
send_packet (GstSipSink *self, guint8 *data, gsize size, gsize room)
{
  if (send_contiguous (self, data, size, room))
    self->dtmf_packets_sent++;
}

/* Takes the next key off the queue; FALSE (and nothing pending any more)
 * when there is none. */
static gboolean
dtmf_next_key (GstSipSink *self, guint32 ts)
{
  gchar key = 0;

  g_mutex_lock (&self->config_lock);
  if (self->dtmf_queue->len > 0) {
    key = self->dtmf_queue->str[0];
    g_string_erase (self->dtmf_queue, 0, 1);
  } else {
    g_atomic_int_set (&self->dtmf_pending, FALSE);
  }
  g_mutex_unlock (&self->config_lock);
  if (key == 0)
    return FALSE;
  GST_OBJECT_LOCK (self);
  self->dtmf_duration_ms_active = self->dtmf_duration_ms;
  self->dtmf_gap_ms_active = self->dtmf_gap_ms;
  GST_OBJECT_UNLOCK (self);
  self->dtmf_number = strchr (dtmf_keys, key) - dtmf_keys;
  self->dtmf_state = DTMF_TONE;
  self->dtmf_ts = ts;
  self->dtmf_want =
      (guint64) self->dtmf_duration_ms_active * self->dtmf_clock_rate / 1000;
  self->dtmf_tone_pos = 0;
  self->dtmf_keys_sent++;
  GST_DEBUG_OBJECT (self, "key %c begins at timestamp %u", key, ts);
  return TRUE;
}

/* Sends, in place of the audio packet @buffer, the packet of the key being
 * pressed, if any. RFC 4733 2.5: the event packets take the audio's SSRC,
 * timestamp clock and the very sequence numbers of the audio packets they
 * replace, so the sequence stays continuous with no renumbering; all packets
 * of one event carry the timestamp of its first, the marker bit is set on
 * the first, the duration grows by the audio packet's length, and the end
 * packet (E bit, final duration) goes three times. In-band, the tone's
 * samples replace the audio's payload. Returns FALSE to send the audio
 * packet as it is. Only called while a key is pending. */
static gboolean
send_dtmf_packet (GstSipSink *self, GstBuffer *buffer)
{
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  guint8 pkt[MAX_PACKET + GST_SIP_SRTP_MAX_TRAILER];
  guint32 ts, ssrc, samples;
  guint16 seq;
  guint payload_len;
  guint8 pt;
  gsize len;

  if (!gst_rtp_buffer_map (buffer, GST_MAP_READ, &rtp))
    return FALSE;
  ts = gst_rtp_buffer_get_timestamp (&rtp);
  seq = gst_rtp_buffer_get_seq (&rtp);
  ssrc = gst_rtp_buffer_get_ssrc (&rtp);
  payload_len = gst_rtp_buffer_get_payload_len (&rtp);
  pt = gst_rtp_buffer_get_payload_type (&rtp);
  gst_rtp_buffer_unmap (&rtp);

  /* the audio packet's length in timestamp units */
  samples = self->dtmf_have_last_ts ? ts - self->dtmf_last_ts : 0;
  if (samples == 0 || samples > (guint32) self->dtmf_clock_rate)
    samples = self->dtmf_clock_rate / 50;
  self->dtmf_last_ts = ts;
  self->dtmf_have_last_ts = TRUE;

  if (self->dtmf_state == DTMF_GAP) {
    if ((gint32) (ts - self->dtmf_gap_until) < 0)
      return FALSE;
    self->dtmf_state = DTMF_IDLE;
  }
  if (self->dtmf_state == DTMF_IDLE && !dtmf_next_key (self, ts))
    return FALSE;

  pkt[0] = 0x80;
  GST_WRITE_UINT16_BE (pkt + 2, seq);
  GST_WRITE_UINT32_BE (pkt + 8, ssrc);
  if (self->dtmf_te_pt < 0) {
    /* in-band: the audio packet, its payload replaced by the tone */
    if (payload_len > MAX_PACKET - 12)
      return FALSE;
    pkt[1] = pt;
    GST_WRITE_UINT32_BE (pkt + 4, ts);
    dtmf_tone (self, pkt + 12, payload_len);
    len = 12 + payload_len;
    if (ts - self->dtmf_ts + samples >= self->dtmf_want) {
      self->dtmf_state = DTMF_GAP;
      self->dtmf_gap_until = ts + samples +
          (guint64) self->dtmf_gap_ms_active * self->dtmf_clock_rate / 1000;
    }
  } else {
    gboolean end = self->dtmf_state == DTMF_END;

    pkt[1] = (ts == self->dtmf_ts && !end ? 0x80 : 0) | self->dtmf_te_pt;
    GST_WRITE_UINT32_BE (pkt + 4, self->dtmf_ts);
    if (!end)
      self->dtmf_duration = MIN (ts - self->dtmf_ts + samples, 0xffff);
    pkt[12] = self->dtmf_number;
    pkt[13] = (end ? 0x80 : 0) | DTMF_VOLUME;
    GST_WRITE_UINT16_BE (pkt + 14, self->dtmf_duration);
    len = 16;
    if (!end && self->dtmf_duration >= self->dtmf_want) {
      self->dtmf_state = DTMF_END;
      self->dtmf_ends_sent = 0;
    } else if (end && ++self->dtmf_ends_sent >= DTMF_END_PACKETS) {
      self->dtmf_state = DTMF_GAP;
      self->dtmf_gap_until = ts + samples +
          (guint64) self->dtmf_gap_ms_active * self->dtmf_clock_rate / 1000;
    }
  }
  send_packet (self, pkt, len, sizeof (pkt));
  return TRUE;
}

/* Streaming thread, config_lock held: the SRTP context follows the key;
 * a new call (socket) starts a new one. */
static void
apply_srtp_locked (GstSipSink *self, gboolean new_call)
{
#ifdef HAVE_SRTP
  GError *err = NULL;

  if (!gst_sip_srtp_follow_key (&self->srtp, &self->active_srtp_key,
          self->srtp_key, new_call, TRUE, &err)) {
    GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS, (NULL),
        ("Unusable SRTP key, nothing is sent: %s", err->message));
    g_clear_error (&err);
  }
#endif
}

/* Streaming thread: picks up a new socket only when a setter ran, so the
 * per-packet path takes no lock. */
static gboolean
refresh_destination (GstSipSink *self)
{
  gint generation = g_atomic_int_get (&self->config_generation);

  if (G_UNLIKELY (generation != self->active_generation)) {
    g_mutex_lock (&self->config_lock);
    if (self->socket != self->active_socket) {
      release_active (self);
      if (self->socket) {
        self->active_socket = g_object_ref (self->socket);
        self->active_fd = g_socket_get_fd (self->socket);
        self->channel = gst_sip_rtp_channel_get (self->socket);
        self->channel_generation = -1;
      }
      /* a key cut short by the end of its call is not finished in the
       * next one */
      self->dtmf_state = DTMF_IDLE;
      self->dtmf_have_last_ts = FALSE;
      apply_srtp_locked (self, TRUE);
    } else {
      apply_srtp_locked (self, FALSE);
    }
    dtmf_config_locked (self);
    self->active_generation = generation;
    g_mutex_unlock (&self->config_lock);
  }
  if (self->channel == NULL)
    return FALSE;
  gst_sip_rtp_channel_refresh (
      self->channel, &self->channel_generation, &self->remote);
  return self->remote.len > 0;
}

static gboolean
send_msg (GstSipSink *self, struct msghdr *msg, gsize size)
{
  gssize sent;

  msg->msg_name = &self->remote.addr;
  msg->msg_namelen = self->remote.len;
  do {
    sent = sendmsg (self->active_fd, msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);

  if (G_LIKELY (sent >= 0)) {
    self->packets_sent++;
    self->bytes_sent += size;
    return TRUE;
  }
  /* A full socket buffer or an ICMP error from a far end that went away:
   * drop, the call goes on. */
  if (self->send_errors++ == 0)
    GST_WARNING_OBJECT (self, "sending RTP failed: %s", g_strerror (errno));
  return FALSE;
}

/* Sends the RTP packet in @packet (@room bytes long, so that an SRTP tag
 * fits after @size), protected when the call has an SRTP key: libsrtp
 * protects one contiguous block in place. */
static gboolean
send_contiguous (GstSipSink *self, guint8 *packet, gsize size, gsize room)
{
  struct msghdr msg;
  struct iovec iov;

#ifdef HAVE_SRTP
  if (self->active_srtp_key) {
    gint len = -1;

    if (self->srtp && size <= MAX_SRTP_PACKET &&
        size + GST_SIP_SRTP_MAX_TRAILER <= room)
      len = gst_sip_srtp_protect (self->srtp, packet, (gint) size);
    if (G_UNLIKELY (len < 0)) {
      if (self->srtp_errors++ == 0)
        GST_WARNING_OBJECT (self, "SRTP protection failed: packet dropped");
      return FALSE;
    }
    size = len;
  }
#endif
  memset (&msg, 0, sizeof (msg));
  iov.iov_base = packet;
  iov.iov_len = size;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!send_msg (self, &msg, size))
    return FALSE;
  note_sent (self, packet, size);
  return TRUE;
}

#ifdef HAVE_SRTP
/* A payloader's header and payload are two memories: the packet is copied
 * once into a block with room for the tag. */
static void
send_buffer_srtp (GstSipSink *self, GstBuffer *buffer)
{
  guint8 packet[MAX_SRTP_PACKET + GST_SIP_SRTP_MAX_TRAILER];
  gsize size = gst_buffer_get_size (buffer);

  if (G_UNLIKELY (size > MAX_SRTP_PACKET)) {
    self->srtp_errors++;
    return;
  }
  gst_buffer_extract (buffer, 0, packet, size);
  send_contiguous (self, packet, size, sizeof (packet));
}
#endif

static void
send_buffer (GstSipSink *self, GstBuffer *buffer)
{
  GstMapInfo maps[MAX_IOV];
  struct iovec iov[MAX_IOV];
  struct msghdr msg;
  guint n_mem = gst_buffer_n_memory (buffer);
  GstMapInfo whole;
  gboolean merged = n_mem > MAX_IOV;
  gsize size = 0;
  guint i, mapped = 0;

#ifdef HAVE_SRTP
  if (self->active_srtp_key) {
    send_buffer_srtp (self, buffer);
    return;
  }
#endif
  memset (&msg, 0, sizeof (msg));
  if (G_UNLIKELY (merged)) {
    if (!gst_buffer_map (buffer, &whole, GST_MAP_READ))
      return;
    iov[0].iov_base = whole.data;
    iov[0].iov_len = size = whole.size;
    mapped = 1;
  } else {
    for (i = 0; i < n_mem; i++) {
      GstMemory *mem = gst_buffer_peek_memory (buffer, i);

      if (!gst_memory_map (mem, &maps[i], GST_MAP_READ))
        break;
      iov[i].iov_base = maps[i].data;
      iov[i].iov_len = maps[i].size;
      size += maps[i].size;
      mapped++;
    }
  }
  msg.msg_iov = iov;
  msg.msg_iovlen = mapped;
  if (send_msg (self, &msg, size) && G_LIKELY (iov[0].iov_len >= 12))
    note_sent (self, iov[0].iov_base, size);

  if (merged) {
    gst_buffer_unmap (buffer, &whole);
  } else {
    for (i = 0; i < mapped; i++)
      gst_memory_unmap (gst_buffer_peek_memory (buffer, i), &maps[i]);
  }
}

static GstFlowReturn
gst_sip_sink_render (GstBaseSink *bsink, GstBuffer *buffer)
{
  GstSipSink *self = GST_SIP_SINK (bsink);

  if (!refresh_destination (self)) {
    self->dropped_no_call++;
    return GST_FLOW_OK;
  }
  if (G_UNLIKELY (!g_atomic_int_get (&self->sending))) {
    self->dropped_not_sending++;
    return GST_FLOW_OK;
  }
  if (G_UNLIKELY (g_atomic_int_get (&self->dtmf_pending)) &&
      send_dtmf_packet (self, buffer))
    return GST_FLOW_OK;
  send_buffer (self, buffer);
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_sip_sink_render_list (GstBaseSink *bsink, GstBufferList *list)
{
  GstSipSink *self = GST_SIP_SINK (bsink);
  guint i, len = gst_buffer_list_length (list);

  if (!refresh_destination (self)) {
    self->dropped_no_call += len;
    return GST_FLOW_OK;
  }
  if (G_UNLIKELY (!g_atomic_int_get (&self->sending))) {
    self->dropped_not_sending += len;
    return GST_FLOW_OK;
  }
  for (i = 0; i < len; i++) {
    GstBuffer *buffer = gst_buffer_list_get (list, i);

    if (G_UNLIKELY (g_atomic_int_get (&self->dtmf_pending)) &&
        send_dtmf_packet (self, buffer))
      continue;
    send_buffer (self, buffer);
  }
  return GST_FLOW_OK;
}
