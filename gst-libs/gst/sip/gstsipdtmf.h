/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_DTMF_H__
#define __GST_SIP_DTMF_H__

#include <gst/gst.h>

G_BEGIN_DECLS

/* Key presses: the `number` of a `dtmf-event` (rtpdtmfdepay's numbering,
 * RFC 4733 section 3.2: 0-9, 10 = '*', 11 = '#', 12-15 = A-D) and the
 * bodies of the SIP INFO requests that carry them. */

/* `method` of a dtmf-event: how the key press arrived. 1 and 2 are
 * GStreamer's own (rtpdtmfdepay, dtmfsrc, dtmfdetect); 3 is ours. */
#define GST_SIP_DTMF_METHOD_RTP 1
#define GST_SIP_DTMF_METHOD_SOUND 2
#define GST_SIP_DTMF_METHOD_INFO 3

/* '0'-'9', '*', '#', 'A'-'D' (or a-d) -> 0-15; -1 for anything else */
gint gst_sip_dtmf_number_from_char (gchar c);
/* 0-15 -> the key; 0 for anything else */
gchar gst_sip_dtmf_char_from_number (gint number);

/* The Accept of a 415 to an INFO we cannot read. */
#define GST_SIP_DTMF_INFO_ACCEPT "application/dtmf-relay, application/dtmf"

/* Reads a key press from the body of a SIP INFO (legacy INFO usage, RFC
 * 6086 section 2): `application/dtmf-relay` ("Signal=5\r\nDuration=160\r\n",
 * keys in any case and order, Duration optional) or `application/dtmf`
 * ("5"). @content_type is the Content-Type's type/subtype (parameters are
 * ignored). Returns the status to answer with: 200 with @number and
 * @duration_ms (-1 when the body had none) set; 415 for another content
 * type; 400 for a body that does not carry one key (@why says what is
 * wrong). */
guint gst_sip_dtmf_parse_info (const gchar *content_type, const gchar *body,
    gsize len, gint *number, gint *duration_ms, const gchar **why);

G_END_DECLS
#endif
