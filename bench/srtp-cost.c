/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Benchmark: what SRTP adds to one echoed packet in sipsrc/sipsink, the
 * same calls they make (gst/sip/gstsipsrtp.c): protect a 172-byte PCMU
 * packet (12 + 160) into a stack copy, then unprotect it in place, for
 * --packets packets with advancing sequence numbers. Run it under
 * callgrind for instructions per packet (docs/benchmarks.md):
 *   valgrind --tool=callgrind bench/srtp-cost --packets 20000
 * and alone for the time per packet.
 */
#include <gst/gst.h>
#include <string.h>

#include "gstsipsrtp.h"

#define PLAIN 172

int
main (int argc, char **argv)
{
  gchar *suite = NULL;
  gint packets = 20000, i;
  GOptionEntry entries[] = {
      {"packets", 0, 0, G_OPTION_ARG_INT, &packets, "packets", "N"},
      {"suite", 0, 0, G_OPTION_ARG_STRING, &suite,
          "AES_CM_128_HMAC_SHA1_80 (default) or another", "SUITE"},
      {NULL}};
  GOptionContext *ctx = g_option_context_new ("- SRTP per-packet cost");
  GError *err = NULL;
  guint8 raw[30], packet[PLAIN + GST_SIP_SRTP_MAX_TRAILER];
  gchar *b64, *key;
  GstSipSrtp *tx, *rx;
  gint64 start, elapsed;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("%s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);
  for (i = 0; i < 30; i++)
    raw[i] = (guint8) (i * 37 + 11);
  b64 = g_base64_encode (raw, sizeof (raw));
  key = g_strdup_printf (
      "%s inline:%s", suite ? suite : "AES_CM_128_HMAC_SHA1_80", b64);
  tx = gst_sip_srtp_new (key, TRUE, &err);
  rx = tx ? gst_sip_srtp_new (key, FALSE, &err) : NULL;
  if (rx == NULL) {
    g_printerr ("%s\n", err->message);
    return 1;
  }

  start = g_get_monotonic_time ();
  for (i = 0; i < packets; i++) {
    gint len;

    memset (packet, 0x55, PLAIN);
    packet[0] = 0x80;
    packet[1] = 0;
    GST_WRITE_UINT16_BE (packet + 2, (guint16) i);
    GST_WRITE_UINT32_BE (packet + 4, (guint32) i * 160);
    GST_WRITE_UINT32_BE (packet + 8, 0x12345678);
    len = gst_sip_srtp_protect (tx, packet, PLAIN);
    if (len < 0 || gst_sip_srtp_unprotect (rx, packet, len) != PLAIN) {
      g_printerr ("packet %d failed\n", i);
      return 1;
    }
  }
  elapsed = g_get_monotonic_time () - start;
  g_print ("%d packets, %.2f us per packet (protect + unprotect)\n", packets,
      (gdouble) elapsed / packets);
  gst_sip_srtp_free (tx);
  gst_sip_srtp_free (rx);
  g_free (key);
  g_free (b64);
  return 0;
}
