/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_SERVER_CONFIG_H__
#define __GST_SIP_SERVER_CONFIG_H__

#include <gst/gst.h>
#include <gst/sip/gstsiptrunk.h>

G_BEGIN_DECLS

/* The gst-sip-agent configuration file (docs/server.md): [server] and one
 * [office NAME] per office. Loaded whole and immutable after: a reload
 * builds a new one and the server swaps it in for new calls. */

typedef struct
{
  gchar *name;
  GStrv dids; /* E.164, "+19195550100" */
  gchar *script; /* absolute path, or NULL: the agent's built-in script */
  gchar *voice; /* ttsbridge voice, or NULL */
  gchar *tts_backend; /* ttsbridge backend, or NULL */
  gchar *language; /* "en" ... */
  gchar *transfer; /* sip:, sips: or tel: URI, or NULL */
  gboolean attended_transfer; /* transfer-mode = attended */
  gchar *record_audio; /* "off", "wav" or "ogg" */
  gchar *trunk; /* name of the trunk its calls come on, or NULL: any */
  guint line;
} GstSipOfficeConfig;

typedef struct
{
  gint refcount;
  gchar *filename;

  /* [server] */
  gchar *listen; /* host:port, IPv6 in brackets */
  gchar *records; /* directory, absolute */
  guint max_calls;
  gchar *launch; /* what goes inside each call's sipbin */
  gchar *default_office; /* name, or NULL: unknown numbers get 404 */
  guint drain_timeout; /* s */
  guint media_timeout; /* s without RTP (not on hold) before BYE; 0: off */
  guint session_expires; /* RFC 4028 session interval asked for, s; 0: none */
  gchar *external_address; /* 1:1 NAT: the public address for Contact, Via
                            * and SDP, or NULL */
  guint tls_port; /* SIP over TLS on the listen host, 0: none */
  gchar *tls_dir; /* absolute: agent.pem, cafile.pem */
  gboolean tls_verify; /* verify servers we connect to */
  gint srtp; /* GstSipSrtpPolicy of calls on no trunk with its own */
  guint retry_after; /* s, in 503 responses */
  guint rtp_port_min, rtp_port_max;
  gchar *media_address;
  gchar *record_audio; /* the offices' default: "off", "wav" or "ogg" */
  guint stt_preload; /* speech recognizers loaded at start, per sttbridge */

  GPtrArray *offices; /* (element-type GstSipOfficeConfig) in file order */
  GPtrArray *trunks; /* (element-type GstSipTrunkConfig) in file order */
} GstSipServerConfig;

/* the speech loop, behind a receive path for real lines: a jitter buffer
 * (reordering, lost packets as gaps) and loss concealment */
#define GST_SIP_SERVER_DEFAULT_LAUNCH \
  "sipsrc receive-thread=shared ! rtpjitterbuffer latency=60 do-lost=true " \
  "! rtppcmudepay ! " \
  "mulawdec ! sipplc ! audioresample ! sttbridge ! agent ! ttsbridge ! " \
  "audioresample ! mulawenc ! rtppcmupay ! sipsink"

GstSipServerConfig *gst_sip_server_config_load (
    const gchar *filename, GError **error);
/* from text, for tests and applications; @filename names it in errors and
 * is where relative paths start */
GstSipServerConfig *gst_sip_server_config_load_data (
    const gchar *filename, const gchar *text, GError **error);
GstSipServerConfig *gst_sip_server_config_ref (GstSipServerConfig *config);
void gst_sip_server_config_unref (GstSipServerConfig *config);

/* The office whose DID is @number (digits with or without +, a national
 * number without the country code), or NULL. */
const GstSipOfficeConfig *gst_sip_server_config_find_office (
    const GstSipServerConfig *config, const gchar *number);
const GstSipOfficeConfig *gst_sip_server_config_get_office (
    const GstSipServerConfig *config, const gchar *name);
const GstSipTrunkConfig *gst_sip_server_config_get_trunk (
    const GstSipServerConfig *config, const gchar *name);

G_END_DECLS
#endif
