/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_SIP_PLC_H__
#define __GST_SIP_PLC_H__

#include <gst/gst.h>
#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

#define GST_TYPE_SIP_PLC (gst_sip_plc_get_type ())
G_DECLARE_FINAL_TYPE (GstSipPlc, gst_sip_plc, GST, SIP_PLC, GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE (sipplc);

G_END_DECLS
#endif
