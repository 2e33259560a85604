/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-sipsrc
 * @title: sipsrc
 * @see_also: sipsink, sipbin, rtpdtmfdepay
 *
 * sipsrc is the receiving RTP endpoint of one SIP call. It is a live source of
 * `application/x-rtp` with the negotiated media, clock-rate, encoding-name and
 * payload. Inside a sipbin it needs no configuration: sipbin hands it the
 * call's RTP socket, the far end's signalled media address and the
 * negotiated caps when a call is answered, and takes them back when the call
 * ends; between calls sipsrc waits without pushing anything.
 *
 * Every packet is validated (RFC 3550: version 2, header, CSRC list,
 * extension and padding within the packet) and must carry a negotiated
 * payload type. A change of SSRC re-anchors the sequence tracking and marks
 * the next buffer DISCONT; a sequence jump of more than 3000 is only believed
 * once a second packet confirms it. What is dropped is counted in
 * #GstSipSrc:stats, with the call's RFC 3550 reception statistics: packets
 * expected and lost, and the interarrival jitter.
 *
 * Media is accepted only from the address the far end signalled
 * (#GstSipSrc:source-filter `strict`, like Asterisk's strictrtp). In `latch`
 * mode, for callers behind NAT, sipsrc latches to the first new source after
 * #GstSipSrc:latch-timeout of silence from the current one, and the sipsink
 * sharing its socket follows the new address.
 *
 * With #GstSipSrc:srtp-key set (sipbin does for SRTP calls) every packet
 * is authenticated and decrypted (SRTP, libsrtp2) before the checks above;
 * what fails, plain RTP included, is dropped and counted as `dropped-srtp`.
 *
 * RFC 4733 telephone-event packets (payload type
 * #GstSipSrc:telephone-event-payload) are taken out of the audio stream. Each
 * key press posts two `dtmf-event` element messages, one when the digit starts
 * and one when it ends, and sends the same structure downstream as a
 * custom event: out of band (`GST_EVENT_CUSTOM_DOWNSTREAM_OOB`) once media
 * of the call went downstream, so that it reaches the agent at once even
 * though GstAudioDecoder (mulawdec, avdec_g722) holds serialized events
 * until its next decoded buffer and a phone may send no audio while a key is
 * held; before the call's start went downstream it is serialized, behind
 * the call's `sip-call-started`. sipbin sends the key presses of SIP INFO
 * requests into the pipeline the same way, as out-of-band `dtmf-event`
 * events given to sipsrc with gst_element_send_event().
 *
 * - `type` (int): 1 (a DTMF event), as rtpdtmfdepay posts it
 * - `number` (int): 0-9, 10 (*), 11 (#), 12-15 (A-D)
 * - `volume` (int): 0-63 (power level in -dBm0)
 * - `method` (int): 1 (RTP, RFC 4733)
 * - `start` (boolean): TRUE when the digit begins, FALSE when it ends
 * - `duration` (int): milliseconds, on the end message only
 *
 * A missing marker bit and the repeated end packets of RFC 4733 are handled.
 *
 * When sipsrc is used without sipbin, set #GstSipSrc:port (0 picks a free
 * port) and #GstSipSrc:remote-address / #GstSipSrc:remote-port.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 sipbin.( local-uri=sip:agent@127.0.0.1:5060 sipsrc ! rtppcmudepay ! rtppcmupay ! sipsink )
 * ]| Answers a SIP call on 127.0.0.1:5060 and echoes the caller's audio.
 * |[
 * gst-launch-1.0 sipsrc port=5004 source-filter=latch caps="application/x-rtp,media=audio,clock-rate=8000,encoding-name=PCMU,payload=0" ! rtppcmudepay ! mulawdec ! wavenc ! filesink location=call.wav
 * ]| Records PCMU RTP arriving on port 5004 from the first source that sends
 * it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsipsrc.h"
#include "gstsiprtcp.h"

#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <gst/rtp/gstrtpbuffer.h>

GST_DEBUG_CATEGORY_STATIC (gst_sip_src_debug);
#define GST_CAT_DEFAULT gst_sip_src_debug

#define DEFAULT_ADDRESS "0.0.0.0"
#define DEFAULT_PORT -1
#define DEFAULT_SOURCE_FILTER GST_SIP_SOURCE_FILTER_STRICT
#define DEFAULT_LATCH_TIMEOUT 1000
#define DEFAULT_TELEPHONE_EVENT_PT -1
#define DEFAULT_REMOTE_PORT 0
#define DEFAULT_RECEIVE_THREAD GST_SIP_SRC_RECEIVE_THREAD_OWN

/* Larger than any RTP packet a telephony peer sends over UDP; truncated
 * datagrams are dropped as invalid. */
#define MAX_PACKET_SIZE 2048
/* RFC 3550 6.2: 5 s minimum between reports, randomized 0.5x to 1.5x */
#define RTCP_INTERVAL_US (5 * G_USEC_PER_SEC)
#define RTP_SEQ_MOD (1 << 16)
#define MAX_DROPOUT 3000
#define MAX_MISORDER 100
#define TELEPHONE_EVENT_CLOCK_RATE 8000
/* Packets the shared receive thread reads from one call's socket per wake,
 * before it serves the next socket */
#define MAX_PACKETS_PER_WAKE 8

enum
{
  PROP_0,
  PROP_ADDRESS,
  PROP_PORT,
  PROP_SOCKET,
  PROP_CAPS,
  PROP_REMOTE_ADDRESS,
  PROP_REMOTE_PORT,
  PROP_SOURCE_FILTER,
  PROP_LATCH_TIMEOUT,
  PROP_TELEPHONE_EVENT_PAYLOAD,
  PROP_CALL_ID,
  PROP_STATS,
  PROP_RTCP_SOCKET,
  PROP_SRTP_KEY,
  PROP_RTCP_SRTP_KEY,
  PROP_RECEIVE_THREAD,
};

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS ("application/x-rtp"));

