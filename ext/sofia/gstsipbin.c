/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-sipbin
 * @title: sipbin
 * @see_also: sipsrc, sipsink
 *
 * sipbin answers SIP calls (and places them, #GstSipBin::dial) and
 * connects each call's media to the pipeline inside it. Put a sipsrc (the caller's RTP), a sipsink (RTP back to the
 * caller) and whatever processes the audio between them into the bin.
 * sipbin runs the signalling on sofia-sip, on a thread of its own: it
 * listens on #GstSipBin:local-uri over UDP and TCP, answers an INVITE with
 * 100 Trying, 180 Ringing and, after #GstSipBin:ring-time, 200 OK.
 *
 * The SDP answer is built from what the inner pipeline accepts: sipbin asks
 * the element after sipsrc and the one before sipsink for their caps, so
 * with rtppcmudepay/rtppcmupay the call is PCMU, with rtppcmadepay PCMA, with
 * rtpg722depay G.722. Among the offered codecs the pipeline takes, the first
 * in #GstSipBin:codecs order (the caller's order by default) is chosen;
 * telephone-event is answered whenever it is offered, and sipsrc turns it
 * into `dtmf-event` messages. No common codec: 488 Not Acceptable Here.
 * SDP that does not parse: 400. Other m= lines (video) are rejected.
 *
 * One call at a time: a second INVITE while a call is up gets 486 Busy Here.
 * CANCEL before the answer ends the call with 487. OPTIONS gets 200 with
 * Allow, Accept and Supported. A re-INVITE or UPDATE (RFC 3311) in the call
 * is answered with the same codec, mirrors the direction (a hold,
 * `sendonly` or `inactive`, is answered `recvonly`/`inactive` and nothing
 * is sent until the far end resumes) and moves the media to the new
 * address if it changed; an UPDATE without SDP refreshes the session. An
 * INVITE or re-INVITE without SDP (delayed offer) gets our offer in the
 * 200 and its answer in the ACK. Session timers (RFC 4028,
 * #GstSipBin:session-expires) are kept by the caller or by us. While our
 * own re-INVITE is out, an offer from the far end gets 491. NOTIFY is taken
 * only within the subscription of a transfer sipbin started (481
 * otherwise); other methods than INVITE, ACK, BYE, CANCEL, OPTIONS, NOTIFY,
 * UPDATE and INFO get 405 or 501 (an incoming REFER: 405).
 *
 * When the call is answered sipbin sends `sip-call-started` into the
 * pipeline (the agent greets then), and `sip-call-hold` (`held`) when the
 * far end holds or resumes: out-of-band custom events with `call-id`,
 * pushed by sipsrc.
 *
 * ## DTMF
 * Keys reach the bus and the pipeline as `dtmf-event` (rtpdtmfdepay's
 * fields `type`, `number`, `volume`, `method`, plus `start`), start and
 * end, whichever way the caller sends them: RFC 4733 events (sipsrc posts
 * them, `method` 1), SIP INFO in the call (sipbin posts them, `method` 3),
 * or tones in the audio when the far end offered no telephone-event
 * (sttbridge, `method` 2). An INFO with `application/dtmf-relay`
 * (`Signal=5`, `Duration=160`) or `application/dtmf` (`5`) is answered 200
 * and its key goes into the pipeline through sipsrc; a body that is no key
 * gets 400, another content type 415, an Info-Package header 469 (RFC
 * 6086). The #GstSipBin::send-dtmf action signal, or an `agent-action`
 * message with `action=send-dtmf` and `digits` (the agent's `send-dtmf`
 * script action), presses keys in the call through sipsink: RFC 4733
 * events when the far end offered telephone-event, else tones in G.711
 * audio.
 *
 * The call ends with a BYE from the caller, with the #GstSipBin::hangup
 * action signal, when an element inside posts an `agent-action` message
 * with `action=hangup` (the agent element does, after its goodbye has
 * played), or when EOS reaches the sipsink (then the pipeline ends too).
 * After a call ends, sipbin waits for the next one.
 *
 * ## Transfer
 * An `agent-action` message with `action=transfer`, or the
 * #GstSipBin::transfer action signal, makes sipbin transfer the call (blind,
 * RFC 3515): an in-dialog REFER whose Refer-To is the `target` as given
 * when it is a `sip:`, `sips:` or `tel:` URI (tel: stays tel:), else
 * #GstSipBin:transfer-target (no usable target: the transfer fails at
 * once), and whose Referred-By is the URI the caller called. The far end
 * reports the new call in NOTIFYs carrying message/sipfrag status lines,
 * each answered 200. A 2xx sipfrag is success: sipbin then hangs up with
 * BYE. A refused REFER, an error sipfrag, a subscription ended without a
 * final sipfrag or no final sipfrag within #GstSipBin:transfer-timeout is
 * failure: the call stays up. One transfer at a time. The outcome also goes
 * into the pipeline as an out-of-band custom event `sip-transfer-result`
 * sent through sipsrc (`success` boolean, `status` int, `target` string,
 * `call-id`), so that the agent can take the conversation back.
 *
 * ## Messages
 * Call state goes to the bus as `sip-call` element messages with fields
 * `state` (string), `call-id`, `from`, `to` (strings) and:
 *
 * - `incoming`: an INVITE arrived
 * - `calling`: our INVITE went out (#GstSipBin::dial)
 * - `ringing`: 180 sent, or 180/183 received for a call we placed
 *   (`early-media` boolean: a 183 with SDP, whose media we receive)
 * - `answered`: 200 sent (or received); `codec` (string, e.g. "PCMU"),
 *   `payload` (int),
 *   `clock-rate` (int), `telephone-event-payload` (int, -1 when none),
 *   `local-media` and `remote-media` ("address:port"), `srtp` (string:
 *   the SRTP crypto suite, "" for plain RTP)
 * - `ended`: the call is over; `status` (int: the final SIP status for
 *   calls never answered, 200 for calls that were) and `reason` (string:
 *   "remote-hangup", "local-hangup", "cancelled", "rejected", "busy",
 *   "error", "shutdown", "media-timeout", "session-expired" or
 *   "no-answer-sdp"; for calls we placed also "declined",
 *   "no-answer", "not-found" or "failed")
 *
 * Transfers post `sip-transfer` element messages with `target` (string:
 * the Refer-To URI, or the name asked for when there was none), `call-id`,
 * `status` (int) and `reason` (string), and `state`:
 *
 * - `requested`: the REFER went out (status 0)
 * - `accepted`: the far end accepted it (202)
 * - `progress`: a NOTIFY's provisional sipfrag (100, 180, 183)
 * - `succeeded`: a NOTIFY's 2xx sipfrag; the call is hung up next
 * - `failed`: the REFER's error response (403, 405, 481, 408 ...), a
 *   NOTIFY's error sipfrag (486, 480, 603 ...), 408 after
 *   #GstSipBin:transfer-timeout, or status 0 when no REFER was sent (no
 *   call, no usable target, a transfer already in progress) or the
 *   subscription ended without a final sipfrag (then the last sipfrag
 *   status); the call goes on
 *
 * ## TLS and SRTP
 * With #GstSipBin:tls-port and #GstSipBin:tls-dir sipbin also listens for
 * SIP over TLS. #GstSipBin:srtp decides about SRTP with SDES keys (RFC
 * 4568): `optional` (the default) answers an RTP/SAVP offer with SRTP and a
 * plain one with plain RTP, `required` refuses plain RTP/AVP offers with
 * 488 and offers RTP/SAVP itself, `off` refuses RTP/SAVP offers with 488.
 * The keys go to sipsrc and sipsink (#GstSipSrc:srtp-key); the `answered`
 * message names the suite in `srtp`.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m sipbin.( local-uri=sip:agent@127.0.0.1:5060 sipsrc ! rtppcmudepay ! rtppcmupay ! sipsink )
 * ]| Answers calls on 127.0.0.1:5060 (UDP and TCP) and echoes the caller's
 * PCMU audio; -m prints the `sip-call` messages.
 * |[
 * gst-launch-1.0 -m sipbin.( local-uri=sip:agent@127.0.0.1:5060 tls-port=5061 tls-dir=/etc/gst-sip-agent/tls srtp=required sipsrc ! rtppcmudepay ! rtppcmupay ! sipsink )
 * ]| The same, also over TLS on port 5061 (`agent.pem` and `cafile.pem` in
 * the directory), and only with SRTP.
 * |[
 * gst-launch-1.0 sipbin.( local-uri=sip:agent@[::1]:5070 sipsrc ! rtpg722depay ! rtpg722pay ! sipsink )
 * ]| The same over IPv6, in G.722.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsipbin.h"
#include "gstsofiaelements.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_sip_bin_debug);
#define GST_CAT_DEFAULT gst_sip_bin_debug

#define DEFAULT_LOCAL_URI "sip:agent@127.0.0.1:5060"
#define DEFAULT_CODECS NULL
#define DEFAULT_MEDIA_ADDRESS NULL
#define DEFAULT_USER_AGENT "gst-sip-agent/" VERSION
#define DEFAULT_RTP_PORT_MIN 10000
#define DEFAULT_RTP_PORT_MAX 20000
#define DEFAULT_RING_TIME 0
#define DEFAULT_TRANSFER_TARGET NULL
#define DEFAULT_TRANSFER_TIMEOUT GST_SIP_CALL_TRANSFER_TIMEOUT_DEFAULT
#define DEFAULT_SRTP GST_SIP_SRTP_OPTIONAL
#define DEFAULT_TLS_PORT 0
#define DEFAULT_TLS_DIR NULL
#define DEFAULT_TLS_VERIFY TRUE
#define ANSWER_PTIME 20
/* the dynamic payload type we offer telephone-event on */
#define OFFER_TELEPHONE_EVENT_PT 101

enum
{
  PROP_0,
  PROP_LOCAL_URI,
  PROP_CODECS,
  PROP_MEDIA_ADDRESS,
  PROP_USER_AGENT,
  PROP_RTP_PORT_MIN,
  PROP_RTP_PORT_MAX,
  PROP_RING_TIME,
  PROP_CALL_ID,
  PROP_CALL,
  PROP_TRANSFER_TARGET,
  PROP_TRANSFER_TIMEOUT,
  PROP_TRANSFER_MODE,
  PROP_MEDIA_TIMEOUT,
  PROP_REGISTRAR,
  PROP_USERNAME,
  PROP_PASSWORD,
  PROP_SESSION_EXPIRES,
  PROP_MIN_SE,
  PROP_EXTERNAL_ADDRESS,
  PROP_SRTP,
  PROP_TLS_PORT,
  PROP_TLS_DIR,
  PROP_TLS_VERIFY,
};

enum
{
  SIGNAL_HANGUP,
  SIGNAL_TRANSFER,
  SIGNAL_SEND_DTMF,
  SIGNAL_DIAL,
  SIGNAL_TRANSFER_FAILED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

#define gst_sip_bin_parent_class parent_class
G_DEFINE_TYPE (GstSipBin, gst_sip_bin, GST_TYPE_BIN);
GST_ELEMENT_REGISTER_DEFINE (sipbin, "sipbin", GST_RANK_NONE, GST_TYPE_SIP_BIN);

static void gst_sip_bin_finalize (GObject *object);
static void gst_sip_bin_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec);
static void gst_sip_bin_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec);
static GstStateChangeReturn gst_sip_bin_change_state (
    GstElement *element, GstStateChange transition);
static void gst_sip_bin_handle_message (GstBin *bin, GstMessage *message);
static void gst_sip_bin_hangup (GstSipBin *self);
static gboolean gst_sip_bin_transfer (GstSipBin *self, const gchar *target);
static void gst_sip_bin_transfer_failed (
    GstSipBin *self, const gchar *target, gint status, const gchar *reason);
static gboolean gst_sip_bin_dial (
    GstSipBin *self, const gchar *uri, GstPromise *promise);
static void on_call_state_changed (GstSipCall *call, gint state, gint status,
    const gchar *reason, GstSipBin *self);
static void on_reoffer (GstSipCall *call, GstSipBin *self);
static void send_call_event (GstSipBin *self, GstSipCall *call,
    const gchar *name, const gchar *first_field, ...);
static void on_answer (GstSipCall *call, GstSipBin *self);
static gboolean gst_sip_bin_send_dtmf (GstSipBin *self, const gchar *keys);
static void on_call_dtmf (GstSipCall *call, gint number, gint duration_ms,
    gint method, GstSipBin *self);
static void on_transfer_progress (GstSipCall *call, gint state, gint status,
    const gchar *reason, GstSipBin *self);

