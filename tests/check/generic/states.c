/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every element of the package goes through all state changes, up and
 * down, standalone (as gst-plugins-base's generic/states.c does).
 */
#include <gst/check/gstcheck.h>

static GList *elements;

static void
setup (void)
{
  const gchar *names = g_getenv ("GST_SIP_AGENT_PLUGINS");
  gchar **plugins;
  guint i;

  fail_unless (names != NULL, "GST_SIP_AGENT_PLUGINS is not set");
  plugins = g_strsplit (names, ",", -1);
  for (i = 0; plugins[i]; i++) {
    GList *features = gst_registry_get_feature_list_by_plugin (
        gst_registry_get (), plugins[i]);
    GList *l;

    fail_unless (features != NULL, "plugin %s has no features", plugins[i]);
    for (l = features; l; l = l->next)
      if (GST_IS_ELEMENT_FACTORY (l->data))
        elements =
            g_list_prepend (elements, g_strdup (GST_OBJECT_NAME (l->data)));
    gst_plugin_feature_list_free (features);
  }
  g_strfreev (plugins);
}

static void
teardown (void)
{
  g_list_free_full (elements, g_free);
  elements = NULL;
}

static void
configure (GstElement *element)
{
  /* sipbin listens: a free port, loopback only; with no sipsrc/sipsink
   * inside it refuses READY, so give it both. */
  if (g_str_equal (
          GST_OBJECT_NAME (gst_element_get_factory (element)), "sipbin")) {
    gst_util_set_object_arg (
        G_OBJECT (element), "local-uri", "sip:agent@127.0.0.1:0");
    gst_bin_add_many (GST_BIN (element),
        gst_element_factory_make ("sipsrc", NULL),
        gst_element_factory_make ("sipsink", NULL), NULL);
  }
}

GST_START_TEST (test_state_changes_up_and_down)
{
  GList *l;

  for (l = elements; l; l = l->next) {
    GstElement *element = gst_element_factory_make (l->data, NULL);
    GstState states[] = {GST_STATE_READY, GST_STATE_PAUSED, GST_STATE_PLAYING,
        GST_STATE_PAUSED, GST_STATE_READY, GST_STATE_NULL, GST_STATE_PLAYING,
        GST_STATE_NULL};
    guint i;

    GST_INFO ("testing %s", (gchar *) l->data);
    fail_unless (element != NULL, "could not make %s", (gchar *) l->data);
    configure (element);
    for (i = 0; i < G_N_ELEMENTS (states); i++) {
      /* a lone sink stays ASYNC in PAUSED (no preroll buffer): the
       * state change is still taken, so only failures count */
      GstStateChangeReturn ret = gst_element_set_state (element, states[i]);

      fail_if (ret == GST_STATE_CHANGE_FAILURE, "%s failed going to %s",
          (gchar *) l->data, gst_element_state_get_name (states[i]));
    }
    gst_object_unref (element);
  }
}

GST_END_TEST;

static Suite *
states_suite (void)
{
  Suite *s = suite_create ("states");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_state_changes_up_and_down);
  return s;
}

GST_CHECK_MAIN (states);
