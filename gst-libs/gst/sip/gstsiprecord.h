/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_RECORD_H__
#define __GST_SIP_RECORD_H__

#include <gst/gst.h>

G_BEGIN_DECLS

/* One call's JSON record (docs/server.md). Every change can be saved at
 * once; saving rewrites the whole record to a temporary file, fsyncs it
 * and renames it over the previous version on a writer thread, so the file
 * on disk is always a whole record (complete=false until the call ended).
 * All functions are thread-safe. */

typedef struct _GstSipRecord GstSipRecord;

GstSipRecord *gst_sip_record_new (const gchar *dir, const gchar *call_id,
    const gchar *from, const gchar *to, const gchar *did, const gchar *office);
GstSipRecord *gst_sip_record_ref (GstSipRecord *record);
void gst_sip_record_unref (GstSipRecord *record);

const gchar *gst_sip_record_get_path (GstSipRecord *record);
/* g_get_monotonic_time() of the INVITE: turn times count from it */
gint64 gst_sip_record_get_start_time (GstSipRecord *record);

void gst_sip_record_set_answered (GstSipRecord *record);
/* @start, @end: seconds since the INVITE; @confidence < 0: none. An agent
 * sentence that follows the agent's previous one without a gap joins its
 * turn. */
void gst_sip_record_add_turn (GstSipRecord *record, const gchar *role,
    const gchar *text, gdouble start, gdouble end, gdouble confidence,
    gboolean interrupted);
void gst_sip_record_set_intake_field (
    GstSipRecord *record, const gchar *field, const gchar *value);
void gst_sip_record_set_intake_complete (
    GstSipRecord *record, gboolean complete);
void gst_sip_record_add_action (GstSipRecord *record, const gchar *type,
    const gchar *target, const gchar *reason);
/* sets the result of the last action of @type */
void gst_sip_record_set_action_result (
    GstSipRecord *record, const gchar *type, const gchar *result);
/* numbers of @stats go into "media", prefixed by @prefix */
void gst_sip_record_set_media_stats (
    GstSipRecord *record, const gchar *prefix, const GstStructure *stats);
/* The file of the call's audio recording (gstsiprecorder.h) */
void gst_sip_record_set_recording (GstSipRecord *record, const gchar *path);
/* a call we placed (the record's "direction" is "outbound") */
void gst_sip_record_set_outbound (GstSipRecord *record);
/* the trunk the call came in on */
void gst_sip_record_set_trunk (GstSipRecord *record, const gchar *trunk);
/* The call failed (a pipeline error): the record keeps @message and its
 * end reason will be "error", whatever ends the call after. */
void gst_sip_record_set_error (GstSipRecord *record, const gchar *message);
void gst_sip_record_end (
    GstSipRecord *record, const gchar *reason, gint sip_status);

/* Queues a durable write of the record as it is now. */
void gst_sip_record_save (GstSipRecord *record);
/* Waits until every queued write is on disk (or failed). */
void gst_sip_record_wait_saved (void);
/* The record as JSON text */
gchar *gst_sip_record_to_json (GstSipRecord *record);

G_END_DECLS
#endif
