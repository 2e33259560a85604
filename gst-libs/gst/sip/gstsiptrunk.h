/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_TRUNK_H__
#define __GST_SIP_TRUNK_H__

#include <gst/gst.h>
#include <gio/gio.h>
#include <gst/sip/gstsipendpoint.h>

G_BEGIN_DECLS

/* One address block of an allow list: 192.0.2.0/24, 2001:db8::/32, or a
 * single address (/32, /128). */
typedef struct
{
  GSocketFamily family;
  guint8 bytes[16];
  guint prefix;
} GstSipCidr;

gboolean gst_sip_cidr_parse (const gchar *text, GstSipCidr *cidr);
gboolean gst_sip_cidr_contains (const GstSipCidr *cidr, GInetAddress *address);

/* A carrier or PBX trunk ([trunk NAME] in docs/server.md). */
typedef struct
{
  gchar *name;
  gchar *registrar; /* sip: URI: when set we REGISTER there */
  gchar *proxy; /* sip: URI of the outbound proxy, or NULL */
  gchar *username;
  gchar *password;
  gchar *realm; /* NULL: whatever the challenge says */
  gchar *from_user; /* NULL: username */
  gchar *from_domain; /* NULL: the registrar's (or proxy's) host */
  GArray *allow; /* (element-type GstSipCidr), or NULL */
  guint expires; /* s, asked for in REGISTER */
  gchar *transport; /* "udp" or "tcp" */
  guint qualify; /* s between OPTIONS probes, 0: off */
  guint register_retry; /* s before the first retry after a failure */
  gint srtp; /* GstSipSrtpPolicy of its calls, -1: the server's */
  guint line;
} GstSipTrunkConfig;

#define GST_SIP_TRUNK_DEFAULT_EXPIRES 300
#define GST_SIP_TRUNK_DEFAULT_QUALIFY 30
#define GST_SIP_TRUNK_DEFAULT_REGISTER_RETRY 30
/* retries back off by doubling up to this */
#define GST_SIP_TRUNK_MAX_REGISTER_RETRY 1800

GstSipTrunkConfig *gst_sip_trunk_config_new (const gchar *name);
GstSipTrunkConfig *gst_sip_trunk_config_copy (const GstSipTrunkConfig *config);
void gst_sip_trunk_config_free (GstSipTrunkConfig *config);
/* TRUE when @address is in the trunk's allow list */
gboolean gst_sip_trunk_config_allows (
    const GstSipTrunkConfig *config, GInetAddress *address);

/**
 * GstSipRegistrationState:
 * @GST_SIP_REGISTRATION_NONE: the trunk does not register, or is not
 *   registered yet
 * @GST_SIP_REGISTRATION_REGISTERING: a REGISTER is out
 * @GST_SIP_REGISTRATION_REGISTERED: the registrar accepted our contact;
 *   refreshed before it expires
 * @GST_SIP_REGISTRATION_FAILED: the last REGISTER failed; the next try is
 *   scheduled with back-off
 * @GST_SIP_REGISTRATION_UNREGISTERED: we removed our contact (shutdown)
 */
typedef enum
{
  GST_SIP_REGISTRATION_NONE,
  GST_SIP_REGISTRATION_REGISTERING,
  GST_SIP_REGISTRATION_REGISTERED,
  GST_SIP_REGISTRATION_FAILED,
  GST_SIP_REGISTRATION_UNREGISTERED,
} GstSipRegistrationState;

const gchar *gst_sip_registration_state_name (GstSipRegistrationState state);

/* The running side of a trunk on a GstSipEndpoint: registration and its
 * refresh and back-off, the OPTIONS probes (qualify), and the inbound
 * policy. Lives on the endpoint thread; signals are emitted there:
 * - "registration-state" (GstSipRegistrationState state, gint status,
 *   const gchar *phrase, guint retry_seconds): status 0 when no response
 *   caused the change; retry_seconds when a retry is scheduled, else 0
 * - "qualify-state" (gboolean up, gint status, const gchar *phrase)
 */
#define GST_TYPE_SIP_TRUNK (gst_sip_trunk_get_type ())
G_DECLARE_FINAL_TYPE (GstSipTrunk, gst_sip_trunk, GST, SIP_TRUNK, GstObject)

/* Adds the trunk to @endpoint (which takes a reference) and starts it. */
GstSipTrunk *gst_sip_trunk_new (
    GstSipEndpoint *endpoint, const GstSipTrunkConfig *config);
const GstSipTrunkConfig *gst_sip_trunk_get_config (GstSipTrunk *trunk);
GstSipRegistrationState gst_sip_trunk_get_registration_state (
    GstSipTrunk *trunk);
gboolean gst_sip_trunk_is_up (GstSipTrunk *trunk);

/* For GstSipEndpoint (endpoint thread) */
struct nua_s;
struct nua_handle_s;
struct sip_s;
typedef enum
{
  GST_SIP_TRUNK_NOT_MINE,
  GST_SIP_TRUNK_ACCEPT,
  /* the trunk takes requests with its credentials: challenge this one */
  GST_SIP_TRUNK_CHALLENGE,
} GstSipTrunkVerdict;
void gst_sip_trunk_start (GstSipTrunk *trunk, struct nua_s *nua);
/* whether the trunk takes a new INVITE or OPTIONS from @source */
GstSipTrunkVerdict gst_sip_trunk_check_request (GstSipTrunk *trunk,
    const gchar *method, const struct sip_s *sip, GInetAddress *source);
/* answers the current request of @nua on @nh with 401 and our challenge */
void gst_sip_trunk_challenge (
    GstSipTrunk *trunk, struct nua_handle_s *nh, gboolean stale);
gboolean gst_sip_trunk_owns_handle (
    GstSipTrunk *trunk, struct nua_handle_s *nh);
void gst_sip_trunk_handle_event (GstSipTrunk *trunk, gint event, gint status,
    const gchar *phrase, struct nua_handle_s *nh, const struct sip_s *sip);
/* Answers a 401/407 to a request on @nh with the trunk's credentials;
 * FALSE when it cannot (no credentials, no MD5 challenge, another realm). */
gboolean gst_sip_trunk_answer_challenge (GstSipTrunk *trunk,
    struct nua_handle_s *nh, gint status, const struct sip_s *sip);
/* For calls we place through the trunk: the Request-URI for @number
 * ("sip:+19195550123@sip.example.com"), the From URI with @caller_id as
 * user unless the trunk sets from-user, and the Route to the resolved next
 * hop. FALSE, with @error set, while the next hop is not resolved. */
gboolean gst_sip_trunk_outbound (GstSipTrunk *trunk, const gchar *number,
    const gchar *caller_id, gchar **request_uri, gchar **from, gchar **route,
    GError **error);
/* NUA is going away: forget handles and timers */
void gst_sip_trunk_detach (GstSipTrunk *trunk);

G_END_DECLS
#endif
