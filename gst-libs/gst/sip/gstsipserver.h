/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_SERVER_H__
#define __GST_SIP_SERVER_H__

#include <gst/gst.h>
#include <gst/sip/gstsipcall.h>
#include <gst/sip/gstsipserverconfig.h>
#include <gst/sip/gstsiptrunk.h>

G_BEGIN_DECLS

/* The gst-sip-agent server (docs/server.md): one SIP endpoint, calls routed
 * to offices by the dialled number, one pipeline per call built from the
 * configuration's launch template, one JSON record per call.
 *
 * Signals:
 * - "call-pipeline" (GstSipCall *call, GstElement *pipeline,
 *   const gchar *office): the call's pipeline is built and configured for
 *   its office and about to start; applications adjust it here. Emitted
 *   on a worker thread, never the SIP thread.
 * - "conversation" (const gchar *call_id, const gchar *office,
 *   const gchar *role, const gchar *text): a caller utterance was
 *   recognised ("caller") or the agent starts saying a sentence ("agent").
 *   Emitted on streaming threads.
 * - "call-ended" (const gchar *call_id, const gchar *record_path): the
 *   pipeline is gone and the final record is queued for writing. Emitted
 *   in the server's main context.
 * - "drained": gst_sip_server_drain() was called and no call is left.
 *   Emitted in the server's main context.
 * - "trunk-state" (const gchar *trunk, const gchar *what, const gchar
 *   *state, gint status, const gchar *phrase): @what "registration" with
 *   state none/registering/registered/failed/unregistered, or "qualify"
 *   with up/down; status and phrase of the response that caused it (0
 *   when none did). Emitted on the SIP thread.
 */

#define GST_TYPE_SIP_SERVER (gst_sip_server_get_type ())
G_DECLARE_FINAL_TYPE (GstSipServer, gst_sip_server, GST, SIP_SERVER, GstObject)

/* Runs its callbacks in the thread-default main context of the caller. */
GstSipServer *gst_sip_server_new (GstSipServerConfig *config);
gboolean gst_sip_server_start (GstSipServer *server, GError **error);
/* New calls use @config; calls in progress keep theirs. The listen address
 * is not changed (that needs a restart: logged). */
void gst_sip_server_reload (GstSipServer *server, GstSipServerConfig *config);
/* Stop taking calls (503), let calls finish for the configured
 * drain-timeout, then hang them up; "drained" when none is left. */
void gst_sip_server_drain (GstSipServer *server);
/* Tears down every pipeline at once, shuts the endpoint down and waits for
 * the records to be written. */
void gst_sip_server_stop (GstSipServer *server);
guint gst_sip_server_get_active_calls (GstSipServer *server);
/* Places a call from @office to @number (E.164, through the office's
 * trunk; or a sip: URI with a numeric host, directly), with the office's
 * pipeline and first number as caller ID. Returns the call's Call-ID (its
 * record's call_id, and what "call-ended" names), or NULL with @error set.
 * Thread-safe; after gst_sip_server_start(). */
gchar *gst_sip_server_dial (GstSipServer *server, const gchar *office,
    const gchar *number, GError **error);
/* The running trunk of the configuration's [trunk @name], after start */
GstSipTrunk *gst_sip_server_get_trunk (GstSipServer *server, const gchar *name);

/* The user part of a sip:/sips:/tel: URI ("sip:+1919@h;user=phone" ->
 * "+1919"), or NULL. */
gchar *gst_sip_uri_get_user (const gchar *uri);

G_END_DECLS
#endif
