/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsiprtcp.h"

#include <gst/rtp/gstrtcpbuffer.h>
#include <string.h>

/* seconds from 1900 (NTP) to 1970 (Unix) */
#define NTP_UNIX_OFFSET G_GUINT64_CONSTANT (2208988800)

guint64
gst_sip_rtcp_ntp_time (gint64 real_time_us)
{
  guint64 secs = real_time_us / G_USEC_PER_SEC + NTP_UNIX_OFFSET;
  guint64 frac =
      ((guint64) (real_time_us % G_USEC_PER_SEC) << 32) / G_USEC_PER_SEC;

  return (secs << 32) | frac;
}

/* How far a peer's DLSR may overshoot before its report is implausible:
 * peers count DLSR in milliseconds (libre, pjmedia), so on a short path A -
 * LSR - DLSR lands a little below zero. */
#define DLSR_SLACK (65536 / 50)

gboolean
gst_sip_rtcp_round_trip (
    guint32 arrival_ntp_middle, const GstSipRtcpBlock *block, gdouble *ms)
{
  gint64 rtt;

  if (block->lsr == 0)
    return FALSE;
  /* RFC 3550 6.4.1: A - LSR - DLSR, in 1/65536 s, modulo 2^32 */
  rtt = (gint32) (arrival_ntp_middle - block->lsr - block->dlsr);
  if (rtt < -DLSR_SLACK || rtt >= 10 * 65536)
    return FALSE;
  *ms = MAX (rtt, 0) * 1000.0 / 65536.0;
  return TRUE;
}

gsize
gst_sip_rtcp_write_report (guint8 *out, gsize size, guint32 ssrc,
    const GstSipRtcpSender *sender, guint64 ntp_time,
    const GstSipRtcpBlock *block, const gchar *cname)
{
  GstBuffer *buf = gst_rtcp_buffer_new (size);
  GstRTCPBuffer rtcp = GST_RTCP_BUFFER_INIT;
  GstRTCPPacket packet;
  gboolean ok;
  gsize len = 0;

  gst_rtcp_buffer_map (buf, GST_MAP_READWRITE, &rtcp);
  if (sender) {
    ok = gst_rtcp_buffer_add_packet (&rtcp, GST_RTCP_TYPE_SR, &packet);
    if (ok)
      gst_rtcp_packet_sr_set_sender_info (&packet, ssrc, ntp_time,
          sender->rtptime, sender->packets, sender->octets);
  } else {
    ok = gst_rtcp_buffer_add_packet (&rtcp, GST_RTCP_TYPE_RR, &packet);
    if (ok)
      gst_rtcp_packet_rr_set_ssrc (&packet, ssrc);
  }
  if (ok && block)
    ok = gst_rtcp_packet_add_rb (&packet, block->ssrc, block->fraction_lost,
        block->packets_lost, block->ext_highest_seq, block->jitter, block->lsr,
        block->dlsr);
  /* RFC 3550 6.1: every compound packet carries a CNAME */
  if (ok)
    ok = gst_rtcp_buffer_add_packet (&rtcp, GST_RTCP_TYPE_SDES, &packet) &&
        gst_rtcp_packet_sdes_add_item (&packet, ssrc) &&
        gst_rtcp_packet_sdes_add_entry (&packet, GST_RTCP_SDES_CNAME,
            strlen (cname), (const guint8 *) cname);
  gst_rtcp_buffer_unmap (&rtcp);
  if (ok) {
    len = gst_buffer_get_size (buf);
    if (len <= size)
      gst_buffer_extract (buf, 0, out, len);
    else
      len = 0;
  }
  gst_buffer_unref (buf);
  return len;
}

static void
take_block_about (GstRTCPPacket *packet, guint32 our_ssrc, GstSipRtcpInfo *info)
{
  guint i, n = gst_rtcp_packet_get_rb_count (packet);

  for (i = 0; i < n; i++) {
    GstSipRtcpBlock b;

    gst_rtcp_packet_get_rb (packet, i, &b.ssrc, &b.fraction_lost,
        &b.packets_lost, &b.ext_highest_seq, &b.jitter, &b.lsr, &b.dlsr);
    if (b.ssrc == our_ssrc) {
      info->block = b;
      info->has_block = TRUE;
    }
  }
}

gboolean
gst_sip_rtcp_parse (
    const guint8 *data, gsize len, guint32 our_ssrc, GstSipRtcpInfo *info)
{
  GstRTCPBuffer rtcp = GST_RTCP_BUFFER_INIT;
  GstRTCPPacket packet;
  GstBuffer *buf;
  gboolean more;

  memset (info, 0, sizeof (*info));
  if (!gst_rtcp_buffer_validate_data ((guint8 *) data, len))
    return FALSE;
  buf = gst_buffer_new_memdup (data, len);
  gst_rtcp_buffer_map (buf, GST_MAP_READ, &rtcp);
  for (more = gst_rtcp_buffer_get_first_packet (&rtcp, &packet); more;
       more = gst_rtcp_packet_move_to_next (&packet)) {
    switch (gst_rtcp_packet_get_type (&packet)) {
      case GST_RTCP_TYPE_SR: {
        guint64 ntp;
        guint32 rtptime, packets, octets;

        gst_rtcp_packet_sr_get_sender_info (
            &packet, &info->sr_ssrc, &ntp, &rtptime, &packets, &octets);
        info->has_sr = TRUE;
        info->sr_ntp_middle = (guint32) (ntp >> 16);
        take_block_about (&packet, our_ssrc, info);
        break;
      }
      case GST_RTCP_TYPE_RR:
        take_block_about (&packet, our_ssrc, info);
        break;
      default:
        break;
    }
  }
  gst_rtcp_buffer_unmap (&rtcp);
  gst_buffer_unref (buf);
  return TRUE;
}
