/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsofiaelements.h"

#include <sofia-sip/su.h>

/* su_init() sets up sofia-sip's per-process state (its clock, socket
 * layer and thread-local data); it must run once before any root exists. */
void
sofia_element_init (GstPlugin * plugin)
{
  static gsize done = 0;

  if (g_once_init_enter (&done)) {
    su_init ();
    g_once_init_leave (&done, 1);
  }
}
