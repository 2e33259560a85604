/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_SRTP_H__
#define __GST_SIP_SRTP_H__

#include <glib.h>
#include <string.h>

G_BEGIN_DECLS

/* SRTP (RFC 3711) of one direction of one call, keyed from SDES (RFC 4568):
 * sipsrc unprotects in place, sipsink protects a contiguous copy. The key
 * is given as in an a=crypto line without its tag:
 * "AES_CM_128_HMAC_SHA1_80 inline:BASE64[|lifetime]". */

typedef struct _GstSipSrtp GstSipSrtp;

/* Room gst_sip_srtp_protect() needs after a packet (libsrtp's
 * SRTP_MAX_TRAILER_LEN: the tag and an MKI; without MKI it adds 4 or 10) */
#define GST_SIP_SRTP_MAX_TRAILER 144

/* NULL with @error set for a key we cannot use (unknown suite, wrong
 * length, an MKI) */
GstSipSrtp *gst_sip_srtp_new (
    const gchar *key, gboolean outbound, GError **error);
void gst_sip_srtp_free (GstSipSrtp *srtp);
/* Returns the plain length, or -1 when the packet fails authentication or
 * replay checks (or is not SRTP of this key). */
gint gst_sip_srtp_unprotect (GstSipSrtp *srtp, guint8 *data, gint len);
/* @data has room for @len + GST_SIP_SRTP_MAX_TRAILER bytes. Returns the
 * protected length, or -1. */
gint gst_sip_srtp_protect (GstSipSrtp *srtp, guint8 *data, gint len);
/* The same for RTCP (SRTCP, RFC 3711 3.4: the compound packet with its
 * index and tag) */
gint gst_sip_srtp_unprotect_rtcp (GstSipSrtp *srtp, guint8 *data, gint len);
gint gst_sip_srtp_protect_rtcp (GstSipSrtp *srtp, guint8 *data, gint len);

/* The context of one direction follows its element's key (*@srtp and
 * *@active_key are the element's, @key the one configured now): a new
 * context for a new key, or for a new call even with the same key (fresh
 * replay state). FALSE with @error when the new key cannot be used: *@srtp
 * is then NULL while *@active_key is set, and nothing gets through. */
gboolean gst_sip_srtp_follow_key (GstSipSrtp **srtp, gchar **active_key,
    const gchar *key, gboolean new_call, gboolean outbound, GError **error);

/* g_free() for a key string, wiped first (keys are secrets) */
static inline void
gst_sip_srtp_key_free (gchar *key)
{
  if (key) {
    memset (key, 0, strlen (key));
    g_free (key);
  }
}

G_END_DECLS
#endif
