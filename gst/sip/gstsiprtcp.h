/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_RTCP_H__
#define __GST_SIP_RTCP_H__

#include <gst/gst.h>

G_BEGIN_DECLS

/* RTCP (RFC 3550 6) for one call: the compound reports sipsrc sends every
 * few seconds and what it reads from the far end's. */

/* What we sent since the call began, for a sender report */
typedef struct
{
  guint32 ssrc;
  guint32 rtptime; /* of the last packet */
  guint32 packets;
  guint32 octets; /* payload octets */
} GstSipRtcpSender;

/* One report block (RFC 3550 6.4.1) */
typedef struct
{
  guint32 ssrc; /* the source it is about */
  guint8 fraction_lost; /* of 256, since the previous report */
  gint32 packets_lost; /* cumulative, 24 bits signed */
  guint32 ext_highest_seq;
  guint32 jitter; /* timestamp units */
  guint32 lsr; /* middle 32 bits of the last SR's NTP time, 0: none */
  guint32 dlsr; /* since that SR, in 1/65536 s */
} GstSipRtcpBlock;

/* What a compound packet from the far end said */
typedef struct
{
  gboolean has_sr;
  guint32 sr_ssrc;
  guint32 sr_ntp_middle; /* middle 32 bits of its NTP time */
  gboolean has_block; /* a report block about our SSRC */
  GstSipRtcpBlock block;
} GstSipRtcpInfo;

/* NTP time (RFC 3550 4) of @real_time_us (g_get_real_time()) */
guint64 gst_sip_rtcp_ntp_time (gint64 real_time_us);

/* The round trip (RFC 3550 6.4.1) a report @block gives when it arrived
 * at @arrival_ntp_middle (middle 32 bits of our NTP time). FALSE when the
 * block answers no sender report of ours or the result is implausible
 * (10 s or more, or below zero by more than a peer's DLSR rounding). */
gboolean gst_sip_rtcp_round_trip (
    guint32 arrival_ntp_middle, const GstSipRtcpBlock *block, gdouble *ms);

/* A compound packet: SR (with @sender) or RR, one report block when
 * @block is not NULL, and SDES with @cname. Returns its length in @out, 0
 * when it did not fit. */
gsize gst_sip_rtcp_write_report (guint8 *out, gsize size, guint32 ssrc,
    const GstSipRtcpSender *sender, guint64 ntp_time,
    const GstSipRtcpBlock *block, const gchar *cname);

/* FALSE for anything that is not a valid compound RTCP packet (RFC 3550
 * A.2: first SR or RR, version 2, lengths adding up). */
gboolean gst_sip_rtcp_parse (
    const guint8 *data, gsize len, guint32 our_ssrc, GstSipRtcpInfo *info);

G_END_DECLS
#endif
