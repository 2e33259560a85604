/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The `script` backend of the agent element: a declarative dialog flow read
 * from a keyfile (docs/scripts.md), with keyword intents, slots (yes/no,
 * phone number, date, name, free text), DTMF menus, re-prompts and actions.
 */
#ifndef __GST_AGENT_SCRIPT_H__
#define __GST_AGENT_SCRIPT_H__

#include "gstagentbackend.h"

G_BEGIN_DECLS

extern const GstAgentBackendClass gst_agent_script_backend_class;

/* The script used when the `script` property is NULL: a general receptionist
 * (greeting, reason, name, phone number read back, message, goodbye). */
const gchar *gst_agent_script_get_default (void);

G_END_DECLS
#endif
