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

/* A UDP socket bound to a free port on 127.0.0.1; receives time out after
 * 5 s so that a missing packet fails the test instead of hanging it. */
static inline GSocket *
udp_socket (void)
{
  GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  GSocketAddress *sa = g_inet_socket_address_new (lo, 0);
  GSocket *s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
      G_SOCKET_PROTOCOL_UDP, NULL);

  fail_unless (g_socket_bind (s, sa, FALSE, NULL));
  g_socket_set_timeout (s, 5);
  g_object_unref (sa);
  g_object_unref (lo);
  return s;
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
