/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_AGENT_ELEMENTS_H__
#define __GST_AGENT_ELEMENTS_H__

#include <gst/gst.h>

G_BEGIN_DECLS

GST_ELEMENT_REGISTER_DECLARE (sttbridge);
GST_ELEMENT_REGISTER_DECLARE (agent);
GST_ELEMENT_REGISTER_DECLARE (ttsbridge);

G_END_DECLS
#endif
