/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsiprtpchannel.h"

#include <string.h>
#include <netinet/in.h>
#include <arpa/inet.h>

struct _GstSipRtpChannel
{
  gint refcount;
  GMutex lock;
  gchar *host;
  gint port;
  GstSipRtpAddress remote;
  gint generation; /* atomic; bumped on every remote change */
  /* what sipsink sent, for sipsrc's sender reports; atomics */
  gint sent_ssrc, sent_rtptime, sent_packets, sent_octets;
};

static GQuark
channel_quark (void)
{
  static gsize quark;

  if (g_once_init_enter (&quark))
    g_once_init_leave (
        &quark, g_quark_from_static_string ("gst-sip-rtp-channel"));
  return (GQuark) quark;
}

static GstSipRtpChannel *
channel_ref (GstSipRtpChannel *channel)
{
  g_atomic_int_inc (&channel->refcount);
  return channel;
}

void
gst_sip_rtp_channel_unref (GstSipRtpChannel *channel)
{
  if (channel == NULL || !g_atomic_int_dec_and_test (&channel->refcount))
    return;
  g_mutex_clear (&channel->lock);
  g_free (channel->host);
  g_free (channel);
}

GstSipRtpChannel *
gst_sip_rtp_channel_get (GSocket *socket)
{
  static GMutex create_lock;
  GstSipRtpChannel *channel;

  g_return_val_if_fail (G_IS_SOCKET (socket), NULL);

  g_mutex_lock (&create_lock);
  channel = g_object_get_qdata (G_OBJECT (socket), channel_quark ());
  if (channel == NULL) {
    channel = g_new0 (GstSipRtpChannel, 1);
    channel->refcount = 1;
    g_mutex_init (&channel->lock);
    g_object_set_qdata_full (G_OBJECT (socket), channel_quark (), channel,
        (GDestroyNotify) gst_sip_rtp_channel_unref);
  }
  channel_ref (channel);
  g_mutex_unlock (&create_lock);
  return channel;
}

void
gst_sip_rtp_channel_note_sent (GstSipRtpChannel *channel, guint32 ssrc,
    guint32 rtptime, guint payload_octets)
{
  g_atomic_int_set (&channel->sent_ssrc, (gint) ssrc);
  g_atomic_int_set (&channel->sent_rtptime, (gint) rtptime);
  g_atomic_int_add (&channel->sent_octets, (gint) payload_octets);
  g_atomic_int_inc (&channel->sent_packets);
}

guint32
gst_sip_rtp_channel_get_sent (
    GstSipRtpChannel *channel, guint32 *ssrc, guint32 *rtptime, guint32 *octets)
{
  *ssrc = (guint32) g_atomic_int_get (&channel->sent_ssrc);
  *rtptime = (guint32) g_atomic_int_get (&channel->sent_rtptime);
  *octets = (guint32) g_atomic_int_get (&channel->sent_octets);
  return (guint32) g_atomic_int_get (&channel->sent_packets);
}

static gboolean
resolve_numeric (const gchar *host, gint port, GstSipRtpAddress *out)
{
  GInetAddress *inet;
  GSocketAddress *sa;
  gboolean ok;

  memset (out, 0, sizeof (*out));
  if (host == NULL || port <= 0 || port > 65535)
    return FALSE;
  /* Media addresses come from SDP c= lines as literals; never resolve names
   * here, it would block the streaming thread. */
  inet = g_inet_address_new_from_string (host);
  if (inet == NULL)
    return FALSE;
  sa = g_inet_socket_address_new (inet, port);
  ok = g_socket_address_to_native (sa, &out->addr, sizeof (out->addr), NULL);
  if (ok)
    out->len = g_socket_address_get_native_size (sa);
  g_object_unref (sa);
  g_object_unref (inet);
  return ok;
}

