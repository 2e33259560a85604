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
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

GST_DEBUG_CATEGORY_STATIC (gst_sip_sink_debug);
#define GST_CAT_DEFAULT gst_sip_sink_debug

#define MAX_IOV 16
/* SRTP protects a contiguous copy of the packet on the stack */
#define MAX_SRTP_PACKET 2048
#define DEFAULT_SYNC FALSE

enum
{
  PROP_0,
  PROP_SOCKET,
  PROP_CAPS,
  PROP_REMOTE_ADDRESS,
  PROP_REMOTE_PORT,
  PROP_SENDING,
  PROP_STATS,
  PROP_SRTP_KEY,
};

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
  /**
   * GstSipSink:stats:
   *
   * An `application/x-sipsink-stats` structure: `packets-sent`,
   * `bytes-sent` (on the wire, SRTP tag included), `dropped-no-call` (no
   * socket or far end yet), `send-errors` (the socket refused the packet)
   * and `srtp-errors` (not sent: SRTP protection failed, the key was
   * unusable or the packet larger than 2048 bytes), all guint64.
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
}

static void
gst_sip_sink_finalize (GObject *object)
{
  GstSipSink *self = GST_SIP_SINK (object);

  g_clear_object (&self->socket);
  gst_clear_caps (&self->caps);
  g_free (self->remote_host);
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
    case PROP_STATS:
      g_value_take_boxed (value,
          gst_structure_new ("application/x-sipsink-stats", "packets-sent",
              G_TYPE_UINT64, self->packets_sent, "bytes-sent", G_TYPE_UINT64,
              self->bytes_sent, "dropped-no-call", G_TYPE_UINT64,
              self->dropped_no_call, "dropped-not-sending", G_TYPE_UINT64,
              self->dropped_not_sending, "send-errors", G_TYPE_UINT64,
              self->send_errors, "srtp-errors", G_TYPE_UINT64,
              self->srtp_errors, NULL));
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

/* Streaming thread, config_lock held: a new SRTP context for a new key or
 * a new call (socket), which starts a new sequence of packets. */
static void
apply_srtp_locked (GstSipSink *self, gboolean new_call)
{
#ifdef HAVE_SRTP
  GError *err = NULL;

  if (!new_call && g_strcmp0 (self->srtp_key, self->active_srtp_key) == 0)
    return;
  g_clear_pointer (&self->srtp, gst_sip_srtp_free);
  gst_sip_srtp_key_free (self->active_srtp_key);
  self->active_srtp_key = g_strdup (self->srtp_key);
  if (self->active_srtp_key == NULL)
    return;
  self->srtp = gst_sip_srtp_new (self->active_srtp_key, TRUE, &err);
  if (self->srtp == NULL) {
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
      apply_srtp_locked (self, TRUE);
    } else {
      apply_srtp_locked (self, FALSE);
    }
    self->active_generation = generation;
    g_mutex_unlock (&self->config_lock);
  }
  if (self->channel == NULL)
    return FALSE;
  gst_sip_rtp_channel_refresh (
      self->channel, &self->channel_generation, &self->remote);
  return self->remote.len > 0;
}

static void
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
  } else {
    /* A full socket buffer or an ICMP error from a far end that went
     * away: drop, the call goes on. */
    if (self->send_errors++ == 0)
      GST_WARNING_OBJECT (self, "sending RTP failed: %s", g_strerror (errno));
  }
}

#ifdef HAVE_SRTP
/* SRTP: libsrtp protects one contiguous block with room for the tag, so
 * the packet is copied once (a payloader's header and payload are two
 * memories); the tag is appended in place. */
static void
send_buffer_srtp (GstSipSink *self, GstBuffer *buffer)
{
  guint8 packet[MAX_SRTP_PACKET + GST_SIP_SRTP_MAX_TRAILER];
  gsize size = gst_buffer_get_size (buffer);
  struct msghdr msg;
  struct iovec iov;
  gint len;

  if (G_UNLIKELY (self->srtp == NULL || size > MAX_SRTP_PACKET)) {
    self->srtp_errors++;
    return;
  }
  gst_buffer_extract (buffer, 0, packet, size);
  len = gst_sip_srtp_protect (self->srtp, packet, (gint) size);
  if (G_UNLIKELY (len < 0)) {
    if (self->srtp_errors++ == 0)
      GST_WARNING_OBJECT (self, "SRTP protection failed: packet dropped");
    return;
  }
  memset (&msg, 0, sizeof (msg));
  iov.iov_base = packet;
  iov.iov_len = len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  send_msg (self, &msg, len);
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
  send_msg (self, &msg, size);

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
  for (i = 0; i < len; i++)
    send_buffer (self, gst_buffer_list_get (list, i));
  return GST_FLOW_OK;
}