GType
gst_sip_source_filter_get_type (void)
{
  static GType type;
  static const GEnumValue values[] = {
      {GST_SIP_SOURCE_FILTER_STRICT,
          "Only the media address the far end signalled", "strict"},
      {GST_SIP_SOURCE_FILTER_LATCH,
          "Latch to the first new source after silence (NAT)", "latch"},
      {0, NULL, NULL},
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (
        &type, g_enum_register_static ("GstSipSourceFilter", values));
  return type;
}

GType
gst_sip_src_receive_thread_get_type (void)
{
  static GType type;
  static const GEnumValue values[] = {
      {GST_SIP_SRC_RECEIVE_THREAD_OWN,
          "The element's own streaming thread waits for each packet", "own"},
      {GST_SIP_SRC_RECEIVE_THREAD_SHARED,
          "A receive thread shared by the process's calls pushes the packets",
          "shared"},
      {0, NULL, NULL},
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (
        &type, g_enum_register_static ("GstSipSrcReceiveThread", values));
  return type;
}

#define gst_sip_src_parent_class parent_class
G_DEFINE_TYPE (GstSipSrc, gst_sip_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE (sipsrc, "sipsrc", GST_RANK_NONE, GST_TYPE_SIP_SRC);

static void gst_sip_src_finalize (GObject *object);
static gboolean gst_sip_src_set_clock (GstElement *element, GstClock *clock);
static void send_call_started (GstSipSrc *self);
static void stop_watching (GstSipSrc *self);
static void gst_sip_src_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec);
static void gst_sip_src_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec);
static gboolean gst_sip_src_start (GstBaseSrc *bsrc);
static gboolean gst_sip_src_stop (GstBaseSrc *bsrc);
static gboolean gst_sip_src_unlock (GstBaseSrc *bsrc);
static gboolean gst_sip_src_send_event (GstElement *element, GstEvent *event);
static gboolean gst_sip_src_unlock_stop (GstBaseSrc *bsrc);
static gboolean gst_sip_src_negotiate (GstBaseSrc *bsrc);
static GstCaps *gst_sip_src_get_caps (GstBaseSrc *bsrc, GstCaps *filter);
static gboolean gst_sip_src_query (GstBaseSrc *bsrc, GstQuery *query);
static GstFlowReturn gst_sip_src_create (GstPushSrc *psrc, GstBuffer **outbuf);

static void
gst_sip_src_class_init (GstSipSrcClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS (klass);

  gobject_class->finalize = gst_sip_src_finalize;
  gobject_class->set_property = gst_sip_src_set_property;
  gobject_class->get_property = gst_sip_src_get_property;

  g_object_class_install_property (gobject_class, PROP_ADDRESS,
      g_param_spec_string ("address", "Address",
          "Local address to bind when sipsrc opens its own socket "
          "(see port)",
          DEFAULT_ADDRESS, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_PORT,
      g_param_spec_int ("port", "Port",
          "UDP port to bind when no socket is given (0 picks a free port). "
          "-1: receive only on the socket sipbin or the application gives",
          -1, 65535, DEFAULT_PORT, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_SOCKET,
      g_param_spec_object ("socket", "Socket",
          "RTP socket of the current call (set by sipbin; share it with "
          "sipsink for symmetric RTP). Reading gives the socket in use",
          G_TYPE_SOCKET, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_CAPS,
      g_param_spec_boxed ("caps", "Caps",
          "Negotiated RTP caps of the current call (media, clock-rate, "
          "encoding-name, payload)",
          GST_TYPE_CAPS, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_REMOTE_ADDRESS,
      g_param_spec_string ("remote-address", "Remote address",
          "Media address the far end signalled (numeric IPv4 or IPv6)", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_REMOTE_PORT,
      g_param_spec_int ("remote-port", "Remote port",
          "Media port the far end signalled", 0, 65535, DEFAULT_REMOTE_PORT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_SOURCE_FILTER,
      g_param_spec_enum ("source-filter", "Source filter",
          "Which senders are accepted", GST_TYPE_SIP_SOURCE_FILTER,
          DEFAULT_SOURCE_FILTER, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  /**
   * GstSipSrc:receive-thread:
   *
   * Which thread reads the call's packets and pushes them downstream.
   * `own` (the default): sipsrc's streaming thread, woken for every
   * packet. `shared`: one receive thread per processor, shared by every
   * sipsrc of the process in this mode, serves all the calls whose packets
   * are ready when it wakes; a process with hundreds of calls then pays one
   * wake-up for a burst of packets instead of one per packet
   * (docs/benchmarks.md part C). Downstream of sipsrc then runs in the
   * shared thread, up to the first element with its own thread (the
   * rtpjitterbuffer of the server's launch): what blocks there holds up
   * every call's packets. Use it only when nothing downstream blocks: no
   * syncing sink or full queue before a thread boundary, and no pausing
   * of the pipeline (a sink waiting for preroll blocks). Taken when a
   * call's configuration is applied.
   */
  g_object_class_install_property (gobject_class, PROP_RECEIVE_THREAD,
      g_param_spec_enum ("receive-thread", "Receive thread",
          "Which thread reads and pushes the packets: own, or one shared "
          "by the process's calls",
          GST_TYPE_SIP_SRC_RECEIVE_THREAD, DEFAULT_RECEIVE_THREAD,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_LATCH_TIMEOUT,
      g_param_spec_uint ("latch-timeout", "Latch timeout",
          "In latch mode, milliseconds of silence from the current source "
          "after which a new source is latched",
          0, G_MAXUINT, DEFAULT_LATCH_TIMEOUT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_TELEPHONE_EVENT_PAYLOAD,
      g_param_spec_int ("telephone-event-payload",
          "Telephone-event payload type",
          "RTP payload type of RFC 4733 telephone-events (-1: none negotiated)",
          -1, 127, DEFAULT_TELEPHONE_EVENT_PT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  /**
   * GstSipSrc:call-id:
   *
   * The SIP Call-ID of the current call, set by sipbin with the socket. It
   * is carried by the `sip-call-started` event that sipsrc sends downstream
   * before the first packet of every call, so that elements keeping
   * per-call state (the agent) know a new conversation began. The event
   * also carries `telephone-event-payload` (int, -1 when the call has
   * none), so that sttbridge knows whether keys come as RFC 4733 events
   * or as tones in the audio.
   */
  g_object_class_install_property (gobject_class, PROP_CALL_ID,
      g_param_spec_string ("call-id", "Call-ID",
          "SIP Call-ID of the current call (set by sipbin)", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  /**
   * GstSipSrc:stats:
   *
   * Statistics of the current call, as an `application/x-sipsrc-stats`
   * structure. They start from zero when a call's socket is handed over
   * (and at start) and keep the last call's values until the next one.
   *
   * Counters (all guint64): `packets-received`, `bytes-received`,
   * `packets-pushed`, `dropped-invalid` (not RTP, or bad header bounds),
   * `dropped-payload-type` (not negotiated), `dropped-source` (not from the
   * accepted address), `dropped-srtp` (failed SRTP authentication or
   * replay check, or plain RTP, with #GstSipSrc:srtp-key set),
   * `dropped-sequence` (unconfirmed sequence jump),
   * `ssrc-changes`, `relatches` and `dtmf-events`.
   *
   * RFC 3550 reception statistics, over the packets of the negotiated
   * payload types that passed the source and sequence checks (audio and
   * telephone-events, which share the sequence space):
   *
   * - `packets-expected` (guint64): extended highest sequence number
   *   received minus the first, plus one (A.3), summed over the sources
   *   of the call: a new SSRC, a relatch or a confirmed sequence restart
   *   starts a new count (A.1 init_seq) and the previous one is kept.
   * - `packets-lost` (gint64): `packets-expected` minus the packets
   *   received; duplicates count as received, so it can be negative.
   * - `jitter` (guint): interarrival jitter of the current source (A.8),
   *   in RTP timestamp units, from the arrival times on the pipeline clock
   *   (when sipsrc reads each packet) and the RTP timestamps of the audio
   *   packets; telephone-events are left out (their timestamp is the
   *   event's start). It starts again with each new source.
   * - `jitter-ms` (gdouble): the same in milliseconds.
   */
  /**
   * GstSipSrc:rtcp-socket:
   *
   * The call's RTCP socket (RTP port + 1, RFC 3550 11), set by sipbin with
   * #GstSipSrc:socket. With one, sipsrc sends RTCP reports to the far end
   * (RTP address, port + 1) every 2.5 to 7.5 s: a sender report when
   * sipsink on the same socket has sent, else a receiver report, each with
   * a report block on the far end's stream and a CNAME. It reads the far
   * end's reports (only from the far end's address) into `stats`: how
   * much of our audio it lost, its jitter, and the round trip. NULL: no
   * RTCP.
   */
  g_object_class_install_property (gobject_class, PROP_RTCP_SOCKET,
      g_param_spec_object ("rtcp-socket", "RTCP socket",
          "The call's RTCP socket (RTP port + 1; NULL: no RTCP)", G_TYPE_SOCKET,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "Packet counters of the call, what was dropped and why, and RFC "
          "3550 reception statistics (packets expected and lost, jitter)",
          GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
#ifdef HAVE_SRTP
  /**
   * GstSipSrc:srtp-key:
   *
   * SRTP (RFC 3711) with the far end's SDES key (RFC 4568): the crypto
   * suite and key parameters of its `a=crypto` line, without the tag, e.g.
   * `AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz`.
   * Suites: AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32,
   * AES_256_CM_HMAC_SHA1_80 and AES_256_CM_HMAC_SHA1_32; a lifetime is
   * ignored, keys with an MKI are refused. Every packet is authenticated
   * and decrypted in place before any other check; what fails (tampered,
   * replayed, or plain RTP) is dropped and counted as `dropped-srtp`. A key
   * that cannot be used drops every packet. NULL (the default): plain RTP.
   * sipbin sets it with the socket for each call. Write-only, so that
   * keys do not end up in logs (gst-launch-1.0 -v).
   */
  g_object_class_install_property (gobject_class, PROP_SRTP_KEY,
      g_param_spec_string ("srtp-key", "SRTP key",
          "SRTP crypto suite and SDES key of the far end (\"SUITE "
          "inline:BASE64\"), NULL: plain RTP",
          NULL, G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS));
  /**
   * GstSipSrc:rtcp-srtp-key:
   *
   * Our own SRTP key (the one sipsink sends with, same form as
   * #GstSipSrc:srtp-key): the RTCP reports sipsrc sends are protected with
   * it (SRTCP, RFC 3711), and the far end's are unprotected with
   * #GstSipSrc:srtp-key. With #GstSipSrc:srtp-key set and no usable key
   * here, no reports are sent: never RTCP in the clear on an SRTP call.
   * sipbin sets it. Write-only.
   */
  g_object_class_install_property (gobject_class, PROP_RTCP_SRTP_KEY,
      g_param_spec_string ("rtcp-srtp-key", "RTCP SRTP key",
          "Our SRTP crypto suite and SDES key, for the RTCP reports we send "
          "(SRTCP)",
          NULL, G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS));
#endif

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "SIP call RTP source",
      "Source/Network/RTP",
      "Receives one SIP call's RTP: validation, strict source or NAT latch, "
      "RFC 4733 DTMF events",
      "gst-sip-agent developers");
  gst_element_class_add_static_metadata (element_class, "example",
      "gst-launch-1.0 sipsrc port=5004 source-filter=latch "
      "caps=\"application/x-rtp,media=audio,clock-rate=8000,"
      "encoding-name=PCMU,payload=0\" ! rtppcmudepay ! mulawdec ! wavenc ! "
      "filesink location=call.wav");
  gst_element_class_add_static_metadata (element_class, "messages",
      "dtmf-event: type (1), number, volume, method (1), start, duration "
      "(ms, on the end message); also sent downstream as a custom event");

  element_class->set_clock = GST_DEBUG_FUNCPTR (gst_sip_src_set_clock);
  element_class->send_event = GST_DEBUG_FUNCPTR (gst_sip_src_send_event);
  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_sip_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_sip_src_stop);
  basesrc_class->unlock = GST_DEBUG_FUNCPTR (gst_sip_src_unlock);
  basesrc_class->unlock_stop = GST_DEBUG_FUNCPTR (gst_sip_src_unlock_stop);
  basesrc_class->negotiate = GST_DEBUG_FUNCPTR (gst_sip_src_negotiate);
  basesrc_class->get_caps = GST_DEBUG_FUNCPTR (gst_sip_src_get_caps);
  basesrc_class->query = GST_DEBUG_FUNCPTR (gst_sip_src_query);
  pushsrc_class->create = GST_DEBUG_FUNCPTR (gst_sip_src_create);

  gst_type_mark_as_plugin_api (GST_TYPE_SIP_SOURCE_FILTER, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_SIP_SRC_RECEIVE_THREAD, 0);
  GST_DEBUG_CATEGORY_INIT (
      gst_sip_src_debug, "sipsrc", 0, "SIP call RTP source");
}

static void
gst_sip_src_init (GstSipSrc *self)
{
  self->address = g_strdup (DEFAULT_ADDRESS);
  self->port = DEFAULT_PORT;
  self->source_filter = DEFAULT_SOURCE_FILTER;
  self->receive_thread = DEFAULT_RECEIVE_THREAD;
  self->latch_timeout_ms = DEFAULT_LATCH_TIMEOUT;
  self->telephone_event_pt = DEFAULT_TELEPHONE_EVENT_PT;
  self->remote_port = DEFAULT_REMOTE_PORT;
  g_mutex_init (&self->config_lock);
  g_cond_init (&self->config_cond);
  self->cancellable = g_cancellable_new ();
  self->active_generation = -1;

  gst_base_src_set_live (GST_BASE_SRC (self), TRUE);
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
  gst_base_src_set_do_timestamp (GST_BASE_SRC (self), TRUE);
}

static void
gst_sip_src_finalize (GObject *object)
{
  GstSipSrc *self = GST_SIP_SRC (object);

  g_free (self->address);
  g_free (self->remote_host);
  g_free (self->call_id);
  g_free (self->active_call_id);
  gst_sip_srtp_key_free (self->srtp_key);
  gst_sip_srtp_key_free (self->active_srtp_key);
  gst_sip_srtp_key_free (self->rtcp_srtp_key);
#ifdef HAVE_SRTP
  gst_sip_srtp_free (self->srtp);
#endif
  g_clear_object (&self->socket);
  g_clear_object (&self->rtcp_socket);
  g_free (self->cname);
  g_clear_object (&self->own_socket);
  gst_clear_caps (&self->caps);
  g_clear_object (&self->cancellable);
  gst_clear_object (&self->clock);
  gst_clear_object (&self->active_clock);
  g_queue_clear_full (&self->oob_events, (GDestroyNotify) gst_event_unref);
  g_mutex_clear (&self->config_lock);
  g_cond_clear (&self->config_cond);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

/* Wakes the streaming thread so that it picks up a new configuration.
 * Call with config_lock held. */
static void
config_changed_locked (GstSipSrc *self)
{
  self->config_generation++;
  g_cond_broadcast (&self->config_cond);
  g_cancellable_cancel (self->cancellable);
}

static GSocket *
current_socket_locked (GstSipSrc *self)
{
  return self->socket ? self->socket : self->own_socket;
}

/* The far end belongs to the socket's channel, so that a sipsink on the
 * same socket sends where sipsrc expects media from. */
static void
push_remote_to_channel_locked (GstSipSrc *self)
{
  GSocket *socket = current_socket_locked (self);
  GstSipRtpChannel *channel;
  gchar *host;
  gint port;

  if (socket == NULL)
    return;
  GST_OBJECT_LOCK (self);
  host = g_strdup (self->remote_host);
  port = self->remote_port;
  GST_OBJECT_UNLOCK (self);
  if (host == NULL && port == 0)
    return;
  channel = gst_sip_rtp_channel_get (socket);
  gst_sip_rtp_channel_set_remote (channel, host, port);
  gst_sip_rtp_channel_unref (channel);
  g_free (host);
}

static void
gst_sip_src_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstSipSrc *self = GST_SIP_SRC (object);

  switch (prop_id) {
    case PROP_ADDRESS:
      GST_OBJECT_LOCK (self);
      g_free (self->address);
      self->address = g_value_dup_string (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_PORT:
      GST_OBJECT_LOCK (self);
      self->port = g_value_get_int (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_SOCKET:
      g_mutex_lock (&self->config_lock);
      g_clear_object (&self->socket);
      self->socket = g_value_dup_object (value);
      push_remote_to_channel_locked (self);
      config_changed_locked (self);
      g_mutex_unlock (&self->config_lock);
      break;
    case PROP_RTCP_SOCKET:
      g_mutex_lock (&self->config_lock);
      g_clear_object (&self->rtcp_socket);
      self->rtcp_socket = g_value_dup_object (value);
      config_changed_locked (self);
      g_mutex_unlock (&self->config_lock);
      break;
    case PROP_CALL_ID:
      g_mutex_lock (&self->config_lock);
      g_free (self->call_id);
      self->call_id = g_value_dup_string (value);
      g_mutex_unlock (&self->config_lock);
      break;
    case PROP_SRTP_KEY:
      g_mutex_lock (&self->config_lock);
      gst_sip_srtp_key_free (self->srtp_key);
      self->srtp_key = g_value_dup_string (value);
      config_changed_locked (self);
      g_mutex_unlock (&self->config_lock);
      break;
    case PROP_RTCP_SRTP_KEY:
      g_mutex_lock (&self->config_lock);
      gst_sip_srtp_key_free (self->rtcp_srtp_key);
      self->rtcp_srtp_key = g_value_dup_string (value);
      config_changed_locked (self);
      g_mutex_unlock (&self->config_lock);
      break;
    case PROP_CAPS: {
      const GstCaps *caps = gst_value_get_caps (value);

      g_mutex_lock (&self->config_lock);
      gst_caps_replace (&self->caps, (GstCaps *) caps);
      self->caps_changed = TRUE;
      config_changed_locked (self);
      g_mutex_unlock (&self->config_lock);
      break;
    }
    case PROP_REMOTE_ADDRESS:
    case PROP_REMOTE_PORT:
      g_mutex_lock (&self->config_lock);
      GST_OBJECT_LOCK (self);
      if (prop_id == PROP_REMOTE_ADDRESS) {
        g_free (self->remote_host);
        self->remote_host = g_value_dup_string (value);
      } else {
        self->remote_port = g_value_get_int (value);
      }
      GST_OBJECT_UNLOCK (self);
      push_remote_to_channel_locked (self);
      config_changed_locked (self);
      g_mutex_unlock (&self->config_lock);
      break;
    case PROP_SOURCE_FILTER:
      g_mutex_lock (&self->config_lock);
      GST_OBJECT_LOCK (self);
      self->source_filter = g_value_get_enum (value);
      GST_OBJECT_UNLOCK (self);
      config_changed_locked (self);
      g_mutex_unlock (&self->config_lock);
      break;
    case PROP_LATCH_TIMEOUT:
      g_mutex_lock (&self->config_lock);
      GST_OBJECT_LOCK (self);
      self->latch_timeout_ms = g_value_get_uint (value);
      GST_OBJECT_UNLOCK (self);
      config_changed_locked (self);
      g_mutex_unlock (&self->config_lock);
      break;
    case PROP_TELEPHONE_EVENT_PAYLOAD:
      g_mutex_lock (&self->config_lock);
      GST_OBJECT_LOCK (self);
      self->telephone_event_pt = g_value_get_int (value);
      GST_OBJECT_UNLOCK (self);
      config_changed_locked (self);
      g_mutex_unlock (&self->config_lock);
      break;
    case PROP_RECEIVE_THREAD:
      g_mutex_lock (&self->config_lock);
      GST_OBJECT_LOCK (self);
      self->receive_thread = g_value_get_enum (value);
      GST_OBJECT_UNLOCK (self);
      config_changed_locked (self);
      g_mutex_unlock (&self->config_lock);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static GstStructure *
gst_sip_src_create_stats (GstSipSrc *self)
{
  const GstSipSrcStats *s = &self->stats;
  guint64 jitter_q4 = s->jitter_q4;
  gint clock_rate = s->clock_rate;
  gdouble jitter_ms = 0.0;

  if (clock_rate > 0)
    jitter_ms = jitter_q4 / 16.0 * 1000.0 / clock_rate;

  return gst_structure_new ("application/x-sipsrc-stats", "packets-received",
      G_TYPE_UINT64, s->packets_received, "bytes-received", G_TYPE_UINT64,
      s->bytes_received, "packets-pushed", G_TYPE_UINT64, s->packets_pushed,
      "dropped-invalid", G_TYPE_UINT64, s->dropped_invalid,
      "dropped-payload-type", G_TYPE_UINT64, s->dropped_payload_type,
      "dropped-source", G_TYPE_UINT64, s->dropped_source, "dropped-srtp",
      G_TYPE_UINT64, s->dropped_srtp, "dropped-sequence", G_TYPE_UINT64,
      s->dropped_sequence, "ssrc-changes", G_TYPE_UINT64, s->ssrc_changes,
      "relatches", G_TYPE_UINT64, s->relatches, "dtmf-events", G_TYPE_UINT64,
      s->dtmf_events, "packets-expected", G_TYPE_UINT64, s->packets_expected,
      "packets-lost", G_TYPE_INT64, s->packets_lost, "jitter", G_TYPE_UINT,
      (guint) MIN (jitter_q4 >> 4, G_MAXUINT), "jitter-ms", G_TYPE_DOUBLE,
      jitter_ms, "rtcp-sent", G_TYPE_UINT64, s->rtcp_sent, "rtcp-received",
      G_TYPE_UINT64, s->rtcp_received, "rtcp-dropped", G_TYPE_UINT64,
      s->rtcp_dropped, "remote-fraction-lost", G_TYPE_DOUBLE,
      s->remote_fraction_lost < 0 ? -1.0 : s->remote_fraction_lost / 256.0,
      "remote-packets-lost", G_TYPE_INT64, s->remote_packets_lost,
      "remote-jitter-ms", G_TYPE_DOUBLE,
      clock_rate > 0 ? s->remote_jitter * 1000.0 / clock_rate : 0.0,
      "round-trip-ms", G_TYPE_DOUBLE, s->round_trip_ms, NULL);
}

static void
gst_sip_src_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstSipSrc *self = GST_SIP_SRC (object);

  switch (prop_id) {
    case PROP_ADDRESS:
      GST_OBJECT_LOCK (self);
      g_value_set_string (value, self->address);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_PORT:
      GST_OBJECT_LOCK (self);
      g_value_set_int (value, self->port);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_SOCKET:
      g_mutex_lock (&self->config_lock);
      g_value_set_object (value, current_socket_locked (self));
      g_mutex_unlock (&self->config_lock);
      break;
    case PROP_RTCP_SOCKET:
      g_mutex_lock (&self->config_lock);
      g_value_set_object (value, self->rtcp_socket);
      g_mutex_unlock (&self->config_lock);
      break;
    case PROP_CAPS:
      g_mutex_lock (&self->config_lock);
      gst_value_set_caps (value, self->caps);
      g_mutex_unlock (&self->config_lock);
      break;
    case PROP_REMOTE_ADDRESS:
      GST_OBJECT_LOCK (self);
      g_value_set_string (value, self->remote_host);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_REMOTE_PORT:
      GST_OBJECT_LOCK (self);
      g_value_set_int (value, self->remote_port);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_SOURCE_FILTER:
      GST_OBJECT_LOCK (self);
      g_value_set_enum (value, self->source_filter);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_LATCH_TIMEOUT:
      GST_OBJECT_LOCK (self);
      g_value_set_uint (value, self->latch_timeout_ms);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_TELEPHONE_EVENT_PAYLOAD:
      GST_OBJECT_LOCK (self);
      g_value_set_int (value, self->telephone_event_pt);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_RECEIVE_THREAD:
      GST_OBJECT_LOCK (self);
      g_value_set_enum (value, self->receive_thread);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_CALL_ID:
      g_mutex_lock (&self->config_lock);
      g_value_set_string (value, self->call_id);
      g_mutex_unlock (&self->config_lock);
      break;
    case PROP_STATS:
      g_value_take_boxed (value, gst_sip_src_create_stats (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static gboolean
gst_sip_src_start (GstBaseSrc *bsrc)
{
  GstSipSrc *self = GST_SIP_SRC (bsrc);
  gchar *address;
  gint port;

  memset (&self->stats, 0, sizeof (self->stats));

  GST_OBJECT_LOCK (self);
  address = g_strdup (self->address);
  port = self->port;
  GST_OBJECT_UNLOCK (self);

  if (port >= 0) {
    GError *err = NULL;
    GInetAddress *inet = g_inet_address_new_from_string (address);
    GSocketAddress *bind_addr;
    GSocket *socket;

    if (inet == NULL) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, (NULL),
          ("address '%s' is not a numeric IP address", address));
      g_free (address);
      return FALSE;
    }
    socket = g_socket_new (g_inet_address_get_family (inet),
        G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, &err);
    bind_addr = g_inet_socket_address_new (inet, port);
    if (socket == NULL || !g_socket_bind (socket, bind_addr, TRUE, &err)) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, (NULL),
          ("Could not bind %s:%d: %s", address, port, err->message));
      g_clear_error (&err);
      g_clear_object (&socket);
      g_object_unref (bind_addr);
      g_object_unref (inet);
      g_free (address);
      return FALSE;
    }
    g_socket_set_blocking (socket, FALSE);
    g_object_unref (bind_addr);
    g_object_unref (inet);

    g_mutex_lock (&self->config_lock);
    g_clear_object (&self->own_socket);
    self->own_socket = socket;
    push_remote_to_channel_locked (self);
    config_changed_locked (self);
    g_mutex_unlock (&self->config_lock);
  }
  g_free (address);
  self->active_generation = -1;
  self->segment_pushed = FALSE;
  self->shared_flow = GST_FLOW_OK;
  /* Hold the cancellable's fd while started: making one for every wait
   * creates and closes an eventfd, two system calls per packet (measured,
   * docs/benchmarks.md). udpsrc does the same. */
  g_cancellable_make_pollfd (self->cancellable, &self->cancel_pollfd);
  return TRUE;
}

/* Streaming thread: the SRTP context follows the key; a new call (new
 * socket) starts a new one even with the same key (new replay state). */
static void
apply_srtp_locked (GstSipSrc *self, gboolean new_call)
{
#ifdef HAVE_SRTP
  GError *err = NULL;

  if (!gst_sip_srtp_follow_key (&self->srtp, &self->active_srtp_key,
          self->srtp_key, new_call, FALSE, &err)) {
    /* fail closed: nothing is accepted until a usable key comes */
    GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS, (NULL),
        ("Unusable SRTP key, every packet is dropped: %s", err->message));
    g_clear_error (&err);
  }
  /* no reports then: never RTCP in the clear on an SRTP call */
  if (!gst_sip_srtp_follow_key (&self->rtcp_srtp, &self->active_rtcp_srtp_key,
          self->rtcp_srtp_key, new_call, TRUE, &err))
    g_clear_error (&err);
#endif
}

static void
release_active (GstSipSrc *self)
{
#ifdef HAVE_SRTP
  g_clear_pointer (&self->srtp, gst_sip_srtp_free);
  g_clear_pointer (&self->rtcp_srtp, gst_sip_srtp_free);
#endif
  gst_sip_srtp_key_free (self->active_srtp_key);
  self->active_srtp_key = NULL;
  gst_sip_srtp_key_free (self->active_rtcp_srtp_key);
  self->active_rtcp_srtp_key = NULL;
  g_clear_object (&self->active_socket);
  g_clear_object (&self->active_rtcp);
  if (self->channel) {
    gst_sip_rtp_channel_unref (self->channel);
    self->channel = NULL;
  }
}

static gboolean
gst_sip_src_stop (GstBaseSrc *bsrc)
{
  GstSipSrc *self = GST_SIP_SRC (bsrc);

  stop_watching (self);
  release_active (self);
  g_cancellable_release_fd (self->cancellable);
  g_mutex_lock (&self->config_lock);
  g_clear_object (&self->own_socket);
  self->caps_changed = self->caps != NULL;
  /* what sipbin sent for a call this run carried is stale next run */
  g_queue_clear_full (&self->oob_events, (GDestroyNotify) gst_event_unref);
  g_mutex_unlock (&self->config_lock);
  return TRUE;
}

/* Custom out-of-band events (sipbin's sip-call-started, sip-call-hold,
 * sip-transfer-result) are queued and pushed by the streaming thread: the
 * thread that sends them (sipbin's signalling thread) never runs the
 * pipeline's event handlers, and they stay in order with sipsrc's own
 * events and caps. */
static gboolean
gst_sip_src_send_event (GstElement *element, GstEvent *event)
{
  GstSipSrc *self = GST_SIP_SRC (element);

  if (GST_EVENT_TYPE (event) != GST_EVENT_CUSTOM_DOWNSTREAM_OOB)
    return GST_ELEMENT_CLASS (parent_class)->send_event (element, event);
  g_mutex_lock (&self->config_lock);
  g_queue_push_tail (&self->oob_events, event);
  g_cond_broadcast (&self->config_cond);
  g_cancellable_cancel (self->cancellable);
  g_mutex_unlock (&self->config_lock);
  return TRUE;
}

/* Streaming thread: pushes @events (taken). sipbin's sip-call-started for
 * the current call makes sipsrc's own (sent before the first packet,
 * for use without sipbin) unnecessary. */
static void
push_oob_events (GstSipSrc *self, GQueue *events)
{
  GstEvent *event;

  while ((event = g_queue_pop_head (events))) {
    const GstStructure *s = gst_event_get_structure (event);

    if (s && gst_structure_has_name (s, "sip-call-started") &&
        g_strcmp0 (gst_structure_get_string (s, "call-id"),
            self->active_call_id) == 0) {
      self->call_started_pending = FALSE;
      /* its end must follow, even if no packet ever comes */
      self->call_has_media = TRUE;
    }
    GST_DEBUG_OBJECT (self, "pushing %" GST_PTR_FORMAT, s);
    gst_pad_push_event (GST_BASE_SRC_PAD (self), event);
  }
}

static gboolean
gst_sip_src_unlock (GstBaseSrc *bsrc)
{
  GstSipSrc *self = GST_SIP_SRC (bsrc);

  g_mutex_lock (&self->config_lock);
  self->flushing = TRUE;
  g_cond_broadcast (&self->config_cond);
  g_cancellable_cancel (self->cancellable);
  g_mutex_unlock (&self->config_lock);
  return TRUE;
}

static gboolean
gst_sip_src_unlock_stop (GstBaseSrc *bsrc)
{
  GstSipSrc *self = GST_SIP_SRC (bsrc);

  g_mutex_lock (&self->config_lock);
  self->flushing = FALSE;
  g_cancellable_reset (self->cancellable);
  g_mutex_unlock (&self->config_lock);
  return TRUE;
}

/* Caps are only known once a call is negotiated: they are pushed from
 * create() then, instead of being fixated from the template at start. */
static gboolean
gst_sip_src_negotiate (GstBaseSrc *bsrc)
{
  return TRUE;
}

/* Packets wait in the socket's receive buffer, not in sipsrc: report no
 * added latency and no upper bound, so that a syncing sink downstream can
 * take its processing deadline. */
static gboolean
gst_sip_src_query (GstBaseSrc *bsrc, GstQuery *query)
{
  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    gst_query_set_latency (query, TRUE, 0, GST_CLOCK_TIME_NONE);
    return TRUE;
  }
  return GST_BASE_SRC_CLASS (parent_class)->query (bsrc, query);
}

static GstCaps *
gst_sip_src_get_caps (GstBaseSrc *bsrc, GstCaps *filter)
{
  GstSipSrc *self = GST_SIP_SRC (bsrc);
  GstCaps *caps;

  g_mutex_lock (&self->config_lock);
  caps = self->caps ? gst_caps_ref (self->caps)
                    : gst_pad_get_pad_template_caps (GST_BASE_SRC_PAD (bsrc));
  g_mutex_unlock (&self->config_lock);

  if (filter) {
    GstCaps *tmp =
        gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (caps);
    caps = tmp;
  }
  return caps;
}

static gint
payload_from_caps (const GstCaps *caps)
{
  gint pt = -1;

  if (caps && gst_caps_get_size (caps) > 0)
    gst_structure_get_int (gst_caps_get_structure (caps, 0), "payload", &pt);
  return pt;
}

static gint
clock_rate_from_caps (const GstCaps *caps)
{
  gint rate = 0;

  if (caps && gst_caps_get_size (caps) > 0)
    gst_structure_get_int (
        gst_caps_get_structure (caps, 0), "clock-rate", &rate);
  return rate;
}

/* The element's clock, for the arrival time of every packet (jitter). The
 * streaming thread takes its own reference under config_lock, which it
 * holds once per packet anyway: reading GST_ELEMENT_CLOCK would take the
 * object lock for each packet. It is woken to take a new clock before the
 * next packet. */
static gboolean
gst_sip_src_set_clock (GstElement *element, GstClock *clock)
{
  GstSipSrc *self = GST_SIP_SRC (element);

  g_mutex_lock (&self->config_lock);
  if (self->clock != clock) {
    gst_object_replace ((GstObject **) &self->clock, GST_OBJECT_CAST (clock));
    config_changed_locked (self);
  }
  g_mutex_unlock (&self->config_lock);
  return GST_ELEMENT_CLASS (parent_class)->set_clock (element, clock);
}

/* Called in the streaming thread with config_lock held: takes over what
 * sipbin configured for the call. Returns caps to push, if they changed. */
static GstCaps *
apply_config_locked (GstSipSrc *self)
{
  GSocket *socket = current_socket_locked (self);
  GstCaps *new_caps = NULL;

  if (socket != self->active_socket) {
    release_active (self);
    self->active_socket = g_object_ref (socket);
    self->channel = gst_sip_rtp_channel_get (socket);
    self->channel_generation = -1;
    self->have_ssrc = FALSE;
    self->dtmf_active = FALSE;
    memset (&self->latched, 0, sizeof (self->latched));
    self->latched_last_seen = 0;
    self->discont = TRUE;
    /* a new call: its statistics start from zero */
    memset (&self->stats, 0, sizeof (self->stats));
    self->received = 0;
    self->expected_before = 0;
    self->received_before = 0;
    self->have_transit = FALSE;
    self->jitter_q4 = 0;
    self->clock_rate = 0;
    g_free (self->active_call_id);
    self->active_call_id = g_strdup (self->call_id);
    self->stats.remote_fraction_lost = -1;
    self->stats.round_trip_ms = -1;
    self->expected_prior = self->received_prior = 0;
    self->lsr = 0;
    self->call_started_pending = TRUE;
    self->call_has_media = FALSE;
    apply_srtp_locked (self, TRUE);
  } else {
    apply_srtp_locked (self, FALSE);
  }
  if (self->rtcp_socket != self->active_rtcp) {
    g_clear_object (&self->active_rtcp);
    if (self->rtcp_socket) {
      self->active_rtcp = g_object_ref (self->rtcp_socket);
      /* RFC 3550 6.2: the first report after half the minimum interval */
      self->next_report_us = g_get_monotonic_time () + RTCP_INTERVAL_US / 2;
      self->own_ssrc = g_random_int ();
      if (self->cname == NULL)
        self->cname = g_strdup_printf ("gst-sip-agent-%08x", g_random_int ());
    }
  }
  gst_sip_rtp_channel_refresh (
      self->channel, &self->channel_generation, &self->signalled);
  self->audio_pt = payload_from_caps (self->caps);
  if (clock_rate_from_caps (self->caps) != self->clock_rate) {
    /* transit times in another unit: the jitter starts again */
    self->clock_rate = clock_rate_from_caps (self->caps);
    self->have_transit = FALSE;
    self->jitter_q4 = 0;
    self->stats.jitter_q4 = 0;
  }
  self->stats.clock_rate = self->clock_rate;
  GST_OBJECT_LOCK (self);
  self->dtmf_pt = self->telephone_event_pt;
  self->active_filter = self->source_filter;
  self->active_receive_thread = self->receive_thread;
  self->active_latch_timeout_us = (gint64) self->latch_timeout_ms * 1000;
  GST_OBJECT_UNLOCK (self);
  if (self->active_filter == GST_SIP_SOURCE_FILTER_LATCH &&
      self->latched.len == 0)
    self->latched = self->signalled;

  if (self->caps_changed && self->caps) {
    new_caps = gst_caps_ref (self->caps);
    self->caps_changed = FALSE;
  }
  self->active_generation = self->config_generation;
  return new_caps;
}

/* With the shared receive thread GstBaseSrc's loop never returns a buffer,
 * so it never sends its segment either: the thread that pushes does, before
 * the first event or buffer of the run that needs one (GstBaseSrc pushed
 * stream-start before its first create(), and the caps went with the
 * call's configuration). */
static void
push_segment_once (GstSipSrc *self)
{
  GstEvent *segment;

  if (self->segment_pushed)
    return;
  GST_OBJECT_LOCK (self);
  segment = gst_event_new_segment (&GST_BASE_SRC (self)->segment);
  GST_OBJECT_UNLOCK (self);
  gst_pad_push_event (GST_BASE_SRC_PAD (self), segment);
  self->segment_pushed = TRUE;
}

/* Serialized events given to GstBaseSrc are queued and pushed by its
 * streaming thread after caps and segment, in order with the data. From
 * the streaming thread itself, hand them to the base class directly:
 * gst_element_send_event() takes the state lock, which set_state(NULL)
 * holds while it waits for this thread to stop. */
static void
queue_serialized_event (GstSipSrc *self, GstEvent *event)
{
  if (self->active_receive_thread == GST_SIP_SRC_RECEIVE_THREAD_SHARED) {
    /* GstBaseSrc sends its queue with its next buffer, and with the
     * shared thread its loop pushes none: in order from this thread */
    push_segment_once (self);
    gst_pad_push_event (GST_BASE_SRC_PAD (self), event);
    return;
  }
  GST_ELEMENT_CLASS (parent_class)->send_event (GST_ELEMENT (self), event);
}

/* A key press goes downstream out of band once the call's start went
 * downstream (sipbin's sip-call-started, or a buffer of the call): a
 * serialized event waits inside GstAudioDecoder (mulawdec, avdec_g722) for
 * its next decoded buffer, and a phone that sends RFC 4733 events instead
 * of audio while a key is held would reach the agent only when audio
 * resumes. Pushed from the streaming thread it still comes after the audio
 * pushed before it. Before that (sipsrc without sipbin, a key before the
 * call's first audio) it is serialized, queued in GstBaseSrc behind the
 * call's own sip-call-started, so that it never overtakes the start of its
 * call. */
static void
send_dtmf_event (GstSipSrc *self, GstStructure *s)
{
  if (self->call_has_media) {
    gst_pad_push_event (GST_BASE_SRC_PAD (self),
        gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_OOB, s));
    return;
  }
  if (self->call_started_pending) {
    send_call_started (self);
    self->call_started_pending = FALSE;
  }
  queue_serialized_event (
      self, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, s));
}

static void
post_dtmf (GstSipSrc *self, guint8 event, guint8 volume, gboolean start,
    guint duration_ms)
{
  GstStructure *s;

  s = gst_structure_new ("dtmf-event", "type", G_TYPE_INT, 1, "number",
      G_TYPE_INT, (gint) event, "volume", G_TYPE_INT, (gint) volume, "method",
      G_TYPE_INT, 1, "start", G_TYPE_BOOLEAN, start, NULL);
  if (!start)
    gst_structure_set (s, "duration", G_TYPE_INT, (gint) duration_ms, NULL);

  GST_DEBUG_OBJECT (self, "DTMF %u %s", event, start ? "start" : "end");
  send_dtmf_event (self, gst_structure_copy (s));
  gst_element_post_message (
      GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

/* `name` with the current call's Call-ID, when sipbin gave one. */
static GstEvent *
call_event (GstSipSrc *self, GstEventType type, const gchar *name)
{
  GstStructure *s = gst_structure_new_empty (name);

  if (self->active_call_id)
    gst_structure_set (s, "call-id", G_TYPE_STRING, self->active_call_id, NULL);
  GST_DEBUG_OBJECT (self, "%" GST_PTR_FORMAT, s);
  return gst_event_new_custom (type, s);
}

/* With the call's telephone-event payload type (-1: none), so that
 * sttbridge knows whether keys come as RFC 4733 events or as tones. */
static void
send_call_started (GstSipSrc *self)
{
  GstEvent *event =
      call_event (self, GST_EVENT_CUSTOM_DOWNSTREAM, "sip-call-started");

  gst_structure_set (gst_event_writable_structure (event),
      "telephone-event-payload", G_TYPE_INT, self->dtmf_pt, NULL);
  queue_serialized_event (self, event);
}

/* The call's socket was taken away (the call ended). Pushed from the
 * streaming thread at once: queued in GstBaseSrc it would wait for the
 * next call's first packet. Out of band, because a serialized event waits
 * inside GstAudioDecoder (mulawdec, avdec_g722) for the next decoded
 * buffer, and after the call there is none; with no queue between sipsrc
 * and the speech elements it still arrives after the call's last audio.
 * Only after media of the call went downstream, so that it follows that
 * call's sip-call-started and segment. */
static void
send_call_ended (GstSipSrc *self)
{
  gst_pad_push_event (GST_BASE_SRC_PAD (self),
      call_event (self, GST_EVENT_CUSTOM_DOWNSTREAM_OOB, "sip-call-ended"));
}

/* RFC 4733: all packets of one event share the RTP timestamp; the marker
 * bit may be lost and the end packet is repeated (usually three times). */
static void
handle_telephone_event (GstSipSrc *self, GstRTPBuffer *rtp)
{
  const guint8 *payload;
  guint32 timestamp = gst_rtp_buffer_get_timestamp (rtp);
  guint8 event, volume;
  gboolean end;
  guint duration;

  if (gst_rtp_buffer_get_payload_len (rtp) < 4) {
    self->stats.dropped_invalid++;
    return;
  }
  payload = gst_rtp_buffer_get_payload (rtp);
  event = payload[0];
  end = (payload[1] & 0x80) != 0;
  volume = payload[1] & 0x3f;
  duration = GST_READ_UINT16_BE (payload + 2);

  if (event > 15) {
    /* Other named events (RFC 4734 tones) are not key presses. */
    GST_LOG_OBJECT (self, "ignoring telephone-event %u", event);
    return;
  }

  if (!self->dtmf_active || timestamp != self->dtmf_timestamp) {
    /* A new event while the previous one never ended: its end packets were
     * lost, end it now so that no key stays pressed. */
    if (self->dtmf_active && !self->dtmf_ended)
      post_dtmf (self, self->dtmf_event, self->dtmf_volume, FALSE, 0);
    self->dtmf_active = TRUE;
    self->dtmf_timestamp = timestamp;
    self->dtmf_event = event;
    self->dtmf_volume = volume;
    self->dtmf_ended = FALSE;
    self->stats.dtmf_events++;
    post_dtmf (self, event, volume, TRUE, 0);
  }
  if (end && !self->dtmf_ended) {
    self->dtmf_ended = TRUE;
    post_dtmf (self, event, volume, FALSE,
        duration * 1000 / TELEPHONE_EVENT_CLOCK_RATE);
  }
}

/* Packets expected from the current source: extended highest sequence
 * number minus the first one, plus one (RFC 3550 A.3). */
static guint64
expected_from_source (GstSipSrc *self)
{
  if (self->received == 0)
    return 0;
  return (guint64) self->cycles + self->max_seq - self->base_seq + 1;
}

/* RFC 3550 A.1 init_seq(): a new source, or the same one restarting its
 * sequence numbers. The counts of the previous one stay in the call's
 * totals; its jitter does not carry over. */
static void
init_seq (GstSipSrc *self, guint16 seq)
{
  self->expected_before += expected_from_source (self);
  self->received_before += self->received;
  self->received = 0;
  self->base_seq = seq;
  self->max_seq = seq;
  self->bad_seq = RTP_SEQ_MOD + 1;
  self->cycles = 0;
  self->have_transit = FALSE;
  self->jitter_q4 = 0;
  self->stats.jitter_q4 = 0;
  self->discont = TRUE;
  self->seq_skip = 0;
}

/* A packet of the current source passed the sequence check. A.3:
 * duplicates are counted as received too, so the loss can be negative. */
static void
count_received (GstSipSrc *self)
{
  self->received++;
  self->stats.packets_expected =
      self->expected_before + expected_from_source (self);
  self->stats.packets_lost = (gint64) self->stats.packets_expected -
      (gint64) (self->received_before + self->received);
}

/* RFC 3550 A.1 sequence tracking. Returns FALSE for a packet to drop. */
static gboolean
track_sequence (GstSipSrc *self, guint32 ssrc, guint16 seq)
{
  guint16 udelta;

  if (!self->have_ssrc || ssrc != self->ssrc) {
    if (self->have_ssrc) {
      GST_INFO_OBJECT (
          self, "SSRC changed %08x -> %08x, re-anchoring", self->ssrc, ssrc);
      self->stats.ssrc_changes++;
    }
    self->have_ssrc = TRUE;
    self->ssrc = ssrc;
    init_seq (self, seq);
    count_received (self);
    return TRUE;
  }

  udelta = seq - self->max_seq;
  if (udelta < MAX_DROPOUT) {
    if (seq < self->max_seq)
      self->cycles += RTP_SEQ_MOD;
    self->max_seq = seq;
  } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
    if (seq == self->bad_seq) {
      GST_INFO_OBJECT (self, "sequence restarted at %u", seq);
      init_seq (self, seq);
    } else {
      self->bad_seq = (seq + 1) & (RTP_SEQ_MOD - 1);
      return FALSE;
    }
  }
  /* else: duplicate or reordered within MAX_MISORDER; the jitter buffer
   * downstream sorts it out. */
  count_received (self);
  return TRUE;
}

/* RFC 3550 A.8 interarrival jitter, kept scaled by 16 as in the RFC's
 * integer version. The arrival time is the pipeline clock's (the clock the
 * buffers are timestamped with) converted to the stream's clock rate; its
 * origin does not matter, only differences of transit times are used, all
 * modulo 2^32 like the RTP timestamps. */
static void
update_jitter (GstSipSrc *self, guint32 rtp_time)
{
  guint32 arrival, transit;
  gint64 d;

  if (self->active_clock == NULL || self->clock_rate <= 0)
    return;
  arrival = (guint32) gst_util_uint64_scale_int (
      gst_clock_get_time (self->active_clock), self->clock_rate, GST_SECOND);
  transit = arrival - rtp_time;
  if (self->have_transit) {
    d = ABS ((gint64) (gint32) (transit - self->transit));
    self->jitter_q4 += d - ((self->jitter_q4 + 8) >> 4);
    self->stats.jitter_q4 = self->jitter_q4;
  }
  self->transit = transit;
  self->have_transit = TRUE;
}

static gboolean
source_accepted (GstSipSrc *self, const GstSipRtpAddress *from)
{
  gint64 now;

  if (self->active_filter == GST_SIP_SOURCE_FILTER_STRICT) {
    gst_sip_rtp_channel_refresh (
        self->channel, &self->channel_generation, &self->signalled);
    return gst_sip_rtp_address_equal (from, &self->signalled);
  }

  now = g_get_monotonic_time ();
  if (gst_sip_rtp_address_equal (from, &self->latched)) {
    self->latched_last_seen = now;
    return TRUE;
  }
  if (self->latched_last_seen == 0 ||
      now - self->latched_last_seen > (gint64) self->latch_timeout_ms * 1000) {
    gchar *s = gst_sip_rtp_address_to_string (from);

    GST_INFO_OBJECT (self, "latching to new media source %s", s);
    g_free (s);
    self->latched = *from;
    self->latched_last_seen = now;
    self->stats.relatches++;
    /* sipsink on this socket sends to the latched address from now on;
     * skip our own generation bump so strict checks are not confused. */
    gst_sip_rtp_channel_set_remote_native (self->channel, from);
    gst_sip_rtp_channel_refresh (
        self->channel, &self->channel_generation, &self->signalled);
    self->have_ssrc = FALSE;
    return TRUE;
  }
  return FALSE;
}

typedef enum
{
  PACKET_PUSH,
  PACKET_CONSUMED,
  PACKET_DROP,
} PacketVerdict;

/* Telephone-event packets share the audio's sequence numbers and are taken
 * out here: numbered on, the audio would show a gap for each, which a
 * jitter buffer downstream waits for and then reports lost (and packet
 * loss concealment fills with made-up audio). The audio that follows keys
 * is renumbered to close those gaps; a key's lost packet still shows as one
 * lost packet. @buf is ours and writable. */
static void
close_sequence_gap (GstSipSrc *self, GstBuffer *buf)
{
  GstMapInfo map;

  if (!gst_buffer_map (buf, &map, GST_MAP_WRITE))
    return;
  GST_WRITE_UINT16_BE (
      map.data + 2, GST_READ_UINT16_BE (map.data + 2) - self->seq_skip);
  gst_buffer_unmap (buf, &map);
}

static PacketVerdict
process_packet (GstSipSrc *self, GstBuffer *buf, const GstSipRtpAddress *from)
{
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  gint pt;
  PacketVerdict verdict = PACKET_PUSH;

  if (!source_accepted (self, from)) {
    self->stats.dropped_source++;
    return PACKET_DROP;
  }
  /* gst_rtp_buffer_map() checks the version, CSRC count, extension and
   * padding against the packet length (RFC 3550 A.1). */
  if (!gst_rtp_buffer_map (buf, GST_MAP_READ, &rtp)) {
    self->stats.dropped_invalid++;
    return PACKET_DROP;
  }
  pt = gst_rtp_buffer_get_payload_type (&rtp);
  if (pt != self->audio_pt && pt != self->dtmf_pt && self->audio_pt >= 0) {
    self->stats.dropped_payload_type++;
    verdict = PACKET_DROP;
  } else if (!track_sequence (self, gst_rtp_buffer_get_ssrc (&rtp),
                 gst_rtp_buffer_get_seq (&rtp))) {
    self->stats.dropped_sequence++;
    verdict = PACKET_DROP;
  } else if (pt == self->dtmf_pt) {
    handle_telephone_event (self, &rtp);
    self->seq_skip++;
    verdict = PACKET_CONSUMED;
  } else {
    update_jitter (self, gst_rtp_buffer_get_timestamp (&rtp));
  }
  gst_rtp_buffer_unmap (&rtp);
  if (verdict == PACKET_PUSH && self->seq_skip)
    close_sequence_gap (self, buf);
  return verdict;
}

/* Receives one datagram from @fd into @data. Returns its size, -1 when
 * there was nothing to read (or an error), -2 when it did not fit. */
static gssize
receive_from (gint fd, guint8 *data, gsize size, GstSipRtpAddress *from)
{
  struct iovec iov;
  struct msghdr msg;
  gssize n;

  iov.iov_base = data;
  iov.iov_len = size;
  memset (&msg, 0, sizeof (msg));
  msg.msg_name = &from->addr;
  msg.msg_namelen = sizeof (from->addr);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  do {
    n = recvmsg (fd, &msg, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  from->len = msg.msg_namelen;
  if (n >= 0 && (msg.msg_flags & MSG_TRUNC))
    return -2;
  return n;
}

/* ---- RTCP (RFC 3550 6) ---- */

/* Where the far end's RTP comes from: the latched source, or the signalled
 * one */
static const GstSipRtpAddress *
far_end (GstSipSrc *self)
{
  if (self->active_filter == GST_SIP_SOURCE_FILTER_LATCH &&
      self->latched.len > 0)
    return &self->latched;
  return &self->signalled;
}

static gboolean
same_host (const GstSipRtpAddress *a, const GstSipRtpAddress *b)
{
  if (a->len == 0 || a->addr.ss_family != b->addr.ss_family)
    return FALSE;
  if (a->addr.ss_family == AF_INET)
    return memcmp (&((const struct sockaddr_in *) &a->addr)->sin_addr,
               &((const struct sockaddr_in *) &b->addr)->sin_addr,
               sizeof (struct in_addr)) == 0;
  if (a->addr.ss_family == AF_INET6)
    return memcmp (&((const struct sockaddr_in6 *) &a->addr)->sin6_addr,
               &((const struct sockaddr_in6 *) &b->addr)->sin6_addr,
               sizeof (struct in6_addr)) == 0;
  return FALSE;
}

/* The far end's RTCP address: its RTP port + 1 (RFC 3550 11) */
static gboolean
rtcp_destination (GstSipSrc *self, GstSipRtpAddress *to)
{
  *to = *far_end (self);
  if (to->len == 0)
    return FALSE;
  if (to->addr.ss_family == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *) &to->addr;

    in->sin_port = htons (ntohs (in->sin_port) + 1);
  } else if (to->addr.ss_family == AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &to->addr;

    in6->sin6_port = htons (ntohs (in6->sin6_port) + 1);
  } else {
    return FALSE;
  }
  return TRUE;
}

/* RFC 3550 A.3: the report block on the far end's stream */
static void
fill_report_block (GstSipSrc *self, GstSipRtcpBlock *b, gint64 now)
{
  guint64 expected = self->stats.packets_expected;
  guint64 received = self->received_before + self->received;
  gint64 expected_interval = (gint64) (expected - self->expected_prior);
  gint64 lost_interval =
      expected_interval - (gint64) (received - self->received_prior);

  self->expected_prior = expected;
  self->received_prior = received;
  b->ssrc = self->ssrc;
  b->fraction_lost = expected_interval <= 0 || lost_interval <= 0
      ? 0
      : (guint8) MIN ((lost_interval << 8) / expected_interval, 255);
  b->packets_lost =
      (gint32) CLAMP (self->stats.packets_lost, -0x800000, 0x7fffff);
  b->ext_highest_seq = self->cycles + self->max_seq;
  b->jitter = (guint32) (self->jitter_q4 >> 4);
  b->lsr = self->lsr;
  b->dlsr = self->lsr
      ? (guint32) (((now - self->lsr_arrival_us) << 16) / G_USEC_PER_SEC)
      : 0;
}

/* The SSRC our reports speak for: the one sipsink sends with, once it has */
static guint32
report_ssrc (GstSipSrc *self, GstSipRtcpSender *sender)
{
  sender->packets = gst_sip_rtp_channel_get_sent (
      self->channel, &sender->ssrc, &sender->rtptime, &sender->octets);
  return sender->packets ? sender->ssrc : self->own_ssrc;
}

static void
send_report (GstSipSrc *self, gint64 now)
{
  guint8 pkt[512 + GST_SIP_SRTP_MAX_TRAILER];
  GstSipRtcpSender sender;
  GstSipRtcpBlock block;
  GstSipRtpAddress to;
  guint32 ssrc = report_ssrc (self, &sender);
  gsize len;
  gssize sent;

  if (!rtcp_destination (self, &to))
    return;
  if (self->have_ssrc)
    fill_report_block (self, &block, now);
  len = gst_sip_rtcp_write_report (pkt, 512, ssrc,
      sender.packets ? &sender : NULL,
      gst_sip_rtcp_ntp_time (g_get_real_time ()),
      self->have_ssrc ? &block : NULL, self->cname);
  if (len == 0)
    return;
  if (self->active_srtp_key) {
    /* SRTCP; without our key there is no report at all */
    gint protected_len = -1;

#ifdef HAVE_SRTP
    if (self->rtcp_srtp)
      protected_len = gst_sip_srtp_protect_rtcp (self->rtcp_srtp, pkt, len);
#endif
    if (protected_len < 0)
      return;
    len = protected_len;
  }
  do {
    sent = sendto (g_socket_get_fd (self->active_rtcp), pkt, len,
        MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *) &to.addr,
        to.len);
  } while (sent < 0 && errno == EINTR);
  if (sent >= 0)
    self->stats.rtcp_sent++;
}

/* Streaming thread: the next report once its time came (RFC 3550 6.2:
 * randomized 0.5x to 1.5x the interval) */
static void
send_report_if_due (GstSipSrc *self, gint64 now)
{
  if (now < self->next_report_us)
    return;
  send_report (self, now);
  self->next_report_us =
      now + g_random_int_range (RTCP_INTERVAL_US / 2, RTCP_INTERVAL_US * 3 / 2);
}

static void
receive_rtcp (GstSipSrc *self, gint64 now)
{
  guint8 pkt[MAX_PACKET_SIZE];
  GstSipRtpAddress from;
  GstSipRtcpSender sender;
  GstSipRtcpInfo info;
  gssize n;

  n = receive_from (
      g_socket_get_fd (self->active_rtcp), pkt, sizeof (pkt), &from);
  if (n == -1)
    return;
  if (n > 0 && self->active_srtp_key) {
    /* SRTCP from an SRTP call; anything else is dropped */
    gint plain_len = -1;

#ifdef HAVE_SRTP
    if (self->srtp)
      plain_len = gst_sip_srtp_unprotect_rtcp (self->srtp, pkt, (gint) n);
#endif
    n = plain_len < 0 ? -3 : plain_len;
  }
  /* only the far end's host (its port may differ behind NAT) */
  if (n < 0 || !same_host (&from, far_end (self)) ||
      !gst_sip_rtcp_parse (pkt, n, report_ssrc (self, &sender), &info)) {
    self->stats.rtcp_dropped++;
    return;
  }
  self->stats.rtcp_received++;
  if (info.has_sr) {
    self->lsr = info.sr_ntp_middle;
    self->lsr_arrival_us = now;
  }
  if (info.has_block) {
    const GstSipRtcpBlock *b = &info.block;

    self->stats.remote_fraction_lost = b->fraction_lost;
    self->stats.remote_packets_lost = b->packets_lost;
    self->stats.remote_jitter = b->jitter;
    gst_sip_rtcp_round_trip (
        (guint32) (gst_sip_rtcp_ntp_time (g_get_real_time ()) >> 16), b,
        &self->stats.round_trip_ms);
  }
}

/* Streaming thread: waits until an RTP packet can be read (TRUE) or the
 * cancellable fired (FALSE), sending and reading RTCP meanwhile. */
static gboolean
wait_for_rtp (GstSipSrc *self)
{
  GPollFD fds[3];
  gint n = 2, rtcp = -1;

  fds[0].fd = g_socket_get_fd (self->active_socket);
  fds[0].events = G_IO_IN;
  fds[1] = self->cancel_pollfd;
  if (self->active_rtcp) {
    fds[2].fd = g_socket_get_fd (self->active_rtcp);
    fds[2].events = G_IO_IN;
    rtcp = n++;
  }
  for (;;) {
    gint timeout = -1, r, i;
    gint64 now = 0;

    if (rtcp >= 0) {
      now = g_get_monotonic_time ();
      send_report_if_due (self, now);
      timeout = (gint) ((self->next_report_us - now + 999) / 1000);
    }
    for (i = 0; i < n; i++)
      fds[i].revents = 0;
    r = g_poll (fds, n, timeout);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 || fds[1].revents)
      return FALSE;
    if (fds[0].revents & (G_IO_NVAL | G_IO_ERR)) {
      /* an application that closed the call's socket under us: wait for
       * a new configuration instead of spinning */
      g_poll (&fds[1], 1, 100);
      return FALSE;
    }
    if (rtcp >= 0 && fds[rtcp].revents)
      receive_rtcp (self, now ? now : g_get_monotonic_time ());
    if (fds[0].revents)
      return TRUE;
  }
}

typedef enum
{
  RECEIVE_NOTHING, /* nothing to read, or a read error */
  RECEIVE_DROPPED,
  RECEIVE_BUFFER,
} ReceiveResult;

/* Reads one packet of the call's socket and checks it; a buffer to push
 * comes back in @outbuf. Runs in the thread that pushes the call's
 * packets. */
static ReceiveResult
receive_packet (GstSipSrc *self, GstBuffer **outbuf)
{
  GstBuffer *buf;
  guint8 packet[MAX_PACKET_SIZE];
  GstSipRtpAddress from;
  gssize n;

  /* Into a stack buffer first: the GstBuffer is then exactly the
   * packet's size, one allocation (measured cheaper per packet than a
   * GstBufferPool, which also costs each call a socketpair). */
  n = receive_from (
      g_socket_get_fd (self->active_socket), packet, sizeof (packet), &from);
  if (n < 0) {
    if (n != -2)
      return RECEIVE_NOTHING; /* EAGAIN or ICMP error */
    self->stats.dropped_invalid++; /* truncated */
    return RECEIVE_DROPPED;
  }
  self->stats.packets_received++;
  self->stats.bytes_received += n;
#ifdef HAVE_SRTP
  /* SRTP first: nothing unauthenticated reaches the checks below (a
   * latch follows authenticated packets only) */
  if (self->active_srtp_key) {
    n = self->srtp ? gst_sip_srtp_unprotect (self->srtp, packet, n) : -1;
    if (n < 0) {
      self->stats.dropped_srtp++;
      return RECEIVE_DROPPED;
    }
  }
#endif
  buf = gst_buffer_new_allocate (NULL, n, NULL);
  gst_buffer_fill (buf, 0, packet, n);

  if (process_packet (self, buf, &from) != PACKET_PUSH) {
    gst_buffer_unref (buf);
    return RECEIVE_DROPPED;
  }
  if (self->discont) {
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    self->discont = FALSE;
  }
  self->stats.packets_pushed++;
  self->call_has_media = TRUE;
  if (self->call_started_pending) {
    /* GstBaseSrc (or the shared thread) pushes it right before this
     * buffer */
    send_call_started (self);
    self->call_started_pending = FALSE;
  }
  *outbuf = buf;
  return RECEIVE_BUFFER;
}

/* ---- the shared receive thread ---- */

/* Shared thread: what GstBaseSrc's loop does for a buffer of a live
 * source with do-timestamp, then the push */
static GstFlowReturn
push_from_shared_thread (GstSipSrc *self, GstBuffer *buf)
{
  push_segment_once (self);
  if (self->active_clock) {
    GstClockTime now = gst_clock_get_time (self->active_clock);

    if (now >= self->base_time)
      GST_BUFFER_PTS (buf) = GST_BUFFER_DTS (buf) = now - self->base_time;
  }
  return gst_pad_push (GST_BASE_SRC_PAD (self), buf);
}

/* Shared thread: the call's RTP (index 0) or RTCP (1) socket is readable.
 * A push that fails hands its flow to the streaming thread, which returns
 * it to GstBaseSrc (an error is posted there, as for a source's own
 * push). */
static gboolean
on_readable (guint index, gpointer user_data)
{
  GstSipSrc *self = user_data;
  guint i;

  if (index == 1) {
    receive_rtcp (self, g_get_monotonic_time ());
    return TRUE;
  }
  for (i = 0; i < MAX_PACKETS_PER_WAKE; i++) {
    GstBuffer *buf = NULL;
    GstFlowReturn ret;

    switch (receive_packet (self, &buf)) {
      case RECEIVE_NOTHING:
        return TRUE;
      case RECEIVE_DROPPED:
        continue;
      case RECEIVE_BUFFER:
        break;
    }
    ret = push_from_shared_thread (self, buf);
    if (ret != GST_FLOW_OK) {
      GST_DEBUG_OBJECT (self, "push: %s", gst_flow_get_name (ret));
      g_mutex_lock (&self->config_lock);
      self->shared_flow = ret;
      g_cond_broadcast (&self->config_cond);
      g_mutex_unlock (&self->config_lock);
      return FALSE;
    }
  }
  return TRUE;
}

/* Streaming thread: from now on the shared thread reads and pushes */
static gboolean
start_watching (GstSipSrc *self)
{
  GError *err = NULL;
  gint fds[2];
  guint n_fds = 0;

  GST_OBJECT_LOCK (self);
  self->base_time = GST_ELEMENT_CAST (self)->base_time;
  GST_OBJECT_UNLOCK (self);
  fds[n_fds++] = g_socket_get_fd (self->active_socket);
  if (self->active_rtcp)
    fds[n_fds++] = g_socket_get_fd (self->active_rtcp);
  self->watch = gst_sip_rtp_watch_new (fds, n_fds, on_readable, self, &err);
  if (self->watch == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, (NULL),
        ("Could not use the shared receive thread: %s", err->message));
    g_clear_error (&err);
    return FALSE;
  }
  return TRUE;
}

/* Streaming thread: when it returns, the shared thread no longer runs the
 * packet path, and the streaming thread may change the call's state and
 * push. */
static void
stop_watching (GstSipSrc *self)
{
  g_clear_pointer (&self->watch, gst_sip_rtp_watch_free);
}

/* Streaming thread, shared receive thread in charge of the packets: waits
 * for anything the packet path does not handle (a new configuration, an
 * event to push, flushing, a failed push), sending RTCP reports when due.
 * Returns the flow of a failed push. */
static GstFlowReturn
serve_from_shared_thread (GstSipSrc *self)
{
  GstFlowReturn ret;

  if (self->active_rtcp)
    send_report_if_due (self, g_get_monotonic_time ());
  if (!start_watching (self))
    return GST_FLOW_ERROR;
  g_mutex_lock (&self->config_lock);
  while (!self->flushing && self->shared_flow == GST_FLOW_OK &&
      self->active_generation == self->config_generation &&
      g_queue_is_empty (&self->oob_events)) {
    if (self->active_rtcp == NULL)
      g_cond_wait (&self->config_cond, &self->config_lock);
    else if (!g_cond_wait_until (
                 &self->config_cond, &self->config_lock, self->next_report_us))
      break;
  }
  ret = self->shared_flow;
  self->shared_flow = GST_FLOW_OK;
  g_mutex_unlock (&self->config_lock);
  return ret;
}

static GstFlowReturn
gst_sip_src_create (GstPushSrc *psrc, GstBuffer **outbuf)
{
  GstSipSrc *self = GST_SIP_SRC (psrc);

  for (;;) {
    GstCaps *new_caps = NULL;
    GQueue events = G_QUEUE_INIT;
    gboolean have_socket;

    /* everything below is the streaming thread's alone again */
    stop_watching (self);
    g_mutex_lock (&self->config_lock);
    while (!self->flushing && current_socket_locked (self) == NULL &&
        g_queue_is_empty (&self->oob_events)) {
      if (self->active_socket) {
        release_active (self);
        if (self->call_has_media) {
          self->call_has_media = FALSE;
          g_mutex_unlock (&self->config_lock);
          send_call_ended (self);
          g_mutex_lock (&self->config_lock);
          continue;
        }
      }
      g_cond_wait (&self->config_cond, &self->config_lock);
    }
    if (self->flushing) {
      g_mutex_unlock (&self->config_lock);
      return GST_FLOW_FLUSHING;
    }
    have_socket = current_socket_locked (self) != NULL;
    if (have_socket && self->active_generation != self->config_generation) {
      g_cancellable_reset (self->cancellable);
      new_caps = apply_config_locked (self);
    }
    if (!g_queue_is_empty (&self->oob_events)) {
      /* cancelled under this lock: nothing queued later is missed */
      g_cancellable_reset (self->cancellable);
      events = self->oob_events;
      g_queue_init (&self->oob_events);
    }
    if (G_UNLIKELY (self->active_clock != self->clock)) {
      /* arrival times on another clock: no transit difference across */
      gst_object_replace (
          (GstObject **) &self->active_clock, GST_OBJECT_CAST (self->clock));
      self->have_transit = FALSE;
    }
    g_mutex_unlock (&self->config_lock);

    if (new_caps) {
      GST_INFO_OBJECT (self, "call caps %" GST_PTR_FORMAT, new_caps);
      if (!gst_base_src_set_caps (GST_BASE_SRC (self), new_caps)) {
        gst_caps_unref (new_caps);
        GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
            ("Downstream did not accept the call's caps"));
        return GST_FLOW_NOT_NEGOTIATED;
      }
      gst_caps_unref (new_caps);
    }
    push_oob_events (self, &events);
    if (!have_socket)
      continue;

    if (self->active_receive_thread == GST_SIP_SRC_RECEIVE_THREAD_SHARED) {
      GstFlowReturn ret = serve_from_shared_thread (self);

      if (ret != GST_FLOW_OK) {
        stop_watching (self);
        return ret;
      }
      continue;
    }

    /* FALSE: flushing, a new configuration or event, or a socket closed
     * under us: the loop sorts out which */
    if (!wait_for_rtp (self))
      continue;
    if (receive_packet (self, outbuf) == RECEIVE_BUFFER)
      return GST_FLOW_OK;
  }
}