static void
gst_sip_bin_class_init (GstSipBinClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBinClass *bin_class = GST_BIN_CLASS (klass);

  gobject_class->finalize = gst_sip_bin_finalize;
  gobject_class->set_property = gst_sip_bin_set_property;
  gobject_class->get_property = gst_sip_bin_get_property;

  g_object_class_install_property (gobject_class, PROP_LOCAL_URI,
      g_param_spec_string ("local-uri", "Local URI",
          "SIP URI to listen on (UDP and TCP; add ;transport=udp or tcp for "
          "one). The host must be a numeric address; IPv6 in brackets. "
          "The user part goes into the Contact",
          DEFAULT_LOCAL_URI,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_CODECS,
      g_param_spec_string ("codecs", "Codec preference",
          "Comma-separated encoding names in order of preference, e.g. "
          "\"G722,PCMU,PCMA\". NULL: the caller's order. Only codecs the "
          "inner pipeline accepts are ever answered",
          DEFAULT_CODECS, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_MEDIA_ADDRESS,
      g_param_spec_string ("media-address", "Media address",
          "Local address for RTP and the SDP c= line. NULL: the local-uri "
          "host, or when that is a wildcard, the address that routes to the "
          "caller's media",
          DEFAULT_MEDIA_ADDRESS, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_USER_AGENT,
      g_param_spec_string ("user-agent", "User-Agent",
          "User-Agent and Server header value", DEFAULT_USER_AGENT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_RTP_PORT_MIN,
      g_param_spec_uint ("rtp-port-min", "RTP port minimum",
          "Lowest UDP port for a call's RTP", 1024, 65534, DEFAULT_RTP_PORT_MIN,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_RTP_PORT_MAX,
      g_param_spec_uint ("rtp-port-max", "RTP port maximum",
          "Highest UDP port for a call's RTP", 1024, 65535,
          DEFAULT_RTP_PORT_MAX, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_RING_TIME,
      g_param_spec_uint ("ring-time", "Ring time",
          "Milliseconds between 180 Ringing and 200 OK", 0, 600000,
          DEFAULT_RING_TIME, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_CALL_ID,
      g_param_spec_string ("call-id", "Call-ID",
          "Call-ID of the call in progress, NULL when there is none", NULL,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * GstSipBin:call:
   *
   * A call from an application's own #GstSipEndpoint (the server runs one
   * pipeline per call this way). When set, sipbin does not listen on
   * #GstSipBin:local-uri: it answers this one call when the bin goes to
   * PAUSED, and posts the same `sip-call` messages; the application tears
   * the pipeline down after `ended`.
   */
  g_object_class_install_property (gobject_class, PROP_CALL,
      g_param_spec_object ("call", "Call",
          "A call taken from an application's own SIP endpoint (instead of "
          "listening on local-uri)",
          GST_TYPE_SIP_CALL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));

  /**
   * GstSipBin::hangup:
   * @sipbin: the sipbin
   *
   * Ends the call in progress: BYE once answered, 480 before.
   */
  signals[SIGNAL_HANGUP] = g_signal_new_class_handler ("hangup",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
      G_CALLBACK (gst_sip_bin_hangup), NULL, NULL, NULL, G_TYPE_NONE, 0);

  /**
   * GstSipBin::send-dtmf:
   * @sipbin: the sipbin
   * @keys: the keys to press: `0`-`9`, `*`, `#`, `A`-`D`
   *
   * Presses @keys in the call (to reach an extension through an IVR), by
   * way of the sipsink's #GstSipSink::send-dtmf: RFC 4733 events when the
   * far end offered telephone-event, else tones in the audio on a G.711
   * call. An `agent-action` message with `action=send-dtmf` and `digits`
   * does the same.
   *
   * Returns: %FALSE when no call is answered, a key is out of range, or
   *   the call has neither telephone-event nor G.711.
   */
  signals[SIGNAL_SEND_DTMF] = g_signal_new_class_handler ("send-dtmf",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
      G_CALLBACK (gst_sip_bin_send_dtmf), NULL, NULL, NULL, G_TYPE_BOOLEAN, 1,
      G_TYPE_STRING);

  /**
   * GstSipBin:transfer-target:
   *
   * The URI (`sip:`, `sips:` or `tel:`) a transfer goes to when the agent
   * (or the #GstSipBin::transfer signal) names a target that is not a URI,
   * e.g. `transfer attorney` in a script. The gst-sip-agent server sets it
   * per office. NULL: such a transfer fails at once.
   */
  g_object_class_install_property (gobject_class, PROP_TRANSFER_TARGET,
      g_param_spec_string ("transfer-target", "Transfer target",
          "URI (sip:, sips: or tel:) for transfers whose target is a name, "
          "not a URI (e.g. \"attorney\"); NULL: those fail",
          DEFAULT_TRANSFER_TARGET, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));

  /**
   * GstSipBin:transfer-timeout:
   *
   * Milliseconds a transfer waits, after the REFER went out, for its
   * outcome: the NOTIFY whose sipfrag is a final response. A transfer still
   * open then fails (`sip-transfer` `failed`, status 408) and the call
   * stays up.
   */
  /**
   * GstSipBin:transfer-mode:
   *
   * "blind" (the default): an `agent-action` transfer from inside makes
   * sipbin send the REFER. "application": sipbin leaves `agent-action`
   * transfers to the application (the gst-sip-agent server's attended
   * transfer), which calls #GstSipBin::transfer itself, or
   * #GstSipBin::transfer-failed when it gives up.
   */
  g_object_class_install_property (gobject_class, PROP_TRANSFER_MODE,
      g_param_spec_string ("transfer-mode", "Transfer mode",
          "blind: sipbin sends the REFER for an agent-action transfer; "
          "application: the application handles those",
          "blind", G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  /**
   * GstSipBin:media-timeout:
   *
   * Milliseconds without a single RTP packet from the far end, while its
   * SDP says it sends (not on hold: sendonly/inactive offers stop the
   * clock), after which sipbin hangs up: BYE, and the call ends with reason
   * `media-timeout`. 0 turns it off. Checked once a second.
   */
  g_object_class_install_property (gobject_class, PROP_MEDIA_TIMEOUT,
      g_param_spec_uint ("media-timeout", "Media timeout",
          "Milliseconds without RTP from the far end (not on hold) before "
          "hanging up (0: never)",
          0, G_MAXUINT, 0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  /**
   * GstSipBin::transfer-failed:
   * @sipbin: the sipbin
   * @target: what the transfer was to
   * @status: a SIP status explaining it (486, 408 ...), or 0
   * @reason: what went wrong
   *
   * For applications that handle transfers themselves
   * (#GstSipBin:transfer-mode "application"): reports a transfer that
   * failed before any REFER, as a `sip-transfer` `failed` message and a
   * `sip-transfer-result` event into the pipeline, so that the agent takes
   * the conversation back.
   */
  signals[SIGNAL_TRANSFER_FAILED] =
      g_signal_new_class_handler ("transfer-failed", G_TYPE_FROM_CLASS (klass),
          G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
          G_CALLBACK (gst_sip_bin_transfer_failed), NULL, NULL, NULL,
          G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_INT, G_TYPE_STRING);
  /**
   * GstSipBin:registrar:
   *
   * A `sip:` URI to REGISTER #GstSipBin:local-uri's user at (a carrier's
   * registrar), with digest credentials #GstSipBin:username and
   * #GstSipBin:password; refreshed before it expires, retried with
   * back-off after a failure, removed when the bin stops. Every change
   * posts a `sip-registration` message. With a registrar, sipbin takes
   * INVITEs and OPTIONS only from the registrar's addresses (403 for the
   * rest), as the gst-sip-agent server's trunks do. Standalone only.
   */
  g_object_class_install_property (gobject_class, PROP_REGISTRAR,
      g_param_spec_string ("registrar", "Registrar",
          "sip: URI to register at (a carrier's registrar); NULL: no "
          "registration",
          NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_USERNAME,
      g_param_spec_string ("username", "Username",
          "Digest user name for the registrar (and our address of record)",
          NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_PASSWORD,
      g_param_spec_string ("password", "Password",
          "Digest password for the registrar", NULL,
          G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstSipBin:session-expires:
   *
   * Session timers (RFC 4028): the session interval, in seconds, sipbin
   * asks for in its INVITEs and 2xx (`Supported: timer`,
   * `Session-Expires`). The caller refreshes the session by default; when
   * it asks us to (`refresher=uas`) or knows no session timers, sipbin
   * refreshes at half the interval, with UPDATE when the far end allows it,
   * else with a re-INVITE. When the far end should refresh and does not,
   * sipbin hangs up (BYE) shortly before the session expires. 0 asks for
   * no session timer (one the caller asks for is still kept). Takes effect
   * when the bin goes to READY.
   */
  g_object_class_install_property (gobject_class, PROP_SESSION_EXPIRES,
      g_param_spec_uint ("session-expires", "Session expires",
          "Session timer interval in seconds (RFC 4028; 0: not asked for)", 0,
          86400, GST_SIP_SESSION_EXPIRES_DEFAULT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  /**
   * GstSipBin:external-address:
   *
   * Behind 1:1 NAT (a cloud VM with a public address mapped to its private
   * one): the public IP address to name in Contact, Via and the SDP. SIP
   * and RTP are then received on every local address of that family (the
   * NAT forwards to ours); #GstSipBin:media-address, when set, still says
   * where RTP is bound. NULL: the addresses we listen on are named.
   * Standalone sipbin reads it at NULL->READY.
   */
  g_object_class_install_property (gobject_class, PROP_EXTERNAL_ADDRESS,
      g_param_spec_string ("external-address", "External address",
          "Public IP address for Contact, Via and SDP behind 1:1 NAT (NULL: "
          "the local ones)",
          NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  /**
   * GstSipBin:min-se:
   *
   * The shortest session interval accepted, in seconds: an INVITE asking
   * for less gets 422 with Min-SE (RFC 4028 says never below 90; lower
   * values are for tests). Takes effect when the bin goes to READY.
   */
  g_object_class_install_property (gobject_class, PROP_MIN_SE,
      g_param_spec_uint ("min-se", "Minimum session expires",
          "Shortest session timer interval accepted, in seconds", 1, 86400,
          GST_SIP_MIN_SE_DEFAULT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  /**
   * GstSipBin:srtp:
   *
   * SRTP (RFC 3711) with SDES keys (RFC 4568) on the call's media:
   *
   * - `off`: plain RTP only. An RTP/AVP offer is answered as usual, an
   *   RTP/SAVP offer gets 488; our offers are RTP/AVP.
   * - `optional` (default): an RTP/SAVP offer is answered RTP/SAVP with our
   *   own random key for the first `a=crypto` suite we implement (same
   *   tag), or 488 when it has none; an RTP/AVP offer is answered with
   *   plain RTP; our offers are RTP/AVP.
   * - `required`: SRTP only. An RTP/AVP offer gets 488; our offers (calls
   *   we place, delayed offers) are RTP/SAVP with AES_CM_128_HMAC_SHA1_80
   *   (tag 1) and AES_CM_128_HMAC_SHA1_32 (tag 2), and an answer without
   *   SRTP is hung up.
   *
   * The keys go to sipsrc and sipsink (#GstSipSrc:srtp-key), which drop
   * every packet that fails authentication. SDES keys travel in the SDP,
   * so they are only as secret as the signalling: use TLS
   * (#GstSipBin:tls-port, `sips:`/`transport=tls`) with SRTP. `required`
   * needs sipsrc/sipsink built with SRTP (libsrtp2); without it the bin
   * fails to start, and `optional` behaves as `off`.
   */
  g_object_class_install_property (gobject_class, PROP_SRTP,
      g_param_spec_enum ("srtp", "SRTP",
          "SRTP with SDES keys: off, optional (when offered) or required",
          GST_TYPE_SIP_SRTP_POLICY, DEFAULT_SRTP,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  /**
   * GstSipBin:tls-port:
   *
   * SIP over TLS (RFC 3261 26, `sips:`): the port to listen on for TLS on
   * the host of #GstSipBin:local-uri, next to UDP and TCP on its port (5061
   * is the usual one). Needs #GstSipBin:tls-dir. 0 (the default): no TLS.
   * Standalone sipbin reads it at NULL->READY.
   */
  g_object_class_install_property (gobject_class, PROP_TLS_PORT,
      g_param_spec_uint ("tls-port", "TLS port",
          "Port for SIP over TLS on the local-uri host (0: no TLS)", 0, 65535,
          DEFAULT_TLS_PORT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  /**
   * GstSipBin:tls-dir:
   *
   * Directory of the TLS certificates, in sofia-sip's layout (as
   * FreeSWITCH's): `agent.pem` holds our private key and certificate chain
   * (PEM, key first), `cafile.pem` the certificates of the CAs we trust
   * when we connect to a server over TLS. Keep it readable by this process
   * only.
   */
  g_object_class_install_property (gobject_class, PROP_TLS_DIR,
      g_param_spec_string ("tls-dir", "TLS directory",
          "Directory with agent.pem (our key and certificate) and cafile.pem "
          "(trusted CAs)",
          DEFAULT_TLS_DIR,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  /**
   * GstSipBin:tls-verify:
   *
   * Verify the certificate of the servers we connect to over TLS (a trunk's
   * proxy) against `cafile.pem`. Clients that connect to us are not asked
   * for a certificate, as SIP servers usually do; they authenticate with
   * digest (a trunk's credentials) or their address.
   */
  g_object_class_install_property (gobject_class, PROP_TLS_VERIFY,
      g_param_spec_boolean ("tls-verify", "TLS verify",
          "Verify the certificates of TLS servers we connect to",
          DEFAULT_TLS_VERIFY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_TRANSFER_TIMEOUT,
      g_param_spec_uint ("transfer-timeout", "Transfer timeout",
          "Milliseconds to wait for a transfer's final NOTIFY before it fails",
          100, 3600000, DEFAULT_TRANSFER_TIMEOUT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));

  /**
   * GstSipBin::transfer:
   * @sipbin: the sipbin
   * @target: a `sip:`, `sips:` or `tel:` URI, or a name for
   *   #GstSipBin:transfer-target
   *
   * Blind transfer of the call in progress: a REFER (RFC 3515) to @target.
   * Its progress is posted as `sip-transfer` messages; on success sipbin
   * hangs up, on failure the call goes on. An `agent-action` message with
   * `action=transfer` does the same.
   *
   * Returns: %TRUE when the REFER is on its way, %FALSE when there is no
   * call, no usable target or a transfer is already in progress (a
   * `sip-transfer` `failed` message says which).
   */
  signals[SIGNAL_TRANSFER] = g_signal_new_class_handler ("transfer",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
      G_CALLBACK (gst_sip_bin_transfer), NULL, NULL, NULL, G_TYPE_BOOLEAN, 1,
      G_TYPE_STRING);

  /**
   * GstSipBin::dial:
   * @sipbin: the sipbin
   * @uri: whom to call: a `sip:` URI with a numeric host
   *   (`sip:+19195550123@192.0.2.5:5060`); names are not resolved here
   *   (calls through a carrier go through the gst-sip-agent server's trunks)
   * @promise: (nullable): replied with a `sip-dial-result` structure:
   *   `answered` (boolean), `status` (int: 200, the final error status, or
   *   0 when no INVITE went out), `reason` (string) and `call-id` (string)
   *
   * Places a call from #GstSipBin:local-uri: an INVITE whose SDP offer lists
   * the codecs the pipeline inside takes (PCMU, PCMA, G722, in
   * #GstSipBin:codecs order) and telephone-event. Ringing and early media
   * (a 183 with SDP: the media is received, nothing is sent) are posted as
   * `sip-call` messages; once answered the call is like an incoming one.
   * Needs the bin in READY or above, standalone (no #GstSipBin:call), and
   * no call up.
   *
   * Returns: %TRUE when the INVITE is on its way.
   */
  signals[SIGNAL_DIAL] =
      g_signal_new_class_handler ("dial", G_TYPE_FROM_CLASS (klass),
          G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION, G_CALLBACK (gst_sip_bin_dial),
          NULL, NULL, NULL, G_TYPE_BOOLEAN, 2, G_TYPE_STRING, GST_TYPE_PROMISE);

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_sip_bin_change_state);
  bin_class->handle_message = GST_DEBUG_FUNCPTR (gst_sip_bin_handle_message);

  gst_element_class_set_static_metadata (element_class, "SIP call bin",
      "Generic/Bin/Network/SIP",
      "Answers SIP calls (sofia-sip) and connects their RTP to the sipsrc and "
      "sipsink inside; the codec comes from what the pipeline accepts",
      "gst-sip-agent developers");
  gst_element_class_add_static_metadata (element_class, "example",
      "gst-launch-1.0 -m sipbin.( local-uri=sip:agent@127.0.0.1:5060 sipsrc ! "
      "rtppcmudepay ! rtppcmupay ! sipsink )");
  gst_element_class_add_static_metadata (element_class, "messages",
      "sip-registration: state (registering, registered, failed, "
      "unregistered), status, reason, retry-seconds. "
      "sip-call: state (incoming, calling, ringing, answered, ended), "
      "call-id, from, "
      "to; answered adds codec, payload, clock-rate, "
      "telephone-event-payload, local-media, remote-media, srtp; ended adds "
      "status and reason, and the call's packets-received, packets-lost, "
      "jitter-ms and RTCP's rtcp-received, remote-fraction-lost, "
      "remote-packets-lost, remote-jitter-ms, round-trip-ms. sip-transfer: "
      "target, state (requested, "
      "accepted, progress, succeeded, failed), status, reason, call-id "
      "(docs/elements.md)");

  GST_DEBUG_CATEGORY_INIT (gst_sip_bin_debug, "sipbin", 0, "SIP call bin");
}

static void
gst_sip_bin_init (GstSipBin *self)
{
  self->local_uri = g_strdup (DEFAULT_LOCAL_URI);
  self->user_agent = g_strdup (DEFAULT_USER_AGENT);
  self->rtp_port_min = DEFAULT_RTP_PORT_MIN;
  self->rtp_port_max = DEFAULT_RTP_PORT_MAX;
  self->ring_time = DEFAULT_RING_TIME;
  self->transfer_timeout = DEFAULT_TRANSFER_TIMEOUT;
  self->session_expires = GST_SIP_SESSION_EXPIRES_DEFAULT;
  self->min_se = GST_SIP_MIN_SE_DEFAULT;
  self->telephone_event_pt = -1;
  self->srtp = DEFAULT_SRTP;
  self->tls_port = DEFAULT_TLS_PORT;
  self->tls_verify = DEFAULT_TLS_VERIFY;
  g_mutex_init (&self->call_lock);
}

static void
gst_sip_bin_finalize (GObject *object)
{
  GstSipBin *self = GST_SIP_BIN (object);

  g_free (self->local_uri);
  g_free (self->codecs);
  g_free (self->media_address);
  g_free (self->external_address);
  g_free (self->user_agent);
  g_free (self->local_media_address);
  g_free (self->sdp_media_address);
  g_free (self->transfer_target);
  g_free (self->registrar);
  g_free (self->username);
  g_free (self->password);
  g_free (self->transfer_uri);
  g_free (self->tls_dir);
  gst_sip_crypto_free (self->local_crypto);
  g_free (self->remote_key);
  g_clear_pointer (&self->offered_cryptos, g_ptr_array_unref);
  gst_sip_codec_free (self->codec);
  g_clear_pointer (&self->offered, g_ptr_array_unref);
  gst_clear_object (&self->attached_call);
  g_mutex_clear (&self->call_lock);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_sip_bin_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstSipBin *self = GST_SIP_BIN (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LOCAL_URI:
      g_free (self->local_uri);
      self->local_uri = g_value_dup_string (value);
      break;
    case PROP_CODECS:
      g_free (self->codecs);
      self->codecs = g_value_dup_string (value);
      break;
    case PROP_MEDIA_ADDRESS:
      g_free (self->media_address);
      self->media_address = g_value_dup_string (value);
      break;
    case PROP_USER_AGENT:
      g_free (self->user_agent);
      self->user_agent = g_value_dup_string (value);
      break;
    case PROP_RTP_PORT_MIN:
      self->rtp_port_min = g_value_get_uint (value);
      break;
    case PROP_RTP_PORT_MAX:
      self->rtp_port_max = g_value_get_uint (value);
      break;
    case PROP_RING_TIME:
      self->ring_time = g_value_get_uint (value);
      break;
    case PROP_CALL:
      gst_clear_object (&self->attached_call);
      self->attached_call = g_value_dup_object (value);
      break;
    case PROP_TRANSFER_TARGET:
      g_free (self->transfer_target);
      self->transfer_target = g_value_dup_string (value);
      break;
    case PROP_TRANSFER_TIMEOUT:
      self->transfer_timeout = g_value_get_uint (value);
      break;
    case PROP_MEDIA_TIMEOUT:
      self->media_timeout = g_value_get_uint (value);
      break;
    case PROP_TRANSFER_MODE:
      self->application_transfers =
          g_strcmp0 (g_value_get_string (value), "application") == 0;
      break;
    case PROP_REGISTRAR:
      g_free (self->registrar);
      self->registrar = g_value_dup_string (value);
      break;
    case PROP_USERNAME:
      g_free (self->username);
      self->username = g_value_dup_string (value);
      break;
    case PROP_PASSWORD:
      g_free (self->password);
      self->password = g_value_dup_string (value);
      break;
    case PROP_SESSION_EXPIRES:
      self->session_expires = g_value_get_uint (value);
      break;
    case PROP_MIN_SE:
      self->min_se = g_value_get_uint (value);
      break;
    case PROP_EXTERNAL_ADDRESS:
      g_free (self->external_address);
      self->external_address = g_value_dup_string (value);
      break;
    case PROP_SRTP:
      self->srtp = g_value_get_enum (value);
      break;
    case PROP_TLS_PORT:
      self->tls_port = g_value_get_uint (value);
      break;
    case PROP_TLS_DIR:
      g_free (self->tls_dir);
      self->tls_dir = g_value_dup_string (value);
      break;
    case PROP_TLS_VERIFY:
      self->tls_verify = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_sip_bin_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstSipBin *self = GST_SIP_BIN (object);

  if (prop_id == PROP_CALL) {
    GST_OBJECT_LOCK (self);
    g_value_set_object (value, self->attached_call);
    GST_OBJECT_UNLOCK (self);
    return;
  }
  if (prop_id == PROP_CALL_ID) {
    g_mutex_lock (&self->call_lock);
    g_value_set_string (
        value, self->call ? gst_sip_call_get_call_id (self->call) : NULL);
    g_mutex_unlock (&self->call_lock);
    return;
  }

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LOCAL_URI:
      g_value_set_string (value, self->local_uri);
      break;
    case PROP_CODECS:
      g_value_set_string (value, self->codecs);
      break;
    case PROP_MEDIA_ADDRESS:
      g_value_set_string (value, self->media_address);
      break;
    case PROP_USER_AGENT:
      g_value_set_string (value, self->user_agent);
      break;
    case PROP_RTP_PORT_MIN:
      g_value_set_uint (value, self->rtp_port_min);
      break;
    case PROP_RTP_PORT_MAX:
      g_value_set_uint (value, self->rtp_port_max);
      break;
    case PROP_RING_TIME:
      g_value_set_uint (value, self->ring_time);
      break;
    case PROP_TRANSFER_TARGET:
      g_value_set_string (value, self->transfer_target);
      break;
    case PROP_TRANSFER_TIMEOUT:
      g_value_set_uint (value, self->transfer_timeout);
      break;
    case PROP_MEDIA_TIMEOUT:
      g_value_set_uint (value, self->media_timeout);
      break;
    case PROP_TRANSFER_MODE:
      g_value_set_string (
          value, self->application_transfers ? "application" : "blind");
      break;
    case PROP_REGISTRAR:
      g_value_set_string (value, self->registrar);
      break;
    case PROP_USERNAME:
      g_value_set_string (value, self->username);
      break;
    case PROP_SESSION_EXPIRES:
      g_value_set_uint (value, self->session_expires);
      break;
    case PROP_MIN_SE:
      g_value_set_uint (value, self->min_se);
      break;
    case PROP_EXTERNAL_ADDRESS:
      g_value_set_string (value, self->external_address);
      break;
    case PROP_SRTP:
      g_value_set_enum (value, self->srtp);
      break;
    case PROP_TLS_PORT:
      g_value_set_uint (value, self->tls_port);
      break;
    case PROP_TLS_DIR:
      g_value_set_string (value, self->tls_dir);
      break;
    case PROP_TLS_VERIFY:
      g_value_set_boolean (value, self->tls_verify);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- bus messages ---- */

static GstStructure *
call_structure (GstSipCall *call, const gchar *state)
{
  return gst_structure_new ("sip-call", "state", G_TYPE_STRING, state,
      "call-id", G_TYPE_STRING, gst_sip_call_get_call_id (call), "from",
      G_TYPE_STRING, gst_sip_call_get_from (call), "to", G_TYPE_STRING,
      gst_sip_call_get_to (call), NULL);
}

static void
post_call_message (GstSipBin *self, GstSipCall *call, const gchar *state,
    const gchar *first_field, ...)
{
  GstStructure *s = call_structure (call, state);
  va_list args;

  if (first_field) {
    va_start (args, first_field);
    gst_structure_set_valist (s, first_field, args);
    va_end (args);
  }
  gst_element_post_message (
      GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

/* `answered`, for calls we answer and calls we placed alike */
static void
post_answered (GstSipBin *self, GstSipCall *call, const GstSipCodec *codec,
    gint telephone_event_pt, const gchar *local, const gchar *remote,
    const gchar *srtp)
{
  post_call_message (self, call, "answered", "codec", G_TYPE_STRING,
      codec->encoding_name, "payload", G_TYPE_INT, codec->pt, "clock-rate",
      G_TYPE_INT, codec->clock_rate, "telephone-event-payload", G_TYPE_INT,
      telephone_event_pt, "local-media", G_TYPE_STRING, local, "remote-media",
      G_TYPE_STRING, remote, "srtp", G_TYPE_STRING, srtp ? srtp : "", NULL);
}

/* An out-of-band custom event @name (with @call's `call-id` and the
 * fields given) into the pipeline through sipsrc, which pushes it from its
 * streaming thread. Out of band: GstAudioDecoder would hold a serialized
 * one until the next decoded audio, and on hold none may come. */
static void
send_call_event (GstSipBin *self, GstSipCall *call, const gchar *name,
    const gchar *first_field, ...)
{
  GstElement *src;
  GstStructure *s;
  va_list args;

  g_mutex_lock (&self->call_lock);
  src = self->rtp_src ? gst_object_ref (self->rtp_src) : NULL;
  g_mutex_unlock (&self->call_lock);
  if (src == NULL)
    return;
  s = gst_structure_new (
      name, "call-id", G_TYPE_STRING, gst_sip_call_get_call_id (call), NULL);
  if (first_field) {
    va_start (args, first_field);
    gst_structure_set_valist (s, first_field, args);
    va_end (args);
  }
  if (!gst_element_send_event (
          src, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_OOB, s)))
    GST_DEBUG_OBJECT (self, "nobody inside took %s", name);
  gst_object_unref (src);
}

/* The call is answered and its codec known: the conversation starts (the
 * agent greets now, not when the caller's first packet arrives). @held:
 * the far end's SDP already holds the call. telephone-event-payload tells
 * sttbridge whether the caller's keys come as RFC 4733 events (sipsrc
 * reports them) or as tones it must listen for. */
static void
media_started (GstSipBin *self, GstSipCall *call, gboolean held)
{
  send_call_event (self, call, "sip-call-started", "telephone-event-payload",
      G_TYPE_INT, self->telephone_event_pt, NULL);
  if (held)
    send_call_event (
        self, call, "sip-call-hold", "held", G_TYPE_BOOLEAN, TRUE, NULL);
}

/* `ended`, with the call's media figures from sipsrc's @stats when it had
 * media: what we received and lost, and RTCP's view from the far end */
static void
post_ended (GstSipBin *self, GstSipCall *call, gint status, const gchar *reason,
    const GstStructure *stats)
{
  static const gchar *const fields[] = {"packets-received", "packets-lost",
      "jitter-ms", "rtcp-received", "remote-fraction-lost",
      "remote-packets-lost", "remote-jitter-ms", "round-trip-ms", NULL};
  GstStructure *s = call_structure (call, "ended");
  guint i;

  gst_structure_set (s, "status", G_TYPE_INT, status, "reason", G_TYPE_STRING,
      reason ? reason : "", NULL);
  for (i = 0; stats && fields[i]; i++) {
    const GValue *v = gst_structure_get_value (stats, fields[i]);

    if (v)
      gst_structure_set_value (s, fields[i], v);
  }
  gst_element_post_message (
      GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

/* ---- finding the media elements ---- */

static gboolean
factory_is (GstElement *element, const gchar *name)
{
  GstElementFactory *factory = gst_element_get_factory (element);

  return factory && g_strcmp0 (GST_OBJECT_NAME (factory), name) == 0;
}

static GstElement *
find_child (GstSipBin *self, const gchar *factory_name)
{
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (self));
  GValue item = G_VALUE_INIT;
  GstElement *found = NULL;
  gboolean done = FALSE;

  while (!done) {
    switch (gst_iterator_next (it, &item)) {
      case GST_ITERATOR_OK: {
        GstElement *element = g_value_get_object (&item);

        if (factory_is (element, factory_name)) {
          if (found == NULL)
            found = gst_object_ref (element);
          else
            GST_WARNING_OBJECT (self, "more than one %s: using %s",
                factory_name, GST_OBJECT_NAME (found));
        }
        g_value_reset (&item);
        break;
      }
      case GST_ITERATOR_RESYNC:
        gst_clear_object (&found);
        gst_iterator_resync (it);
        break;
      default:
        done = TRUE;
        break;
    }
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  return found;
}

/* ---- codec negotiation ---- */

/* Caps the pipeline takes next to @element's pad (the depayloader after
 * sipsrc, the payloader before sipsink). ANY when unlinked. */
static GstCaps *
peer_caps (GstElement *element, const gchar *pad_name)
{
  GstPad *pad;
  GstCaps *caps;

  if (element == NULL)
    return gst_caps_new_any ();
  pad = gst_element_get_static_pad (element, pad_name);
  if (pad == NULL)
    return gst_caps_new_any ();
  caps = gst_pad_peer_query_caps (pad, NULL);
  gst_object_unref (pad);
  return caps;
}

static gint
preference_rank (gchar **preference, const gchar *name, guint offer_index)
{
  guint i;

  if (preference == NULL)
    return offer_index;
  for (i = 0; preference[i]; i++) {
    if (g_ascii_strcasecmp (g_strstrip (preference[i]), name) == 0)
      return i;
  }
  return G_MAXINT; /* not in the list: never chosen */
}

static const GstSipCodec *
choose_codec (
    GstSipBin *self, const GstSipSdpOffer *offer, const GstSipCodec *current)
{
  GstCaps *recv_caps = peer_caps (self->rtp_src, "src");
  GstCaps *send_caps = peer_caps (self->rtp_sink, "sink");
  const GstSipCodec *best = NULL;
  gint best_rank = G_MAXINT;
  gchar **preference = NULL;
  guint i;

  GST_OBJECT_LOCK (self);
  if (self->codecs && *self->codecs)
    preference = g_strsplit (self->codecs, ",", -1);
  GST_OBJECT_UNLOCK (self);

  for (i = 0; i < offer->codecs->len; i++) {
    const GstSipCodec *codec = g_ptr_array_index (offer->codecs, i);
    GstCaps *caps = gst_sip_codec_to_caps (codec);
    gint rank = preference_rank (preference, codec->encoding_name, i);
    gboolean usable = gst_caps_can_intersect (caps, recv_caps) &&
        gst_caps_can_intersect (caps, send_caps);

    GST_DEBUG_OBJECT (self, "offered %s/%d pt %d: %s, rank %d",
        codec->encoding_name, codec->clock_rate, codec->pt,
        usable ? "usable" : "not accepted by the pipeline", rank);
    gst_caps_unref (caps);
    if (!usable)
      continue;
    /* A re-offer keeps the codec in use when it is still there. */
    if (current && codec->pt == current->pt &&
        g_ascii_strcasecmp (codec->encoding_name, current->encoding_name) ==
            0) {
      best = codec;
      break;
    }
    if (rank < best_rank) {
      best = codec;
      best_rank = rank;
    }
  }
  g_strfreev (preference);
  gst_caps_unref (recv_caps);
  gst_caps_unref (send_caps);
  return best;
}

/* ---- media ---- */

/* The local address that routes to @remote: for SDP when we listen on a
 * wildcard address. */
static gchar *
route_address_to (const gchar *remote, gint port)
{
  GInetAddress *inet = g_inet_address_new_from_string (remote);
  GSocketAddress *sa, *local = NULL;
  GSocket *socket;
  gchar *result = NULL;

  if (inet == NULL)
    return NULL;
  socket = g_socket_new (g_inet_address_get_family (inet),
      G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, NULL);
  sa = g_inet_socket_address_new (inet, port > 0 ? port : 9);
  if (socket && g_socket_connect (socket, sa, NULL, NULL))
    local = g_socket_get_local_address (socket, NULL);
  if (local)
    result = g_inet_address_to_string (
        g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (local)));
  g_clear_object (&local);
  g_clear_object (&socket);
  g_object_unref (sa);
  g_object_unref (inet);
  return result;
}

static gchar *
local_media_address (GstSipBin *self, const GstSipSdpOffer *offer)
{
  const gchar *host = gst_sip_endpoint_get_host (self->endpoint);
  gchar *address = NULL;
  GInetAddress *inet;

  GST_OBJECT_LOCK (self);
  address = g_strdup (self->media_address);
  GST_OBJECT_UNLOCK (self);
  if (address)
    return address;

  inet = g_inet_address_new_from_string (host);
  if (inet && !g_inet_address_get_is_any (inet))
    address = g_strdup (host);
  g_clear_object (&inet);
  if (address == NULL)
    address = route_address_to (offer->address, offer->port);
  return address;
}

/* Binds @socket to @inet:@port; FALSE when the port is taken */
static gboolean
bind_port (GSocket *socket, GInetAddress *inet, guint port)
{
  GSocketAddress *sa = g_inet_socket_address_new (inet, port);
  gboolean ok = g_socket_bind (socket, sa, FALSE, NULL);

  g_object_unref (sa);
  return ok;
}

/* The call's RTP socket on an even port of the range, and its RTCP socket
 * on the next one (RFC 3550 11) in @rtcp_out. */
static GSocket *
bind_rtp_socket (GstSipBin *self, const gchar *address, gint *port_out,
    GSocket **rtcp_out, GError **error)
{
  GInetAddress *inet = g_inet_address_new_from_string (address);
  GSocket *socket;
  guint min, max, span, start, i;

  if (inet == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "media address '%s' is not numeric", address);
    return NULL;
  }
  socket = g_socket_new (g_inet_address_get_family (inet),
      G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, error);
  if (socket == NULL) {
    g_object_unref (inet);
    return NULL;
  }

  GST_OBJECT_LOCK (self);
  min = self->rtp_port_min;
  max = MAX (self->rtp_port_max, self->rtp_port_min);
  GST_OBJECT_UNLOCK (self);

  /* RTP on even ports (RFC 3550 11), starting anywhere in the range so
   * that consecutive calls do not reuse the port the last one just left. */
  min += min & 1;
  span = (max - min) / 2 + 1;
  start = g_random_int_range (0, span);
  for (i = 0; i < span; i++) {
    guint port = min + 2 * ((start + i) % span);
    GSocket *rtcp;

    if (!bind_port (socket, inet, port))
      continue;
    rtcp = g_socket_new (g_inet_address_get_family (inet),
        G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, NULL);
    if (rtcp && bind_port (rtcp, inet, port + 1)) {
      *port_out = port;
      g_socket_set_blocking (socket, FALSE);
      g_socket_set_blocking (rtcp, FALSE);
      *rtcp_out = rtcp;
      g_object_unref (inet);
      return socket;
    }
    /* RTCP's port is taken: this pair is not free, and a bound socket
     * cannot be bound again */
    g_clear_object (&rtcp);
    g_object_unref (socket);
    socket = g_socket_new (g_inet_address_get_family (inet),
        G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, error);
    if (socket == NULL)
      break;
  }
  if (socket)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
        "no free RTP and RTCP ports on %s in %u-%u", address, min, max);
  g_clear_object (&socket);
  g_object_unref (inet);
  return NULL;
}

/* Call with call_lock held: binds the call's RTP socket on @address
 * (taken; NULL: none was found) and decides what our SDP names. With
 * #GstSipBin:external-address the SDP names that and, unless media-address
 * says where, the socket listens on every local address of its family: a
 * 1:1 NAT forwards the public address to one of ours. */
static gboolean
bind_media_locked (GstSipBin *self, gchar *address, GError **error)
{
  gchar *external;
  gboolean media_address_set;

  GST_OBJECT_LOCK (self);
  external = g_strdup (self->external_address);
  media_address_set = self->media_address != NULL;
  GST_OBJECT_UNLOCK (self);
  if (external && !media_address_set) {
    g_free (address);
    address = g_strdup (strchr (external, ':') ? "::" : "0.0.0.0");
  }
  if (address)
    self->rtp_socket = bind_rtp_socket (
        self, address, &self->local_media_port, &self->rtcp_socket, error);
  else
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "no local media address (set media-address)");
  if (self->rtp_socket == NULL) {
    g_free (address);
    g_free (external);
    return FALSE;
  }
  self->local_media_address = address;
  self->sdp_media_address = external ? external : g_strdup (address);
  return TRUE;
}

static guint64
packets_received (GstElement *src)
{
  GstStructure *stats = NULL;
  guint64 n = 0;

  g_object_get (src, "stats", &stats, NULL);
  if (stats) {
    gst_structure_get_uint64 (stats, "packets-received", &n);
    gst_structure_free (stats);
  }
  return n;
}

/* Endpoint thread, every second while a call is up. */
static gboolean
check_media (gpointer data)
{
  GstSipBin *self = data;
  GstSipCall *call = NULL;
  gint64 now = g_get_monotonic_time ();
  gboolean keep = TRUE;

  g_mutex_lock (&self->call_lock);
  if (self->call == NULL || self->rtp_src == NULL) {
    keep = FALSE;
  } else {
    guint64 n = packets_received (self->rtp_src);

    if (n != self->rx_count || !self->remote_sends) {
      /* a packet came, or the far end is on hold: no silence to count */
      self->rx_count = n;
      self->rx_time = now;
    } else if (now - self->rx_time >= (gint64) self->media_timeout * 1000) {
      call = gst_object_ref (self->call);
      keep = FALSE;
    }
  }
  if (!keep && self->media_timer == g_main_current_source ()) {
    g_source_unref (self->media_timer);
    self->media_timer = NULL;
  }
  g_mutex_unlock (&self->call_lock);

  if (call) {
    GST_ELEMENT_WARNING (self, STREAM, FAILED, (NULL),
        ("No RTP from the far end of call %s for %u ms: hanging up",
            gst_sip_call_get_call_id (call), self->media_timeout));
    gst_sip_call_hangup_full (call, "media-timeout");
    gst_object_unref (call);
  }
  return keep ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* Call with call_lock held: after the far end's SDP (offer or answer) */
static void
watch_media_locked (GstSipBin *self, const GstSipSdpOffer *sdp)
{
  /* sendonly or inactive from the far end is a hold (RFC 3264 8.4): it
   * may send music, or nothing; recvonly: it sends nothing */
  gboolean sends = sdp->direction == GST_SIP_DIRECTION_SENDRECV;

  if (sends != self->remote_sends || self->media_timer == NULL) {
    self->rx_time = g_get_monotonic_time ();
    self->rx_count = self->rtp_src ? packets_received (self->rtp_src) : 0;
  }
  self->remote_sends = sends;
  if (self->media_timeout > 0 && self->media_timer == NULL && self->endpoint)
    self->media_timer = gst_sip_endpoint_add_timeout (
        self->endpoint, 1000, check_media, self, NULL);
}

/* ---- SRTP (SDES, RFC 4568) ---- */

/* sipsrc/sipsink built with libsrtp2 have srtp-key */
static gboolean
has_srtp_key (GstElement *element)
{
  return element == NULL ||
      g_object_class_find_property (G_OBJECT_GET_CLASS (element), "srtp-key");
}

static gboolean
srtp_available (GstSipBin *self)
{
  return has_srtp_key (self->rtp_src) && has_srtp_key (self->rtp_sink);
}

/* #GstSipBin:srtp, as it applies: without SRTP in sipsrc/sipsink optional
 * is off (required does not start) */
static GstSipSrtpPolicy
srtp_policy (GstSipBin *self)
{
  GstSipSrtpPolicy policy;

  GST_OBJECT_LOCK (self);
  policy = self->srtp;
  GST_OBJECT_UNLOCK (self);
  if (policy == GST_SIP_SRTP_OPTIONAL && !srtp_available (self))
    policy = GST_SIP_SRTP_OFF;
  return policy;
}

/* Call with call_lock held: the call's keys from now on (both taken) */
static void
set_srtp_locked (GstSipBin *self, GstSipCrypto *local, gchar *remote_key)
{
  gst_sip_crypto_free (self->local_crypto);
  self->local_crypto = local;
  if (self->remote_key)
    memset (self->remote_key, 0, strlen (self->remote_key));
  g_free (self->remote_key);
  self->remote_key = remote_key;
}

/* Call with call_lock held. The far end's offer under the policy: FALSE
 * (488, @why) when we cannot take it; else our crypto for the answer in
 * @local (NULL: plain RTP) and the far end's key in @remote_key. Across
 * re-offers our key stays while the suite does. */
static gboolean
negotiate_offer_srtp_locked (GstSipBin *self, const GstSipSdpOffer *offer,
    GstSipCrypto **local, gchar **remote_key, const gchar **why)
{
  GstSipSrtpPolicy policy = srtp_policy (self);
  const GstSipCrypto *theirs;

  *local = NULL;
  *remote_key = NULL;
  if (!offer->secure) {
    if (policy == GST_SIP_SRTP_REQUIRED) {
      *why = "SRTP (RTP/SAVP) is required";
      return FALSE;
    }
    return TRUE;
  }
  if (policy == GST_SIP_SRTP_OFF) {
    *why = "SRTP (RTP/SAVP) is not taken here";
    return FALSE;
  }
  theirs = gst_sip_sdp_choose_crypto (offer);
  if (theirs == NULL) {
    *why = "no a=crypto with a suite we implement";
    return FALSE;
  }
  if (self->local_crypto &&
      g_strcmp0 (self->local_crypto->suite, theirs->suite) == 0) {
    *local = gst_sip_crypto_copy (self->local_crypto);
    (*local)->tag = theirs->tag;
  } else {
    *local = gst_sip_crypto_new_random (theirs->tag, theirs->suite);
  }
  if (*local == NULL) {
    *why = "no random key";
    return FALSE;
  }
  *remote_key = gst_sip_crypto_to_key (theirs);
  return TRUE;
}

/* Call with call_lock held. The far end's answer to our offer (with
 * self->offered_cryptos, NULL for a plain one): FALSE when it does not
 * match (RFC 4568 7.1.3: an accepted crypto carries an offered tag and
 * suite); else TRUE, with the call's keys set from it. */
static gboolean
take_answer_srtp_locked (GstSipBin *self, const GstSipSdpOffer *answer)
{
  const GstSipCrypto *theirs;
  guint i;

  if (self->offered_cryptos == NULL || self->offered_cryptos->len == 0) {
    if (answer->secure)
      return FALSE;
    set_srtp_locked (self, NULL, NULL);
    return TRUE;
  }
  if (!answer->secure || (theirs = gst_sip_sdp_choose_crypto (answer)) == NULL)
    return FALSE;
  for (i = 0; i < self->offered_cryptos->len; i++) {
    const GstSipCrypto *ours = g_ptr_array_index (self->offered_cryptos, i);

    if (ours->tag == theirs->tag &&
        g_strcmp0 (ours->suite, theirs->suite) == 0) {
      set_srtp_locked (
          self, gst_sip_crypto_copy (ours), gst_sip_crypto_to_key (theirs));
      return TRUE;
    }
  }
  return FALSE;
}

/* Call with call_lock held: the a=crypto lines of a new offer of ours
 * (calls we place, delayed offers): with srtp=required both 128-bit
 * suites, each with its own key; otherwise none (RTP/AVP). */
static void
prepare_offer_cryptos_locked (GstSipBin *self)
{
  g_clear_pointer (&self->offered_cryptos, g_ptr_array_unref);
  if (srtp_policy (self) != GST_SIP_SRTP_REQUIRED)
    return;
  self->offered_cryptos =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_sip_crypto_free);
  g_ptr_array_add (self->offered_cryptos,
      gst_sip_crypto_new_random (1, "AES_CM_128_HMAC_SHA1_80"));
  g_ptr_array_add (self->offered_cryptos,
      gst_sip_crypto_new_random (2, "AES_CM_128_HMAC_SHA1_32"));
}

/* Call with call_lock held, after the far end's SDP (offer or answer).
 * Returns TRUE when it put the call on hold or took it off hold. */
static gboolean
configure_media (GstSipBin *self, const GstSipSdpOffer *offer)
{
  GstCaps *caps = gst_sip_codec_to_caps (self->codec);
  /* RFC 3264 6.1: the far end receives nothing (sendonly or inactive):
   * we must not send, and it has put us on hold */
  gboolean held = (offer->direction & GST_SIP_DIRECTION_RECVONLY) == 0;
  gboolean changed = held != self->remote_held;

  /* the keys first: a new socket takes the key set with or before it */
  if ((self->rtp_src && has_srtp_key (self->rtp_src)) ||
      (self->rtp_sink && has_srtp_key (self->rtp_sink))) {
    gchar *key =
        self->local_crypto ? gst_sip_crypto_to_key (self->local_crypto) : NULL;

    /* sipsrc: theirs for what it receives, ours for its RTCP (SRTCP) */
    if (self->rtp_src && has_srtp_key (self->rtp_src))
      g_object_set (self->rtp_src, "srtp-key", self->remote_key,
          "rtcp-srtp-key", key, NULL);
    if (self->rtp_sink && has_srtp_key (self->rtp_sink))
      g_object_set (self->rtp_sink, "srtp-key", key, NULL);
    if (key)
      memset (key, 0, strlen (key));
    g_free (key);
  }
  if (self->rtp_src) {
    g_object_set (self->rtp_src, "caps", caps, "telephone-event-payload",
        self->telephone_event_pt, "remote-address", offer->address,
        "remote-port", offer->port, "call-id",
        self->call ? gst_sip_call_get_call_id (self->call) : NULL, "socket",
        self->rtp_socket, "rtcp-socket", self->rtcp_socket, NULL);
  }
  if (self->rtp_sink) {
    g_object_set (self->rtp_sink, "caps", caps, "remote-address",
        offer->address, "remote-port", offer->port, "sending", !held, "socket",
        self->rtp_socket, NULL);
  }
  if (self->rtp_sink)
    g_object_set (self->rtp_sink, "telephone-event-payload",
        self->telephone_event_pt, NULL);
  gst_caps_unref (caps);
  watch_media_locked (self, offer);
  self->remote_held = held;
  return changed;
}

/* Call with call_lock held. */
static void
release_media_locked (GstSipBin *self)
{
  if (self->rtp_src)
    g_object_set (self->rtp_src, "socket", NULL, "rtcp-socket", NULL, NULL);
  if (self->rtp_sink)
    g_object_set (self->rtp_sink, "socket", NULL, NULL);
  /* Not closed here: sipsrc's streaming thread may be polling it right
   * now. It closes when sipsrc and sipsink have let go of it. */
  g_clear_object (&self->rtp_socket);
  g_clear_object (&self->rtcp_socket);
  gst_sip_codec_free (self->codec);
  self->codec = NULL;
  g_clear_pointer (&self->offered, g_ptr_array_unref);
  g_clear_pointer (&self->offered_cryptos, g_ptr_array_unref);
  set_srtp_locked (self, NULL, NULL);
  self->remote_held = FALSE;
  self->media_started = FALSE;
  g_clear_pointer (&self->local_media_address, g_free);
  g_clear_pointer (&self->sdp_media_address, g_free);
  if (self->ring_timer) {
    g_source_destroy (self->ring_timer);
    g_source_unref (self->ring_timer);
    self->ring_timer = NULL;
  }
  if (self->media_timer) {
    g_source_destroy (self->media_timer);
    g_source_unref (self->media_timer);
    self->media_timer = NULL;
  }
}

/* ---- call handling, on the endpoint thread ---- */

static gchar *
build_answer_locked (GstSipBin *self, const GstSipSdpOffer *offer)
{
  return gst_sip_sdp_build_answer_full (offer, self->codec,
      self->telephone_event_pt >= 0, self->sdp_media_address,
      self->local_media_port, self->session_id, self->session_version,
      ANSWER_PTIME, self->local_crypto);
}

/* "192.0.2.1:4000", "[2001:db8::1]:4000" */
static gchar *
host_port (const gchar *host, gint port)
{
  if (strchr (host, ':'))
    return g_strdup_printf ("[%s]:%d", host, port);
  return g_strdup_printf ("%s:%d", host, port);
}

/* Call with call_lock held: our offer of @codecs (delayed offer) */
static gchar *
build_offer_locked (GstSipBin *self, const GPtrArray *codecs)
{
  return gst_sip_sdp_build_offer_full (codecs, OFFER_TELEPHONE_EVENT_PT,
      self->sdp_media_address, self->local_media_port, self->session_id,
      self->session_version, ANSWER_PTIME, self->offered_cryptos);
}

static gboolean
answer_call (gpointer data)
{
  GstSipBin *self = data;
  GstSipSdpOffer *offer;
  gchar *sdp_out = NULL, *local, *remote;
  GstSipCall *call = NULL;
  gboolean answered = FALSE, held = FALSE;
  gsize len;
  const gchar *sdp;

  g_mutex_lock (&self->call_lock);
  if (self->ring_timer) {
    g_source_unref (self->ring_timer);
    self->ring_timer = NULL;
  }
  if (self->call &&
      gst_sip_call_get_state (self->call) == GST_SIP_CALL_STATE_RINGING) {
    call = gst_object_ref (self->call);
    sdp = gst_sip_call_get_remote_sdp (call, &len);
    if (sdp == NULL && self->offered) {
      /* delayed offer: the answer comes in the ACK ("answer" signal) */
      sdp_out = build_offer_locked (self, self->offered);
    } else if ((offer = gst_sip_sdp_offer_parse (sdp, len, NULL))) {
      sdp_out = build_answer_locked (self, offer);
      local = host_port (self->sdp_media_address, self->local_media_port);
      remote = host_port (offer->address, offer->port);
      post_answered (self, call, self->codec, self->telephone_event_pt, local,
          remote, self->local_crypto ? self->local_crypto->suite : NULL);
      g_free (local);
      g_free (remote);
      gst_sip_sdp_offer_free (offer);
      answered = TRUE;
      held = self->remote_held;
      self->media_started = TRUE;
    }
  }
  g_mutex_unlock (&self->call_lock);

  if (call) {
    if (sdp_out)
      gst_sip_call_respond (call, 200, "OK", sdp_out, NULL);
    if (answered)
      media_started (self, call, held);
    gst_object_unref (call);
  }
  g_free (sdp_out);
  return G_SOURCE_REMOVE;
}

/* ---- outgoing calls ---- */

static void
reply_dial (GstPromise *promise, GstSipCall *call, gboolean answered,
    gint status, const gchar *reason)
{
  gst_promise_reply (promise,
      gst_structure_new ("sip-dial-result", "answered", G_TYPE_BOOLEAN,
          answered, "status", G_TYPE_INT, status, "reason", G_TYPE_STRING,
          reason ? reason : "", "call-id", G_TYPE_STRING,
          call ? gst_sip_call_get_call_id (call) : "", NULL));
  gst_promise_unref (promise);
}

/* Endpoint thread: a 180/183 (with SDP: early media) or the 200 of our
 * INVITE. The answer's codec must be one we offered. */
static void
outgoing_progress (GstSipBin *self, GstSipCall *call, GstSipCallState state)
{
  GstSipSdpOffer *answer = NULL;
  const GstSipCodec *codec = NULL;
  GstPromise *promise = NULL;
  gboolean early = state == GST_SIP_CALL_STATE_RINGING, held = FALSE;
  gchar *local = NULL, *remote = NULL, *suite = NULL;
  const gchar *sdp;
  gsize len;

  sdp = gst_sip_call_get_remote_sdp (call, &len);
  if (sdp)
    answer = gst_sip_sdp_offer_parse (sdp, len, NULL);

  g_mutex_lock (&self->call_lock);
  if (call != self->call) {
    g_mutex_unlock (&self->call_lock);
    gst_sip_sdp_offer_free (answer);
    return;
  }
  if (answer)
    codec = choose_codec (self, answer, NULL);
  /* an answer that does not match our SRTP offer leaves nothing safe to
   * talk with either */
  if (codec && !take_answer_srtp_locked (self, answer))
    codec = NULL;
  if (codec) {
    gst_sip_codec_free (self->codec);
    self->codec = gst_sip_codec_copy (codec);
    self->telephone_event_pt = answer->telephone_event_pt;
    configure_media (self, answer);
    /* early media: we listen (announcements, ringback), we do not talk */
    if (early && self->rtp_sink)
      g_object_set (self->rtp_sink, "sending", FALSE, NULL);
    held = self->remote_held;
    if (!early)
      self->media_started = TRUE;
    local = host_port (self->sdp_media_address, self->local_media_port);
    remote = host_port (answer->address, answer->port);
    suite = g_strdup (self->local_crypto ? self->local_crypto->suite : NULL);
  }
  if (!early) {
    promise = self->dial_promise;
    self->dial_promise = NULL;
  }
  g_mutex_unlock (&self->call_lock);

  if (early) {
    post_call_message (self, call, "ringing", "early-media", G_TYPE_BOOLEAN,
        codec != NULL, NULL);
  } else if (codec) {
    post_answered (
        self, call, codec, answer->telephone_event_pt, local, remote, suite);
    media_started (self, call, held);
    if (promise)
      reply_dial (promise, call, TRUE, 200, "answered");
    promise = NULL;
  } else {
    /* RFC 3264 6: an answer must pick from the offer; one that does not
     * (or does not parse) leaves nothing to talk with */
    GST_ELEMENT_WARNING (self, STREAM, WRONG_TYPE, (NULL),
        ("Call %s was answered without a usable codec (or SRTP as offered) "
         "in its SDP: hanging up",
            gst_sip_call_get_call_id (call)));
    gst_sip_call_hangup (call);
    if (promise)
      reply_dial (
          promise, call, FALSE, 488, "no usable codec or SRTP in the answer");
  }
  g_free (local);
  g_free (remote);
  g_free (suite);
  gst_sip_sdp_offer_free (answer);
}

/* The local address that reaches the host of @uri, for our SDP when we
 * listen on a wildcard address */
static gchar *
outgoing_media_address (GstSipBin *self, GstSipCall *call)
{
  const gchar *host = gst_sip_endpoint_get_host (self->endpoint);
  gchar *address, *peer = NULL;
  GInetAddress *inet;
  GUri *uri;

  GST_OBJECT_LOCK (self);
  address = g_strdup (self->media_address);
  GST_OBJECT_UNLOCK (self);
  if (address)
    return address;
  inet = g_inet_address_new_from_string (host);
  if (inet && !g_inet_address_get_is_any (inet))
    address = g_strdup (host);
  g_clear_object (&inet);
  if (address)
    return address;
  /* sip:user@host:port: GUri wants an authority */
  uri = g_uri_parse (
      gst_sip_call_get_request_uri (call) + 4, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL) {
    gchar *with_slashes =
        g_strconcat ("sip://", gst_sip_call_get_request_uri (call) + 4, NULL);
    uri = g_uri_parse (with_slashes, G_URI_FLAGS_NONE, NULL);
    g_free (with_slashes);
  }
  if (uri && g_uri_get_host (uri))
    peer = g_strdup (g_uri_get_host (uri));
  g_clear_pointer (&uri, g_uri_unref);
  if (peer)
    address = route_address_to (peer, 5060);
  g_free (peer);
  return address;
}

/* What we offer: the codecs the pipeline takes both ways, in
 * #GstSipBin:codecs order (GstSipCodec, owned). */
static GPtrArray *
offerable_codecs (GstSipBin *self)
{
  GPtrArray *offerable = gst_sip_sdp_offerable_codecs (), *offered;
  GstCaps *recv_caps = peer_caps (self->rtp_src, "src");
  GstCaps *send_caps = peer_caps (self->rtp_sink, "sink");
  gchar **preference = NULL;
  guint i;

  offered =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_sip_codec_free);
  GST_OBJECT_LOCK (self);
  if (self->codecs && *self->codecs)
    preference = g_strsplit (self->codecs, ",", -1);
  GST_OBJECT_UNLOCK (self);
  for (i = 0; i < offerable->len; i++) {
    GstSipCodec *c = g_ptr_array_index (offerable, i);
    GstCaps *caps = gst_sip_codec_to_caps (c);

    if (gst_caps_can_intersect (caps, recv_caps) &&
        gst_caps_can_intersect (caps, send_caps) &&
        preference_rank (preference, c->encoding_name, i) != G_MAXINT)
      g_ptr_array_add (offered, gst_sip_codec_copy (c));
    gst_caps_unref (caps);
  }
  gst_caps_unref (recv_caps);
  gst_caps_unref (send_caps);
  if (preference) {
    /* #GstSipBin:codecs order */
    for (i = 1; i < offered->len; i++) {
      for (guint j = i; j > 0; j--) {
        GstSipCodec *a = g_ptr_array_index (offered, j - 1);
        GstSipCodec *b = g_ptr_array_index (offered, j);

        if (preference_rank (preference, b->encoding_name, 0) >=
            preference_rank (preference, a->encoding_name, 0))
          break;
        offered->pdata[j - 1] = b;
        offered->pdata[j] = a;
      }
    }
  }
  g_strfreev (preference);
  g_ptr_array_unref (offerable);
  return offered;
}

/* What the call says once it is ours, whichever way it started: offers,
 * answers, keys and transfer progress. */
static void
follow_call (GstSipBin *self, GstSipCall *call)
{
  g_signal_connect (call, "reoffer", G_CALLBACK (on_reoffer), self);
  g_signal_connect (call, "answer", G_CALLBACK (on_answer), self);
  g_signal_connect (call, "dtmf", G_CALLBACK (on_call_dtmf), self);
  g_signal_connect (
      call, "transfer-progress", G_CALLBACK (on_transfer_progress), self);
}

/* Binds the call's RTP socket, offers what the pipeline takes and sends
 * the INVITE. @promise (taken) is replied when the call is answered or
 * fails. */
static gboolean
take_outgoing_call (
    GstSipBin *self, GstSipCall *call, GstPromise *promise, GError **error)
{
  GPtrArray *offered = offerable_codecs (self);
  GError *err = NULL;
  gchar *sdp;

  g_mutex_lock (&self->call_lock);
  if (offered->len == 0) {
    g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT,
        "the pipeline takes none of PCMU, PCMA and G722");
  } else if (self->call) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_BUSY,
        "a call is already up");
  } else if (!bind_media_locked (
                 self, outgoing_media_address (self, call), &err)) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ,
        "no RTP socket: %s", err->message);
    g_clear_error (&err);
  }
  if (self->rtp_socket == NULL || self->call) {
    g_mutex_unlock (&self->call_lock);
    g_ptr_array_unref (offered);
    if (promise)
      reply_dial (promise, call, FALSE, 0, (*error)->message);
    return FALSE;
  }
  self->call = gst_object_ref (call);
  self->telephone_event_pt = -1;
  self->session_id = g_get_real_time () / G_USEC_PER_SEC;
  self->session_version = 1;
  self->dial_promise = promise;
  prepare_offer_cryptos_locked (self);
  sdp = build_offer_locked (self, offered);
  g_ptr_array_unref (offered);
  g_signal_connect (
      call, "state-changed", G_CALLBACK (on_call_state_changed), self);
  follow_call (self, call);
  g_mutex_unlock (&self->call_lock);

  GST_INFO_OBJECT (self, "calling %s from %s:%d",
      gst_sip_call_get_request_uri (call), self->local_media_address,
      self->local_media_port);
  post_call_message (self, call, "calling", NULL);
  gst_sip_call_invite (call, sdp);
  g_free (sdp);
  return TRUE;
}

static gboolean
gst_sip_bin_dial (GstSipBin *self, const gchar *uri, GstPromise *promise)
{
  GstSipEndpoint *endpoint = NULL;
  GstSipCall *call;
  GError *err = NULL;
  gchar *from;
  gboolean ok;

  if (promise)
    gst_promise_ref (promise);
  if (!gst_sip_uri_has_numeric_host (uri)) {
    GST_WARNING_OBJECT (self,
        "dial: '%s' is not a sip: URI with a numeric "
        "host",
        uri ? uri : "(null)");
    if (promise)
      reply_dial (
          promise, NULL, FALSE, 0, "not a sip: URI with a numeric host");
    return FALSE;
  }

  g_mutex_lock (&self->call_lock);
  if (self->endpoint && self->owns_endpoint)
    endpoint = gst_object_ref (self->endpoint);
  g_mutex_unlock (&self->call_lock);
  if (endpoint == NULL) {
    if (promise)
      reply_dial (promise, NULL, FALSE, 0,
          "sipbin dials when standalone and in READY or above");
    return FALSE;
  }
  GST_OBJECT_LOCK (self);
  from = g_strdup_printf ("<%s>", self->local_uri);
  GST_OBJECT_UNLOCK (self);
  call = gst_sip_call_new_outgoing (endpoint, uri, from, NULL, NULL);
  g_free (from);
  ok = take_outgoing_call (self, call, promise, &err);
  if (!ok) {
    GST_WARNING_OBJECT (self, "dial %s: %s", uri, err->message);
    g_clear_error (&err);
  }
  gst_object_unref (call);
  gst_object_unref (endpoint);
  return ok;
}

static void
on_call_state_changed (GstSipCall *call, gint state, gint status,
    const gchar *reason, GstSipBin *self)
{
  GstMessage *eos = NULL;
  gboolean current;
  GstPromise *promise = NULL;
  GstStructure *stats = NULL;

  if (gst_sip_call_is_outgoing (call) &&
      (state == GST_SIP_CALL_STATE_RINGING ||
          state == GST_SIP_CALL_STATE_ANSWERED)) {
    outgoing_progress (self, call, state);
    return;
  }

  g_mutex_lock (&self->call_lock);
  current = call == self->call;
  if (current && state == GST_SIP_CALL_STATE_ENDED) {
    /* read before the socket goes; the next call's resets them */
    if (self->rtp_src && self->rtp_socket)
      g_object_get (self->rtp_src, "stats", &stats, NULL);
    release_media_locked (self);
    self->call = NULL;
    g_clear_pointer (&self->transfer_uri, g_free);
    eos = self->pending_eos;
    self->pending_eos = NULL;
    promise = self->dial_promise;
    self->dial_promise = NULL;
  }
  g_mutex_unlock (&self->call_lock);

  if (promise)
    reply_dial (promise, call, FALSE, status, reason);

  if (state == GST_SIP_CALL_STATE_RINGING)
    post_call_message (self, call, "ringing", NULL);
  else if (state == GST_SIP_CALL_STATE_ENDED)
    post_ended (self, call, status, reason, stats);
  if (stats)
    gst_structure_free (stats);

  if (eos)
    GST_BIN_CLASS (parent_class)->handle_message (GST_BIN (self), eos);

  if (state == GST_SIP_CALL_STATE_ENDED) {
    g_signal_handlers_disconnect_by_data (call, self);
    if (current)
      gst_object_unref (call);
  }
}

/* An offerless re-INVITE (RFC 3264 8, RFC 3261 14.2): our 2xx offers the
 * session as it is, unchanged (same version); the answer comes in the ACK
 * (on_answer). */
static void
offer_current_session (GstSipBin *self, GstSipCall *call)
{
  GPtrArray *codecs;
  gchar *offer = NULL;

  g_mutex_lock (&self->call_lock);
  if (call == self->call && self->codec) {
    codecs = g_ptr_array_new ();
    g_ptr_array_add (codecs, self->codec);
    /* the session as it is: the same key, if SRTP */
    g_clear_pointer (&self->offered_cryptos, g_ptr_array_unref);
    if (self->local_crypto) {
      self->offered_cryptos =
          g_ptr_array_new_with_free_func ((GDestroyNotify) gst_sip_crypto_free);
      g_ptr_array_add (
          self->offered_cryptos, gst_sip_crypto_copy (self->local_crypto));
    }
    offer = build_offer_locked (self, codecs);
    g_ptr_array_unref (codecs);
  }
  g_mutex_unlock (&self->call_lock);
  if (offer)
    gst_sip_call_respond (call, 200, "OK", offer, NULL);
  else
    gst_sip_call_respond (call, 500, "Server Internal Error", NULL, NULL);
  g_free (offer);
}

/* Endpoint thread: an offer inside the call (re-INVITE, UPDATE, or the
 * 2xx of our session refresh), answered at once. */
static void
on_reoffer (GstSipCall *call, GstSipBin *self)
{
  GstSipSdpOffer *offer;
  const GstSipCodec *codec;
  GError *err = NULL;
  gchar *answer = NULL;
  const gchar *why = "no codec in common with the call in progress";
  gboolean hold_changed = FALSE, held = FALSE;
  gsize len;
  const gchar *sdp = gst_sip_call_get_remote_sdp (call, &len);

  if (sdp == NULL) {
    offer_current_session (self, call);
    return;
  }
  offer = gst_sip_sdp_offer_parse (sdp, len, &err);
  if (offer == NULL) {
    gst_sip_call_respond (call, 488, "Not Acceptable Here", NULL, err->message);
    g_clear_error (&err);
    return;
  }

  g_mutex_lock (&self->call_lock);
  if (call != self->call || self->codec == NULL) {
    g_mutex_unlock (&self->call_lock);
    gst_sip_sdp_offer_free (offer);
    gst_sip_call_respond (call, 500, "Server Internal Error", NULL, NULL);
    return;
  }
  codec = choose_codec (self, offer, self->codec);
  if (codec) {
    GstSipCrypto *crypto;
    gchar *remote_key;

    if (negotiate_offer_srtp_locked (self, offer, &crypto, &remote_key, &why))
      set_srtp_locked (self, crypto, remote_key);
    else
      codec = NULL;
  }
  if (codec) {
    gboolean changed = codec->pt != self->codec->pt;

    if (changed) {
      gst_sip_codec_free (self->codec);
      self->codec = gst_sip_codec_copy (codec);
    }
    self->telephone_event_pt = offer->telephone_event_pt;
    self->session_version++;
    /* Same session, possibly a new media address (re-anchor). */
    hold_changed = configure_media (self, offer) && self->media_started;
    held = self->remote_held;
    answer = build_answer_locked (self, offer);
  }
  g_mutex_unlock (&self->call_lock);

  if (answer)
    gst_sip_call_respond (call, 200, "OK", answer, NULL);
  else
    gst_sip_call_respond (call, 488, "Not Acceptable Here", NULL, why);
  if (hold_changed)
    send_call_event (
        self, call, "sip-call-hold", "held", G_TYPE_BOOLEAN, held, NULL);
  g_free (answer);
  gst_sip_sdp_offer_free (offer);
}

/* The codec of @answer that we offered (RFC 3264 6: an answer picks from
 * the offer), or NULL */
static const GstSipCodec *
answered_codec (const GPtrArray *offered, const GstSipSdpOffer *answer)
{
  guint i, j;

  for (i = 0; i < answer->codecs->len; i++) {
    const GstSipCodec *a = g_ptr_array_index (answer->codecs, i);

    for (j = 0; j < offered->len; j++) {
      const GstSipCodec *o = g_ptr_array_index (offered, j);

      if (a->pt == o->pt &&
          g_ascii_strcasecmp (a->encoding_name, o->encoding_name) == 0)
        return a;
    }
  }
  return NULL;
}

/* Endpoint thread: the ACK brought the answer to the offer of our 2xx
 * (delayed offer: the call starts now; an offerless re-INVITE: the
 * session goes on). No answer, or one we cannot use: hang up (RFC 3261
 * 13.3.1.4). */
static void
on_answer (GstSipCall *call, GstSipBin *self)
{
  GstSipSdpOffer *answer = NULL;
  const GstSipCodec *codec = NULL;
  gchar *local = NULL, *remote = NULL, *suite = NULL;
  gboolean first = FALSE, hold_changed = FALSE, held = FALSE;
  GPtrArray *offered;
  const gchar *sdp;
  gsize len;

  sdp = gst_sip_call_get_remote_sdp (call, &len);
  if (sdp)
    answer = gst_sip_sdp_offer_parse (sdp, len, NULL);

  g_mutex_lock (&self->call_lock);
  if (call != self->call) {
    g_mutex_unlock (&self->call_lock);
    gst_sip_sdp_offer_free (answer);
    return;
  }
  offered = self->offered ? g_ptr_array_ref (self->offered) : NULL;
  if (offered == NULL && self->codec) {
    offered = g_ptr_array_new ();
    g_ptr_array_add (offered, self->codec);
  }
  if (answer && offered)
    codec = answered_codec (offered, answer);
  if (codec && !take_answer_srtp_locked (self, answer))
    codec = NULL;
  if (codec) {
    first = self->codec == NULL;
    if (first || codec->pt != self->codec->pt) {
      GstSipCodec *copy = gst_sip_codec_copy (codec);

      gst_sip_codec_free (self->codec);
      self->codec = copy;
    }
    g_clear_pointer (&self->offered, g_ptr_array_unref);
    self->telephone_event_pt = answer->telephone_event_pt;
    hold_changed = configure_media (self, answer) && !first;
    held = self->remote_held;
    if (first) {
      local = host_port (self->sdp_media_address, self->local_media_port);
      remote = host_port (answer->address, answer->port);
      suite = g_strdup (self->local_crypto ? self->local_crypto->suite : NULL);
      self->media_started = TRUE;
    }
  }
  g_mutex_unlock (&self->call_lock);

  if (codec == NULL) {
    GST_ELEMENT_WARNING (self, STREAM, WRONG_TYPE, (NULL),
        ("Call %s: the ACK brought %s to our offer: hanging up",
            gst_sip_call_get_call_id (call),
            sdp ? "no usable answer" : "no answer"));
    gst_sip_call_hangup_full (call, "no-answer-sdp");
  } else if (first) {
    post_answered (
        self, call, codec, answer->telephone_event_pt, local, remote, suite);
    media_started (self, call, held);
  } else if (hold_changed) {
    send_call_event (
        self, call, "sip-call-hold", "held", G_TYPE_BOOLEAN, held, NULL);
  }
  if (offered)
    g_ptr_array_unref (offered);
  g_free (local);
  g_free (remote);
  g_free (suite);
  gst_sip_sdp_offer_free (answer);
}

/* The INVITE's offer, or NULL: after rejecting the call (400 for SDP that
 * does not parse, 488 for no usable audio), or with @offerless set for an
 * INVITE without SDP (delayed offer: we offer in the 200). */
static GstSipSdpOffer *
parse_offer_or_reject (GstSipBin *self, GstSipCall *call, gboolean *offerless)
{
  GstSipSdpOffer *offer;
  GError *err = NULL;
  const gchar *sdp;
  gsize len;

  sdp = gst_sip_call_get_remote_sdp (call, &len);
  *offerless = sdp == NULL;
  if (sdp == NULL)
    return NULL;
  offer = gst_sip_sdp_offer_parse (sdp, len, &err);
  if (offer == NULL) {
    GST_INFO_OBJECT (self, "rejecting call: %s", err->message);
    if (g_error_matches (err, GST_SIP_SDP_ERROR, GST_SIP_SDP_ERROR_PARSE))
      gst_sip_call_respond (call, 400, "Bad Request", NULL, err->message);
    else
      gst_sip_call_respond (
          call, 488, "Not Acceptable Here", NULL, err->message);
    g_clear_error (&err);
  }
  return offer;
}

/* Call with call_lock held: the RTP socket of an incoming call, or a
 * warning (the caller then answers 503). */
static gboolean
bind_call_media_locked (GstSipBin *self, GstSipCall *call, gchar *address)
{
  GError *err = NULL;

  if (bind_media_locked (self, address, &err))
    return TRUE;
  GST_ELEMENT_WARNING (self, RESOURCE, OPEN_READ_WRITE, (NULL),
      ("No RTP socket for call %s: %s", gst_sip_call_get_call_id (call),
          err->message));
  g_clear_error (&err);
  return FALSE;
}

/* Call with call_lock held, @call taken as ours; returns with it released.
 * Follows the call's offers and transfers, rings (180) and answers after
 * #GstSipBin:ring-time. */
static void
ring_call_unlock (GstSipBin *self, GstSipCall *call)
{
  GstSipEndpoint *endpoint = gst_sip_call_get_endpoint (call);
  guint ring_time;

  GST_OBJECT_LOCK (self);
  ring_time = self->ring_time;
  GST_OBJECT_UNLOCK (self);
  follow_call (self, call);
  g_mutex_unlock (&self->call_lock);

  /* An application that rang the call itself while it built this pipeline
   * (the gst-sip-agent server does) gets no second 180. The state only
   * moves forward, so a read off the endpoint thread is safe here. */
  if (gst_sip_call_get_state (call) < GST_SIP_CALL_STATE_RINGING)
    gst_sip_call_respond (call, 180, "Ringing", NULL, NULL);
  else
    post_call_message (self, call, "ringing", NULL);

  g_mutex_lock (&self->call_lock);
  if (self->call == call)
    self->ring_timer = gst_sip_endpoint_add_timeout (
        endpoint, ring_time, answer_call, self, NULL);
  g_mutex_unlock (&self->call_lock);
}

/* Negotiates @call's @offer (taken) against the pipeline, sets up its media
 * and answers it (180, then 200 after ring-time). Call with call_lock held;
 * returns with it released. Any thread: responses are marshalled to the
 * endpoint. */
static void
take_call_unlock (GstSipBin *self, GstSipCall *call, GstSipSdpOffer *offer)
{
  const GstSipCodec *codec;
  GstSipCrypto *local = NULL;
  gchar *remote_key = NULL;
  const gchar *why = NULL;

  codec = choose_codec (self, offer, NULL);
  if (codec == NULL) {
    g_mutex_unlock (&self->call_lock);
    gst_sip_sdp_offer_free (offer);
    gst_sip_call_respond (call, 488, "Not Acceptable Here", NULL,
        "no offered codec is accepted by the pipeline");
    return;
  }
  if (!negotiate_offer_srtp_locked (self, offer, &local, &remote_key, &why)) {
    g_mutex_unlock (&self->call_lock);
    GST_INFO_OBJECT (
        self, "call %s: 488, %s", gst_sip_call_get_call_id (call), why);
    gst_sip_sdp_offer_free (offer);
    gst_sip_call_respond (call, 488, "Not Acceptable Here", NULL, why);
    return;
  }

  if (!bind_call_media_locked (self, call, local_media_address (self, offer))) {
    g_mutex_unlock (&self->call_lock);
    gst_sip_sdp_offer_free (offer);
    gst_sip_crypto_free (local);
    g_free (remote_key);
    gst_sip_call_respond (
        call, 503, "Service Unavailable", NULL, "no media port available");
    return;
  }

  self->call = gst_object_ref (call);
  set_srtp_locked (self, local, remote_key);
  self->codec = gst_sip_codec_copy (codec);
  self->telephone_event_pt = offer->telephone_event_pt;
  self->session_id = g_get_real_time () / G_USEC_PER_SEC;
  self->session_version = 1;
  GST_INFO_OBJECT (self, "call %s: %s/%d on %s:%d -> %s:%d",
      gst_sip_call_get_call_id (call), codec->encoding_name, codec->clock_rate,
      self->local_media_address, self->local_media_port, offer->address,
      offer->port);
  /* Media first, so that the caller's first packets after our 200 are
   * already received. */
  configure_media (self, offer);
  gst_sip_sdp_offer_free (offer);

  ring_call_unlock (self, call);
}

/* Our media address for a call that made no offer: #GstSipBin:media-address,
 * the address we listen on, or the numeric host the caller sent the
 * INVITE to (an address that reaches us). */
static gchar *
offerless_media_address (GstSipBin *self, GstSipCall *call)
{
  const gchar *host = gst_sip_endpoint_get_host (self->endpoint);
  const gchar *request_uri = gst_sip_call_get_request_uri (call);
  gchar *address;
  GInetAddress *inet;

  GST_OBJECT_LOCK (self);
  address = g_strdup (self->media_address);
  GST_OBJECT_UNLOCK (self);
  if (address)
    return address;
  inet = g_inet_address_new_from_string (host);
  if (inet && !g_inet_address_get_is_any (inet))
    address = g_strdup (host);
  g_clear_object (&inet);
  if (address == NULL && gst_sip_uri_has_numeric_host (request_uri)) {
    const gchar *at = strchr (request_uri, '@');
    const gchar *h = at ? at + 1 : request_uri + 4;

    if (*h == '[')
      address = g_strndup (h + 1, strcspn (h + 1, "]"));
    else
      address = g_strndup (h, strcspn (h, ":;?>"));
  }
  return address;
}

/* Delayed offer (RFC 3261 13.2.1): an INVITE without SDP. Binds the
 * call's RTP socket and rings; answer_call() offers what the pipeline
 * takes in the 200 and on_answer() starts the media from the ACK's answer.
 * Call with call_lock held; returns with it released. */
static void
take_offerless_call_unlock (GstSipBin *self, GstSipCall *call)
{
  GPtrArray *offered;

  g_mutex_unlock (&self->call_lock);
  offered = offerable_codecs (self);
  g_mutex_lock (&self->call_lock);
  if (offered->len == 0 || self->call) {
    gboolean busy = self->call != NULL;

    g_mutex_unlock (&self->call_lock);
    g_ptr_array_unref (offered);
    if (busy)
      gst_sip_call_respond (call, 486, "Busy Here", NULL, NULL);
    else
      gst_sip_call_respond (call, 488, "Not Acceptable Here", NULL,
          "the pipeline takes none of PCMU, PCMA and G722");
    return;
  }
  if (!bind_call_media_locked (
          self, call, offerless_media_address (self, call))) {
    g_mutex_unlock (&self->call_lock);
    g_ptr_array_unref (offered);
    gst_sip_call_respond (
        call, 503, "Service Unavailable", NULL, "no media port available");
    return;
  }
  self->call = gst_object_ref (call);
  self->offered = offered;
  prepare_offer_cryptos_locked (self);
  self->telephone_event_pt = -1;
  self->session_id = g_get_real_time () / G_USEC_PER_SEC;
  self->session_version = 1;
  GST_INFO_OBJECT (self, "call %s without an offer: we offer from %s:%d",
      gst_sip_call_get_call_id (call), self->local_media_address,
      self->local_media_port);
  ring_call_unlock (self, call);
}

/* A call for this bin: its offer (or none) is negotiated and it rings. */
static void
take_new_call (GstSipBin *self, GstSipCall *call)
{
  GstSipSdpOffer *offer;
  gboolean offerless;

  /* The offer is checked first: a broken one gets its 400 even while a
   * call is up. */
  offer = parse_offer_or_reject (self, call, &offerless);
  if (offer == NULL && !offerless)
    return;

  g_mutex_lock (&self->call_lock);
  if (self->call) {
    g_mutex_unlock (&self->call_lock);
    gst_sip_sdp_offer_free (offer);
    gst_sip_call_respond (call, 486, "Busy Here", NULL, NULL);
    return;
  }
  if (offerless)
    take_offerless_call_unlock (self, call);
  else
    take_call_unlock (self, call, offer);
}

static void
on_incoming_call (GstSipEndpoint *endpoint, GstSipCall *call, GstSipBin *self)
{
  post_call_message (self, call, "incoming", NULL);
  g_signal_connect (
      call, "state-changed", G_CALLBACK (on_call_state_changed), self);
  take_new_call (self, call);
}

static void
gst_sip_bin_hangup (GstSipBin *self)
{
  GstSipCall *call = NULL;

  g_mutex_lock (&self->call_lock);
  if (self->call)
    call = gst_object_ref (self->call);
  g_mutex_unlock (&self->call_lock);
  if (call) {
    GST_INFO_OBJECT (
        self, "hanging up call %s", gst_sip_call_get_call_id (call));
    gst_sip_call_hangup (call);
    gst_object_unref (call);
  }
}

/* ---- transfer ---- */

static gboolean
is_transfer_uri (const gchar *target)
{
  return target &&
      (g_ascii_strncasecmp (target, "sip:", 4) == 0 ||
          g_ascii_strncasecmp (target, "sips:", 5) == 0 ||
          g_ascii_strncasecmp (target, "tel:", 4) == 0);
}

static void
post_transfer_message (GstSipBin *self, GstSipCall *call, const gchar *target,
    const gchar *state, gint status, const gchar *reason)
{
  GstStructure *s;

  s = gst_structure_new ("sip-transfer", "target", G_TYPE_STRING,
      target ? target : "", "state", G_TYPE_STRING, state, "status", G_TYPE_INT,
      status, "reason", G_TYPE_STRING, reason ? reason : "", NULL);
  if (call)
    gst_structure_set (
        s, "call-id", G_TYPE_STRING, gst_sip_call_get_call_id (call), NULL);
  gst_element_post_message (
      GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

/* Tells the pipeline inside (the agent) how the transfer ended. It enters
 * through sipsrc as an out-of-band event, as sip-call-ended does: a
 * serialized one would wait inside GstAudioDecoder for the next decoded
 * buffer, and a caller on hold sends none. GstBaseSrc pushes an OOB event
 * from the calling thread at once (the endpoint thread here, or the thread
 * that asked for the transfer). */
static void
send_transfer_result (GstSipBin *self, GstSipCall *call, const gchar *target,
    gboolean success, gint status)
{
  send_call_event (self, call, "sip-transfer-result", "success", G_TYPE_BOOLEAN,
      success, "status", G_TYPE_INT, status, "target", G_TYPE_STRING,
      target ? target : "", NULL);
}

static gboolean
gst_sip_bin_send_dtmf (GstSipBin *self, const gchar *keys)
{
  GstElement *sink = NULL;
  gboolean ok = FALSE;

  g_mutex_lock (&self->call_lock);
  if (self->call && self->rtp_sink && self->rtp_socket &&
      (gst_sip_call_get_state (self->call) == GST_SIP_CALL_STATE_ANSWERED ||
          gst_sip_call_get_state (self->call) == GST_SIP_CALL_STATE_CONFIRMED))
    sink = gst_object_ref (self->rtp_sink);
  g_mutex_unlock (&self->call_lock);
  if (sink == NULL) {
    GST_WARNING_OBJECT (self, "send-dtmf %s: no answered call", keys);
    return FALSE;
  }
  g_signal_emit_by_name (sink, "send-dtmf", keys, &ok);
  gst_object_unref (sink);
  return ok;
}

/* Endpoint thread: a key press in a SIP INFO. It goes to the bus as the
 * start and end `dtmf-event` messages an RFC 4733 key press gives, and
 * into the pipeline through sipsrc, which sends the events down as it does
 * its own (out of band once the call's media flows). The INFO comes when
 * the key is released (it carries the duration), so both go at once. */
static void
on_call_dtmf (GstSipCall *call, gint number, gint duration_ms, gint method,
    GstSipBin *self)
{
  GstElement *src;
  gint i;

  g_mutex_lock (&self->call_lock);
  src = self->rtp_src && self->call == call ? gst_object_ref (self->rtp_src)
                                            : NULL;
  g_mutex_unlock (&self->call_lock);

  for (i = 0; i < 2; i++) {
    GstStructure *s = gst_structure_new ("dtmf-event", "type", G_TYPE_INT, 1,
        "number", G_TYPE_INT, number, "method", G_TYPE_INT, method, "start",
        G_TYPE_BOOLEAN, i == 0, NULL);

    if (i == 1 && duration_ms >= 0)
      gst_structure_set (s, "duration", G_TYPE_INT, duration_ms, NULL);
    if (src &&
        !gst_element_send_event (src,
            gst_event_new_custom (
                GST_EVENT_CUSTOM_DOWNSTREAM_OOB, gst_structure_copy (s))))
      GST_DEBUG_OBJECT (self, "sipsrc did not take the dtmf-event");
    gst_element_post_message (
        GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
  }
  if (src)
    gst_object_unref (src);
}

/* Endpoint thread. */
static void
on_transfer_progress (GstSipCall *call, gint state, gint status,
    const gchar *reason, GstSipBin *self)
{
  gboolean final =
      state == GST_SIP_TRANSFER_SUCCEEDED || state == GST_SIP_TRANSFER_FAILED;
  gchar *target;

  g_mutex_lock (&self->call_lock);
  target = g_strdup (self->transfer_uri);
  if (final)
    g_clear_pointer (&self->transfer_uri, g_free);
  g_mutex_unlock (&self->call_lock);

  post_transfer_message (self, call, target,
      gst_sip_transfer_state_name ((GstSipTransferState) state), status,
      reason);
  /* A transfer cut short by the end of the call has nobody to tell. */
  if (final && gst_sip_call_get_state (call) != GST_SIP_CALL_STATE_ENDED)
    send_transfer_result (
        self, call, target, state == GST_SIP_TRANSFER_SUCCEEDED, status);
  g_free (target);
}

/* A transfer that never starts fails at once, on the bus and inside. */
static void
transfer_refused (GstSipBin *self, GstSipCall *call, const gchar *target,
    const gchar *reason, gboolean tell_inside)
{
  GST_WARNING_OBJECT (self, "no transfer to %s: %s", target, reason);
  post_transfer_message (self, call, target, "failed", 0, reason);
  if (call && tell_inside)
    send_transfer_result (self, call, target, FALSE, 0);
}

static void
gst_sip_bin_transfer_failed (
    GstSipBin *self, const gchar *target, gint status, const gchar *reason)
{
  GstSipCall *call = NULL;

  g_mutex_lock (&self->call_lock);
  if (self->call)
    call = gst_object_ref (self->call);
  g_mutex_unlock (&self->call_lock);
  post_transfer_message (self, call, target, "failed", status, reason);
  if (call) {
    send_transfer_result (self, call, target, FALSE, status);
    gst_object_unref (call);
  }
}

static gboolean
gst_sip_bin_transfer (GstSipBin *self, const gchar *requested)
{
  GstSipCall *call = NULL;
  gchar *uri, *reason;
  guint timeout;
  gboolean busy = FALSE, started = FALSE;

  GST_OBJECT_LOCK (self);
  uri = g_strdup (
      is_transfer_uri (requested) ? requested : self->transfer_target);
  timeout = self->transfer_timeout;
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&self->call_lock);
  if (self->call)
    call = gst_object_ref (self->call);
  g_mutex_unlock (&self->call_lock);

  if (call == NULL) {
    transfer_refused (self, NULL, requested, "no call in progress", FALSE);
  } else if (!is_transfer_uri (uri)) {
    reason = g_strdup_printf ("\"%s\" is not a sip:, sips: or tel: URI and "
                              "transfer-target %s",
        requested ? requested : "", uri ? "is not one either" : "is not set");
    transfer_refused (self, call, requested, reason, TRUE);
    g_free (reason);
  } else {
    g_mutex_lock (&self->call_lock);
    if (self->transfer_uri || call != self->call)
      busy = TRUE;
    else
      self->transfer_uri = g_strdup (uri);
    g_mutex_unlock (&self->call_lock);
    if (!busy) {
      GST_INFO_OBJECT (self, "transferring call %s to %s",
          gst_sip_call_get_call_id (call), uri);
      started = gst_sip_call_refer_full (call, uri, timeout);
      if (!started) {
        /* the application started one on the call itself */
        g_mutex_lock (&self->call_lock);
        g_clear_pointer (&self->transfer_uri, g_free);
        g_mutex_unlock (&self->call_lock);
        busy = TRUE;
      }
    }
    /* The transfer in progress goes on; the agent hears about that one. */
    if (busy)
      transfer_refused (
          self, call, uri, "another transfer is in progress", FALSE);
  }
  g_free (uri);
  gst_clear_object (&call);
  return started;
}

/* ---- element ---- */

/* ---- registration (standalone, #GstSipBin:registrar) ---- */

/* endpoint thread */
static void
on_registration_state (GstSipTrunk *trunk, gint state, gint status,
    const gchar *phrase, guint retry, GstSipBin *self)
{
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self),
          gst_structure_new ("sip-registration", "state", G_TYPE_STRING,
              gst_sip_registration_state_name (state), "status", G_TYPE_INT,
              status, "reason", G_TYPE_STRING, phrase ? phrase : "",
              "retry-seconds", G_TYPE_UINT, retry, NULL)));
}

static void stop_endpoint (GstSipBin *self);

static gboolean
start_registration (GstSipBin *self, GstSipEndpoint *endpoint)
{
  GstSipTrunkConfig *c;
  gboolean ok = TRUE;

  GST_OBJECT_LOCK (self);
  if (self->registrar == NULL) {
    GST_OBJECT_UNLOCK (self);
    return TRUE;
  }
  c = gst_sip_trunk_config_new ("sipbin");
  c->registrar = g_strdup (self->registrar);
  c->username = g_strdup (self->username);
  c->password = g_strdup (self->password);
  GST_OBJECT_UNLOCK (self);

  if (!g_str_has_prefix (c->registrar, "sip:") || c->username == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, (NULL),
        ("registrar needs a sip: URI and a username (got %s, %s)", c->registrar,
            c->username ? c->username : "no username"));
    ok = FALSE;
  } else {
    GstSipTrunk *trunk = gst_sip_trunk_new (endpoint, c);

    g_signal_connect (
        trunk, "registration-state", G_CALLBACK (on_registration_state), self);
    g_mutex_lock (&self->call_lock);
    self->trunk = trunk;
    g_mutex_unlock (&self->call_lock);
  }
  gst_sip_trunk_config_free (c);
  return ok;
}

static gboolean
start_endpoint (GstSipBin *self)
{
  GError *err = NULL;
  gchar *uri, *ua, *external, *tls_dir;
  GstSipSrtpPolicy srtp;
  GstSipEndpointSettings settings = GST_SIP_ENDPOINT_SETTINGS_INIT;
  GstSipEndpoint *endpoint;
  GstSipCall *attached;

  if (gst_element_factory_find ("sipsrc") == NULL ||
      gst_element_factory_find ("sipsink") == NULL) {
    GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN, (NULL),
        ("sipbin needs the sipsrc and sipsink elements (gst-sip-agent's "
         "'sip' plugin)"));
    return FALSE;
  }

  g_mutex_lock (&self->call_lock);
  self->rtp_src = find_child (self, "sipsrc");
  self->rtp_sink = find_child (self, "sipsink");
  g_mutex_unlock (&self->call_lock);
  if (self->rtp_src == NULL && self->rtp_sink == NULL) {
    GST_ELEMENT_ERROR (self, CORE, FAILED, (NULL),
        ("sipbin has no sipsrc or sipsink inside: nothing to carry a call"));
    return FALSE;
  }

  GST_OBJECT_LOCK (self);
  uri = g_strdup (self->local_uri);
  ua = g_strdup (self->user_agent);
  settings.session_expires = self->session_expires;
  settings.min_se = self->min_se;
  settings.external_address = external = g_strdup (self->external_address);
  settings.tls_port = self->tls_port;
  settings.tls_dir = tls_dir = g_strdup (self->tls_dir);
  settings.tls_verify = self->tls_verify;
  srtp = self->srtp;
  attached = self->attached_call ? gst_object_ref (self->attached_call) : NULL;
  GST_OBJECT_UNLOCK (self);

  if (srtp == GST_SIP_SRTP_REQUIRED && !srtp_available (self)) {
    GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN, (NULL),
        ("srtp=required, but sipsrc/sipsink were built without SRTP "
         "(libsrtp2)"));
    g_free (uri);
    g_free (ua);
    g_free (external);
    g_free (tls_dir);
    gst_clear_object (&attached);
    return FALSE;
  }

  if (attached) {
    /* The application owns the endpoint; we only borrow it. */
    g_mutex_lock (&self->call_lock);
    self->endpoint = gst_object_ref (gst_sip_call_get_endpoint (attached));
    self->owns_endpoint = FALSE;
    g_mutex_unlock (&self->call_lock);
    gst_object_unref (attached);
    g_free (uri);
    g_free (ua);
    g_free (external);
    g_free (tls_dir);
    return TRUE;
  }

  endpoint = gst_sip_endpoint_new_full (uri, ua, &settings, &err);
  g_free (external);
  g_free (tls_dir);
  if (endpoint == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ_WRITE,
        ("Could not listen for SIP on %s", uri), ("%s", err->message));
    g_clear_error (&err);
    g_free (uri);
    g_free (ua);
    return FALSE;
  }
  g_signal_connect (
      endpoint, "incoming-call", G_CALLBACK (on_incoming_call), self);
  g_mutex_lock (&self->call_lock);
  self->endpoint = endpoint;
  self->owns_endpoint = TRUE;
  g_mutex_unlock (&self->call_lock);
  if (!start_registration (self, endpoint)) {
    stop_endpoint (self);
    return FALSE;
  }
  g_free (uri);
  g_free (ua);
  return TRUE;
}

/* Attached mode, READY->PAUSED: answer the application's call. */
static void
take_attached_call (GstSipBin *self)
{
  GstSipCall *call;

  GST_OBJECT_LOCK (self);
  call = self->attached_call ? gst_object_ref (self->attached_call) : NULL;
  GST_OBJECT_UNLOCK (self);
  if (call == NULL)
    return;

  if (gst_sip_call_is_outgoing (call)) {
    GError *err = NULL;

    if (gst_sip_call_get_state (call) == GST_SIP_CALL_STATE_CALLING &&
        !take_outgoing_call (self, call, NULL, &err)) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ_WRITE, (NULL),
          ("Cannot place call %s: %s", gst_sip_call_get_call_id (call),
              err->message));
      g_clear_error (&err);
      gst_sip_call_hangup (call);
    }
    gst_object_unref (call);
    return;
  }

  g_mutex_lock (&self->call_lock);
  if (self->call ||
      gst_sip_call_get_state (call) > GST_SIP_CALL_STATE_RINGING) {
    g_mutex_unlock (&self->call_lock);
    gst_object_unref (call);
    return;
  }
  g_mutex_unlock (&self->call_lock);
  post_call_message (self, call, "incoming", NULL);
  g_signal_connect (
      call, "state-changed", G_CALLBACK (on_call_state_changed), self);
  take_new_call (self, call);
  gst_object_unref (call);
}

static void
stop_endpoint (GstSipBin *self)
{
  GstSipEndpoint *endpoint;
  gboolean owns;

  g_mutex_lock (&self->call_lock);
  endpoint = self->endpoint;
  owns = self->owns_endpoint;
  g_mutex_unlock (&self->call_lock);
  if (endpoint && owns) {
    /* BYEs the call in progress and waits for the stack to wind down;
     * state callbacks run meanwhile on the endpoint thread. */
    gst_sip_endpoint_shutdown (endpoint);
    g_signal_handlers_disconnect_by_data (endpoint, self);
  }
  if (self->trunk) {
    g_signal_handlers_disconnect_by_data (self->trunk, self);
    gst_clear_object (&self->trunk);
  }

  g_mutex_lock (&self->call_lock);
  if (self->call) {
    g_signal_handlers_disconnect_by_data (self->call, self);
    gst_clear_object (&self->call);
  }
  release_media_locked (self);
  gst_clear_message (&self->pending_eos);
  g_clear_pointer (&self->transfer_uri, g_free);
  if (self->dial_promise) {
    reply_dial (self->dial_promise, NULL, FALSE, 0, "sipbin stopped");
    self->dial_promise = NULL;
  }
  self->endpoint = NULL;
  gst_clear_object (&self->rtp_src);
  gst_clear_object (&self->rtp_sink);
  g_mutex_unlock (&self->call_lock);
  gst_clear_object (&endpoint);
}

static GstStateChangeReturn
gst_sip_bin_change_state (GstElement *element, GstStateChange transition)
{
  GstSipBin *self = GST_SIP_BIN (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_NULL_TO_READY:
      if (!start_endpoint (self))
        return GST_STATE_CHANGE_FAILURE;
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      gst_sip_bin_hangup (self);
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    if (transition == GST_STATE_CHANGE_NULL_TO_READY)
      stop_endpoint (self);
    return ret;
  }

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      take_attached_call (self);
      break;
    case GST_STATE_CHANGE_READY_TO_NULL:
      stop_endpoint (self);
      break;
    default:
      break;
  }
  return ret;
}

static gboolean
is_agent_action (const GstStructure *s, const gchar *action)
{
  return s && gst_structure_has_name (s, "agent-action") &&
      g_strcmp0 (gst_structure_get_string (s, "action"), action) == 0;
}

static void
gst_sip_bin_handle_message (GstBin *bin, GstMessage *message)
{
  GstSipBin *self = GST_SIP_BIN (bin);

  if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_EOS &&
      GST_MESSAGE_SRC (message) == GST_OBJECT_CAST (self->rtp_sink)) {
    gboolean held = FALSE;

    /* Hold the EOS back until the call has ended, so that the application
     * sees `ended` (with the BYE's outcome) before EOS makes it stop. */
    g_mutex_lock (&self->call_lock);
    if (self->call && self->pending_eos == NULL) {
      self->pending_eos = message;
      held = TRUE;
    }
    g_mutex_unlock (&self->call_lock);
    GST_INFO_OBJECT (self, "EOS reached sipsink: ending the call");
    gst_sip_bin_hangup (self);
    if (held)
      return;
  } else if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ELEMENT &&
      (is_agent_action (gst_message_get_structure (message), "hangup") ||
          is_agent_action (gst_message_get_structure (message), "callback"))) {
    /* callback: the application (the gst-sip-agent server) places the call
     * once this one is over */
    GST_INFO_OBJECT (self, "%s asks to hang up",
        GST_OBJECT_NAME (GST_MESSAGE_SRC (message)));
    gst_sip_bin_hangup (self);
  } else if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ELEMENT &&
      is_agent_action (gst_message_get_structure (message), "transfer") &&
      !self->application_transfers) {
    const gchar *target = gst_structure_get_string (
        gst_message_get_structure (message), "target");

    GST_INFO_OBJECT (self, "%s asks to transfer to %s",
        GST_OBJECT_NAME (GST_MESSAGE_SRC (message)), target ? target : "?");
    gst_sip_bin_transfer (self, target);
  } else if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ELEMENT &&
      is_agent_action (gst_message_get_structure (message), "send-dtmf")) {
    const gchar *digits = gst_structure_get_string (
        gst_message_get_structure (message), "digits");

    GST_INFO_OBJECT (self, "%s asks to send DTMF %s",
        GST_OBJECT_NAME (GST_MESSAGE_SRC (message)), digits ? digits : "?");
    if (digits == NULL || !gst_sip_bin_send_dtmf (self, digits))
      GST_WARNING_OBJECT (
          self, "could not send DTMF %s", digits ? digits : "(no digits)");
  }
  GST_BIN_CLASS (parent_class)->handle_message (bin, message);
}
