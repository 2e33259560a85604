/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsofiaelements.h"

#include <gst/sip/gstsipendpoint.h>

static gboolean
plugin_init (GstPlugin *plugin)
{
  gst_sip_agent_init ();
  return GST_ELEMENT_REGISTER (sipbin, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, sofia,
    "SIP call signalling on sofia-sip (sipbin)", plugin_init, VERSION,
    GST_LICENSE, GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
