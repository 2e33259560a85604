/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Helpers shared by the sipsrc and sipsink tests: real UDP sockets on
 * 127.0.0.1 and the elements' stats counters.
 */
#ifndef __SIP_TEST_UTIL_H__
#define __SIP_TEST_UTIL_H__

#include <gst/check/gstcheck.h>
#include <gio/gio.h>

#define PCMU_CAPS \
  "application/x-rtp,media=audio,clock-rate=8000," \
  "encoding-name=PCMU,payload=0"

/* A UDP socket on @host:@port (0: a free port), or NULL when the port is
 * taken; receives time out after 5 s so that a missing packet fails the
 * test instead of hanging it. */
static inline GSocket *
udp_socket_at (const gchar *host, guint port)
{
  GInetAddress *inet = g_inet_address_new_from_string (host);
  GSocketAddress *sa = g_inet_socket_address_new (inet, port);
  GSocket *s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
      G_SOCKET_PROTOCOL_UDP, NULL);

  if (!g_socket_bind (s, sa, FALSE, NULL))
    g_clear_object (&s);
  else
    g_socket_set_timeout (s, 5);
  g_object_unref (sa);
  g_object_unref (inet);
  return s;
}

/* A UDP socket bound to a free port on 127.0.0.1 */
static inline GSocket *
udp_socket (void)
{
  GSocket *s = udp_socket_at ("127.0.0.1", 0);

  fail_unless (s != NULL);
  return s;
}

/* A far end's RTP socket on an even port of 127.0.0.1, from @first up, and
 * in @rtcp its RTCP socket on the port above (RFC 3550 11) */
static inline GSocket *
udp_socket_pair (guint first, GSocket **rtcp)
{
  GSocket *rtp = NULL;
  guint port;

  *rtcp = NULL;
  for (port = first; *rtcp == NULL && port < 60000; port += 2) {
    g_clear_object (&rtp);
    rtp = udp_socket_at ("127.0.0.1", port);
    *rtcp = rtp ? udp_socket_at ("127.0.0.1", port + 1) : NULL;
  }
  fail_unless (*rtcp != NULL);
  return rtp;
}

static inline gint
local_port (GSocket *s)
{
  GSocketAddress *sa = g_socket_get_local_address (s, NULL);
  gint port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (sa));

  g_object_unref (sa);
  return port;
}

/* One counter of an element's "stats" structure. */
static inline guint64
element_stat (GstElement *element, const gchar *name)
{
  GstStructure *s;
  guint64 v = 0;

  g_object_get (element, "stats", &s, NULL);
  fail_unless (gst_structure_get_uint64 (s, name, &v), "no stat %s", name);
  gst_structure_free (s);
  return v;
}

#endif
