/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_ENDPOINT_H__
#define __GST_SIP_ENDPOINT_H__

#include <gst/gst.h>

G_BEGIN_DECLS

/* One SIP stack (sofia-sip NUA) bound to one address, running on its own
 * GMainContext thread. Calls (GstSipCall) are created by it for incoming
 * INVITEs; a standalone sipbin owns one endpoint, the server (GstSipServer) shares
 * one endpoint between many calls and pipelines. Every signal is emitted on
 * the endpoint thread. */

#define GST_TYPE_SIP_ENDPOINT (gst_sip_endpoint_get_type ())
G_DECLARE_FINAL_TYPE (
    GstSipEndpoint, gst_sip_endpoint, GST, SIP_ENDPOINT, GstObject)

typedef struct _GstSipCall GstSipCall;
typedef struct _GstSipTrunk GstSipTrunk;

void gst_sip_agent_init (void);

GstSipEndpoint *gst_sip_endpoint_new (
    const gchar *local_uri, const gchar *user_agent, GError **error);
/* Session timers (RFC 4028): the Session-Expires we ask for and the
 * shortest we accept (Min-SE), in seconds. RFC 4028 recommends 1800 and
 * forbids a Min-SE under 90 on the wire; lower values are for tests. */
#define GST_SIP_SESSION_EXPIRES_DEFAULT 1800
#define GST_SIP_MIN_SE_DEFAULT 90
typedef struct
{
  /* 0: no session timer is asked for; one the far end asks for is still
   * honoured */
  guint session_expires;
  guint min_se;
  /* behind 1:1 NAT: the public address that Contact and Via name; SIP is
   * then received on every local address (the NAT forwards to ours) */
  const gchar *external_address;
  /* SIP over TLS (sips:) on this port of the same host, next to UDP and
   * TCP; 0: no TLS. @tls_dir holds sofia-sip's agent.pem (our key and
   * certificate chain) and cafile.pem (the CAs we trust); @tls_verify:
   * verify the certificates of the servers we connect to (clients are
   * not asked for one). */
  guint tls_port;
  const gchar *tls_dir;
  gboolean tls_verify;
} GstSipEndpointSettings;

#define GST_SIP_ENDPOINT_SETTINGS_INIT \
  { \
    GST_SIP_SESSION_EXPIRES_DEFAULT, GST_SIP_MIN_SE_DEFAULT, NULL, 0, NULL, \
        TRUE \
  }

GstSipEndpoint *gst_sip_endpoint_new_full (const gchar *local_uri,
    const gchar *user_agent, const GstSipEndpointSettings *settings,
    GError **error);
void gst_sip_endpoint_shutdown (GstSipEndpoint *endpoint);

const gchar *gst_sip_endpoint_get_host (GstSipEndpoint *endpoint);
gboolean gst_sip_endpoint_is_ipv6 (GstSipEndpoint *endpoint);
gboolean gst_sip_endpoint_in_thread (GstSipEndpoint *endpoint);
/* Endpoint thread: nua_shutdown() is ending the calls */
gboolean gst_sip_endpoint_is_shutting_down (GstSipEndpoint *endpoint);

/* Runs @func on the endpoint thread (at once when already on it). */
void gst_sip_endpoint_invoke (GstSipEndpoint *endpoint, GSourceFunc func,
    gpointer data, GDestroyNotify notify);
GSource *gst_sip_endpoint_add_timeout (GstSipEndpoint *endpoint, guint ms,
    GSourceFunc func, gpointer data, GDestroyNotify notify);

/* For GstSipTrunk: the endpoint keeps the trunk until it shuts down */
void gst_sip_endpoint_add_trunk (GstSipEndpoint *endpoint, GstSipTrunk *trunk);

/* For GstSipCall */
struct nua_handle_s;
struct nua_s;
/* endpoint thread: the NUA, or NULL once shutting down */
struct nua_s *gst_sip_endpoint_get_nua (GstSipEndpoint *endpoint);
/* endpoint thread: an outgoing call's handle exists; events go to it */
void gst_sip_endpoint_add_call (GstSipEndpoint *endpoint, GstSipCall *call);
void gst_sip_endpoint_call_finished (
    GstSipEndpoint *endpoint, GstSipCall *call);

G_END_DECLS
#endif
