/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_RTP_CHANNEL_H__
#define __GST_SIP_RTP_CHANNEL_H__

#include <gio/gio.h>
#include <sys/socket.h>

G_BEGIN_DECLS

/* The far end of one call's media, shared by the sipsrc and sipsink that use
 * the same RTP socket (symmetric RTP). It travels with the GSocket as qdata so
 * that sipbin, which lives in another plugin, only has to hand both elements
 * the same socket. When sipsrc re-latches (NAT), sipsink follows at once. */
typedef struct _GstSipRtpChannel GstSipRtpChannel;

typedef struct
{
  struct sockaddr_storage addr;
  socklen_t len; /* 0: no remote known */
} GstSipRtpAddress;

GstSipRtpChannel *gst_sip_rtp_channel_get (GSocket *socket);
void gst_sip_rtp_channel_unref (GstSipRtpChannel *channel);

void gst_sip_rtp_channel_set_remote (
    GstSipRtpChannel *channel, const gchar *host, gint port);
void gst_sip_rtp_channel_set_remote_native (
    GstSipRtpChannel *channel, const GstSipRtpAddress *address);
gchar *gst_sip_rtp_channel_dup_remote_host (GstSipRtpChannel *channel);
gint gst_sip_rtp_channel_get_remote_port (GstSipRtpChannel *channel);

/* Cheap per-packet check: returns TRUE and refreshes @address only when the
 * remote changed since @generation was last seen. */
gboolean gst_sip_rtp_channel_refresh (
    GstSipRtpChannel *channel, gint *generation, GstSipRtpAddress *address);

/* sipsink, per packet sent: a few atomic stores. sipsrc reads them for its
 * RTCP sender reports; packets and octets wrap as RFC 3550 6.4.1 says. */
void gst_sip_rtp_channel_note_sent (GstSipRtpChannel *channel, guint32 ssrc,
    guint32 rtptime, guint payload_octets);
/* Returns the packets sent (0: nothing yet) */
guint32 gst_sip_rtp_channel_get_sent (GstSipRtpChannel *channel, guint32 *ssrc,
    guint32 *rtptime, guint32 *octets);

gboolean gst_sip_rtp_address_equal (
    const GstSipRtpAddress *a, const GstSipRtpAddress *b);
gchar *gst_sip_rtp_address_to_string (const GstSipRtpAddress *a);

G_END_DECLS
#endif