void
gst_sip_rtp_channel_set_remote (
    GstSipRtpChannel *channel, const gchar *host, gint port)
{
  g_mutex_lock (&channel->lock);
  g_free (channel->host);
  channel->host = g_strdup (host);
  channel->port = port;
  if (!resolve_numeric (host, port, &channel->remote))
    channel->remote.len = 0;
  g_atomic_int_inc (&channel->generation);
  g_mutex_unlock (&channel->lock);
}

void
gst_sip_rtp_channel_set_remote_native (
    GstSipRtpChannel *channel, const GstSipRtpAddress *address)
{
  GSocketAddress *sa;

  sa = g_socket_address_new_from_native (
      (gpointer) &address->addr, address->len);
  g_mutex_lock (&channel->lock);
  channel->remote = *address;
  g_free (channel->host);
  channel->host = NULL;
  channel->port = 0;
  if (sa && G_IS_INET_SOCKET_ADDRESS (sa)) {
    GInetSocketAddress *isa = G_INET_SOCKET_ADDRESS (sa);
    channel->host =
        g_inet_address_to_string (g_inet_socket_address_get_address (isa));
    channel->port = g_inet_socket_address_get_port (isa);
  }
  g_atomic_int_inc (&channel->generation);
  g_mutex_unlock (&channel->lock);
  g_clear_object (&sa);
}

gchar *
gst_sip_rtp_channel_dup_remote_host (GstSipRtpChannel *channel)
{
  gchar *host;

  g_mutex_lock (&channel->lock);
  host = g_strdup (channel->host);
  g_mutex_unlock (&channel->lock);
  return host;
}

gint
gst_sip_rtp_channel_get_remote_port (GstSipRtpChannel *channel)
{
  gint port;

  g_mutex_lock (&channel->lock);
  port = channel->port;
  g_mutex_unlock (&channel->lock);
  return port;
}

gboolean
gst_sip_rtp_channel_refresh (
    GstSipRtpChannel *channel, gint *generation, GstSipRtpAddress *address)
{
  gint current = g_atomic_int_get (&channel->generation);

  if (G_LIKELY (current == *generation))
    return FALSE;
  g_mutex_lock (&channel->lock);
  *address = channel->remote;
  *generation = channel->generation;
  g_mutex_unlock (&channel->lock);
  return TRUE;
}

gboolean
gst_sip_rtp_address_equal (const GstSipRtpAddress *a, const GstSipRtpAddress *b)
{
  if (a->len == 0 || b->len == 0)
    return FALSE;
  if (a->addr.ss_family != b->addr.ss_family)
    return FALSE;
  if (a->addr.ss_family == AF_INET) {
    const struct sockaddr_in *x = (const struct sockaddr_in *) &a->addr;
    const struct sockaddr_in *y = (const struct sockaddr_in *) &b->addr;
    return x->sin_port == y->sin_port &&
        x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->addr.ss_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const struct sockaddr_in6 *) &a->addr;
    const struct sockaddr_in6 *y = (const struct sockaddr_in6 *) &b->addr;
    return x->sin6_port == y->sin6_port &&
        memcmp (&x->sin6_addr, &y->sin6_addr, sizeof (x->sin6_addr)) == 0;
  }
  return FALSE;
}

gchar *
gst_sip_rtp_address_to_string (const GstSipRtpAddress *a)
{
  char host[INET6_ADDRSTRLEN] = "";

  if (a->len == 0)
    return g_strdup ("(none)");
  if (a->addr.ss_family == AF_INET) {
    const struct sockaddr_in *x = (const struct sockaddr_in *) &a->addr;
    inet_ntop (AF_INET, &x->sin_addr, host, sizeof (host));
    return g_strdup_printf ("%s:%u", host, ntohs (x->sin_port));
  }
  if (a->addr.ss_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const struct sockaddr_in6 *) &a->addr;
    inet_ntop (AF_INET6, &x->sin6_addr, host, sizeof (host));
    return g_strdup_printf ("[%s]:%u", host, ntohs (x->sin6_port));
  }
  return g_strdup ("(unknown family)");
}
