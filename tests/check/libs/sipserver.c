/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The server's pieces that need no network: its configuration (values,
 * defaults, FILE:LINE errors), routing numbers to offices, and call records
 * (JSON content, whole-file replacement on disk).
 */
#include <gst/check/gstcheck.h>
#include <gst/sip/gstsipserver.h>
#include <gst/sip/gstsiprecord.h>
#include <gst/sip/gstsipsdp.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

static GstSipServerConfig *
load (const gchar *text, GError **err)
{
  return gst_sip_server_config_load_data ("/etc/gsa/test.conf", text, err);
}

static void
expect_error (const gchar *text, const gchar *message)
{
  GError *err = NULL;
  GstSipServerConfig *c = load (text, &err);

  fail_unless (c == NULL, "accepted: %s", text);
  fail_unless (err != NULL);
  fail_unless (g_str_has_prefix (err->message, message),
      "expected \"%s\", got \"%s\"", message, err->message);
  g_error_free (err);
}

GST_START_TEST (test_config_values_and_defaults)
{
  GError *err = NULL;
  GstSipServerConfig *c = load ("# a firm\n"
                                "[server]\n"
                                "listen = [::1]:5080\n"
                                "records = recs\n"
                                "max-calls = 7\n"
                                "stt-preload = 12\n"
                                "external-address = 203.0.113.5\n"
                                "session-expires = 600\n"
                                "\n"
                                "[office main]\n"
                                "did = +1 (919) 555-0100, +19195550101\n"
                                "language = es\n"
                                "transfer = tel:+19195550110\n",
      &err);
  const GstSipOfficeConfig *o;

  fail_unless (c != NULL, "%s", err ? err->message : "");
  fail_unless_equals_string (c->listen, "[::1]:5080");
  /* relative to the file's directory */
  fail_unless_equals_string (c->records, "/etc/gsa/recs");
  fail_unless_equals_int (c->max_calls, 7);
  fail_unless_equals_int (c->stt_preload, 12);
  fail_unless_equals_string (c->external_address, "203.0.113.5");
  fail_unless_equals_int (c->session_expires, 600);
  /* no TLS, SRTP when offered, servers' certificates verified */
  fail_unless_equals_int (c->tls_port, 0);
  fail_unless (c->tls_dir == NULL);
  fail_unless (c->tls_verify);
  fail_unless_equals_int (c->srtp, GST_SIP_SRTP_OPTIONAL);
  fail_unless_equals_int (c->drain_timeout, 30);
  fail_unless_equals_int (c->retry_after, 30);
  fail_unless_equals_string (c->launch, GST_SIP_SERVER_DEFAULT_LAUNCH);
  fail_unless_equals_int (c->offices->len, 1);
  o = g_ptr_array_index (c->offices, 0);
  fail_unless_equals_string (o->name, "main");
  fail_unless_equals_int (g_strv_length (o->dids), 2);
  fail_unless_equals_string (o->dids[0], "+19195550100");
  /* another language means espeak-ng with that language's voice */
  fail_unless_equals_string (o->tts_backend, "espeak");
  fail_unless_equals_string (o->voice, "es");
  fail_unless_equals_string (o->transfer, "tel:+19195550110");
  fail_unless_equals_int (o->line, 10);
  gst_sip_server_config_unref (c);
}

GST_END_TEST;

GST_START_TEST (test_config_tls_and_srtp)
{
  gchar *dir = g_dir_make_tmp ("sipserver-tls-XXXXXX", NULL);
  gchar *agent = g_build_filename (dir, "agent.pem", NULL);
  gchar *text;
  GError *err = NULL;
  GstSipServerConfig *c;
  const GstSipTrunkConfig *t;

  /* only its presence is checked at load; sofia-sip reads it */
  fail_unless (g_file_set_contents (agent, "", 0, NULL));
  text = g_strdup_printf ("[server]\ntls-port = 5061\ntls-dir = %s\n"
                          "tls-verify = false\nsrtp = required\n"
                          "[trunk carrier]\nallow = 192.0.2.1\nsrtp = off\n"
                          "[trunk pbx]\nallow = 192.0.2.2\n"
                          "[trunk secure]\nproxy = sip:sip.example.com\n"
                          "transport = tls\n"
                          "[office a]\ndid = +19195550100\n",
      dir);
  c = load (text, &err);
  fail_unless (c != NULL, "%s", err ? err->message : "");
  fail_unless_equals_int (c->tls_port, 5061);
  fail_unless_equals_string (c->tls_dir, dir);
  fail_if (c->tls_verify);
  fail_unless_equals_int (c->srtp, GST_SIP_SRTP_REQUIRED);
  t = gst_sip_server_config_get_trunk (c, "carrier");
  fail_unless_equals_int (t->srtp, GST_SIP_SRTP_OFF);
  /* -1: the server's */
  t = gst_sip_server_config_get_trunk (c, "pbx");
  fail_unless_equals_int (t->srtp, -1);
  t = gst_sip_server_config_get_trunk (c, "secure");
  fail_unless_equals_string (t->transport, "tls");
  gst_sip_server_config_unref (c);
  g_unlink (agent);
  g_rmdir (dir);
  g_free (text);
  g_free (agent);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_config_errors_name_the_line)
{
  expect_error ("[server]\nlisten = 127.0.0.1:5060\nlisten = 127.0.0.1:5070\n",
      "/etc/gsa/test.conf:3: duplicate key \"listen\" in [server] (first at "
      "line 2)");
  expect_error ("[server]\n; old style comment\n",
      "/etc/gsa/test.conf:2: comments start with #");
  expect_error ("[office a]\ndid = +19195550100\n\n[office a]\n",
      "/etc/gsa/test.conf:4: duplicate group [office a] (first at line 1)");
  expect_error ("[office a]\ndid = +19195550100\nvoise = kal\n",
      "/etc/gsa/test.conf:3: unknown key \"voise\" in [office a]");
  expect_error ("[office a]\ndid = +191955\n",
      "/etc/gsa/test.conf:2: \"+191955\" is not an E.164 number");
  expect_error ("[office a]\ndid = +19195550100\n[office b]\ndid = "
                "+12125550100, 19195550100\n",
      "/etc/gsa/test.conf:4: \"19195550100\" is not an E.164 number");
  expect_error ("[office a]\ndid = +19195550100\n[office b]\ndid = "
                "+12125550100, +19195550100\n",
      "/etc/gsa/test.conf:4: +19195550100 is already an office's number "
      "(line 2)");
  expect_error ("[server]\nrtp-port-min = 20000\nrtp-port-max = 20000\n"
                "[office a]\ndid = +19195550100\n",
      "/etc/gsa/test.conf:3: rtp-port-max (20000) must be above rtp-port-min");
  expect_error ("[server]\nlaunch = fakesrc ! fakesink\n[office a]\ndid = "
                "+19195550100\n",
      "/etc/gsa/test.conf:2: launch has no sipsrc or sipsink");
  expect_error ("[server]\nlaunch = sipsrc ! rtpjitterbuffer do-lost=true ! "
                "rtppcmudepay ! mulawdec ! spanplc ! audioresample ! sttbridge "
                "! agent ! ttsbridge ! audioresample ! mulawenc ! rtppcmupay ! "
                "sipsink\n[office a]\ndid = +19195550100\n",
      "/etc/gsa/test.conf:2: launch has spanplc, which crashes the whole "
      "server");
  expect_error ("[server]\nstt-preload = -1\n[office a]\ndid = "
                "+19195550100\n",
      "/etc/gsa/test.conf:2: stt-preload must be a whole number from 0 to "
      "10000");
  expect_error ("[server]\nexternal-address = nat.example.com\n[office a]\n"
                "did = +19195550100\n",
      "/etc/gsa/test.conf:2: external-address must be an IP address, not "
      "'nat.example.com'");
  expect_error ("[server]\ntls-port = 5061\n[office a]\ndid = +19195550100\n",
      "/etc/gsa/test.conf:2: tls-port needs tls-dir");
  expect_error ("[server]\ntls-port = 5061\ntls-dir = /nonexistent/tls\n"
                "[office a]\ndid = +19195550100\n",
      "/etc/gsa/test.conf:3: tls-dir /nonexistent/tls has no agent.pem");
  expect_error ("[server]\ntls-verify = yes\n[office a]\ndid = +19195550100\n",
      "/etc/gsa/test.conf:2: tls-verify is true or false, not \"yes\"");
  expect_error ("[server]\nsrtp = mandatory\n[office a]\ndid = +19195550100\n",
      "/etc/gsa/test.conf:2: srtp is off, optional or required, not "
      "\"mandatory\"");
  expect_error ("[trunk t]\nallow = 192.0.2.1\nsrtp = on\n[office a]\n"
                "did = +19195550100\n",
      "/etc/gsa/test.conf:3: srtp is off, optional or required");
  expect_error ("[trunk t]\nproxy = sip:sip.example.com\ntransport = tls\n"
                "[office a]\ndid = +19195550100\n",
      "/etc/gsa/test.conf:3: transport tls needs [server] tls-port and "
      "tls-dir");
  expect_error ("[office two words]\ndid = +19195550100\n",
      "/etc/gsa/test.conf:1: office names are one word");
  expect_error ("", "/etc/gsa/test.conf:1: no [office NAME] group");
}

GST_END_TEST;

GST_START_TEST (test_routing)
{
  GstSipServerConfig *c = load ("[office a]\ndid = +19195550100\n"
                                "[office b]\ndid = +442079460000\n",
      NULL);
  const GstSipOfficeConfig *a, *b;

  fail_unless (c != NULL);
  a = gst_sip_server_config_get_office (c, "a");
  b = gst_sip_server_config_get_office (c, "b");
  fail_unless (gst_sip_server_config_find_office (c, "+19195550100") == a);
  fail_unless (gst_sip_server_config_find_office (c, "19195550100") == a);
  /* national formats: without the country code, with separators */
  fail_unless (gst_sip_server_config_find_office (c, "9195550100") == a);
  fail_unless (gst_sip_server_config_find_office (c, "919-555-0100") == a);
  fail_unless (gst_sip_server_config_find_office (c, "2079460000") == b);
  /* not a suffix match on anything shorter than a national number */
  fail_unless (gst_sip_server_config_find_office (c, "5550100") == NULL);
  fail_unless (gst_sip_server_config_find_office (c, "0100") == NULL);
  fail_unless (gst_sip_server_config_find_office (c, "agent") == NULL);
  fail_unless (gst_sip_server_config_find_office (c, "") == NULL);
  fail_unless (gst_sip_server_config_find_office (c, NULL) == NULL);
  gst_sip_server_config_unref (c);
}

GST_END_TEST;

GST_START_TEST (test_uri_user)
{
  struct
  {
    const gchar *uri, *user;
  } cases[] = {
      {"sip:+19195550100@192.0.2.1;user=phone", "+19195550100"},
      {"sips:9195550100@example.com:5061", "9195550100"},
      {"sip:+19195550100;isub=12@example.com", "+19195550100"},
      {"tel:+1-919-555-0100;phone-context=example.com", "+1-919-555-0100"},
      {"sip:example.com", NULL},
      {"http://example.com", NULL},
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    gchar *user = gst_sip_uri_get_user (cases[i].uri);
    fail_unless_equals_string (user, cases[i].user);
    g_free (user);
  }
}

GST_END_TEST;

static JsonObject *
parse_record (const gchar *path, JsonParser **parser)
{
  GError *err = NULL;

  *parser = json_parser_new ();
  fail_unless (json_parser_load_from_file (*parser, path, &err), "%s: %s", path,
      err ? err->message : "");
  return json_node_get_object (json_parser_get_root (*parser));
}

GST_START_TEST (test_record_on_disk)
{
  gchar *dir = g_dir_make_tmp ("siprecord-XXXXXX", NULL);
  GstSipRecord *r = gst_sip_record_new (dir, "a/b@c d", "sip:alice@example.com",
      "sip:+19195550100@192.0.2.1", "+19195550100", "raleigh");
  GstStructure *stats = gst_structure_new ("application/x-sipsrc-stats",
      "packets-received", G_TYPE_UINT64, (guint64) 500, "jitter-ms",
      G_TYPE_DOUBLE, 1.25, "packets-lost", G_TYPE_INT64, (gint64) -1, NULL);
  const gchar *path = gst_sip_record_get_path (r);
  gchar *base = g_path_get_basename (path), *tmp;
  JsonParser *parser;
  JsonObject *o, *t;
  JsonArray *turns;
  GDir *d;
  const gchar *name;
  guint files = 0;

  /* the Call-ID's unsafe characters never reach the file system */
  fail_unless (g_str_has_suffix (base, "-a_b_c_d.json"), "%s", base);
  g_free (base);

  gst_sip_record_save (r);
  gst_sip_record_wait_saved ();
  o = parse_record (path, &parser);
  fail_unless (!json_object_get_boolean_member (o, "complete"));
  fail_unless (json_object_get_null_member (o, "answer"));
  fail_unless_equals_string (
      json_object_get_string_member (o, "office"), "raleigh");
  g_object_unref (parser);

  gst_sip_record_set_answered (r);
  gst_sip_record_add_turn (r, "agent", "Hello.", 0.5, 1.0, -1, FALSE);
  /* back to back: the same reply */
  gst_sip_record_add_turn (r, "agent", "How can I help?", 1.1, 2.0, -1, FALSE);
  /* arrives after a later turn but began before it */
  gst_sip_record_add_turn (r, "agent", "Thanks.", 6.0, 6.5, -1, FALSE);
  gst_sip_record_add_turn (r, "caller", "an accident", 3.0, 4.0, 0.8, FALSE);
  gst_sip_record_set_intake_field (r, "reason", "accident");
  gst_sip_record_set_intake_field (r, "reason", "injury");
  gst_sip_record_add_action (r, "hangup", NULL, "next");
  gst_sip_record_set_media_stats (r, NULL, stats);
  gst_sip_record_end (r, "remote-hangup", 200);
  /* only the first end counts */
  gst_sip_record_end (r, "shutdown", 503);
  gst_sip_record_set_action_result (r, "hangup", "done");
  gst_sip_record_save (r);
  gst_sip_record_wait_saved ();

  o = parse_record (path, &parser);
  fail_unless (json_object_get_boolean_member (o, "complete"));
  fail_unless_equals_string (
      json_object_get_string_member (o, "end_reason"), "remote-hangup");
  fail_unless_equals_int (json_object_get_int_member (o, "sip_status"), 200);
  fail_unless_equals_string (
      json_object_get_string_member (o, "to"), "+19195550100");
  turns = json_object_get_array_member (o, "turns");
  fail_unless_equals_int (json_array_get_length (turns), 3);
  t = json_array_get_object_element (turns, 0);
  fail_unless_equals_string (
      json_object_get_string_member (t, "text"), "Hello. How can I help?");
  fail_unless (json_object_get_double_member (t, "end") == 2.0);
  t = json_array_get_object_element (turns, 1);
  fail_unless_equals_string (
      json_object_get_string_member (t, "role"), "caller");
  fail_unless (json_object_get_double_member (t, "confidence") == 0.8);
  t = json_array_get_object_element (turns, 2);
  fail_unless_equals_string (
      json_object_get_string_member (t, "text"), "Thanks.");
  fail_unless (!json_object_has_member (t, "confidence"));
  fail_unless_equals_string (
      json_object_get_string_member (
          json_object_get_object_member (o, "intake"), "reason"),
      "injury");
  t = json_array_get_object_element (
      json_object_get_array_member (o, "actions"), 0);
  fail_unless_equals_string (
      json_object_get_string_member (t, "result"), "done");
  t = json_object_get_object_member (o, "media");
  fail_unless_equals_int (
      json_object_get_int_member (t, "packets_received"), 500);
  fail_unless_equals_int (json_object_get_int_member (t, "packets_lost"), -1);
  fail_unless (json_object_get_double_member (t, "jitter_ms") == 1.25);
  g_object_unref (parser);

  /* whole-file replacement: no temporary file stays behind */
  d = g_dir_open (dir, 0, NULL);
  while ((name = g_dir_read_name (d)) != NULL) {
    fail_if (g_str_has_suffix (name, ".tmp"), "left behind: %s", name);
    files++;
  }
  g_dir_close (d);
  fail_unless_equals_int (files, 1);

  gst_structure_free (stats);
  tmp = g_strdup (path);
  gst_sip_record_unref (r);
  g_unlink (tmp);
  g_free (tmp);
  g_rmdir (dir);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_record_error_is_the_reason)
{
  gchar *dir = g_dir_make_tmp ("siprecord-XXXXXX", NULL);
  GstSipRecord *r = gst_sip_record_new (
      dir, "x", "sip:a@example.com", "sip:b@example.com", NULL, "main");
  gchar *json, *path = g_strdup (gst_sip_record_get_path (r));

  gst_sip_record_set_error (r, "Internal data stream error.");
  /* our BYE after the error ends the call as a local hangup */
  gst_sip_record_end (r, "local-hangup", 200);
  json = gst_sip_record_to_json (r);
  fail_unless (strstr (json, "\"end_reason\" : \"error\"") != NULL, "%s", json);
  fail_unless (
      strstr (json, "\"error\" : \"Internal data stream error.\"") != NULL,
      "%s", json);
  g_free (json);
  gst_sip_record_unref (r);
  g_unlink (path);
  g_free (path);
  g_rmdir (dir);
  g_free (dir);
}

GST_END_TEST;

static Suite *
sipserver_suite (void)
{
  Suite *s = suite_create ("sipserver");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_config_values_and_defaults);
  tcase_add_test (tc, test_config_errors_name_the_line);
  tcase_add_test (tc, test_config_tls_and_srtp);
  tcase_add_test (tc, test_routing);
  tcase_add_test (tc, test_uri_user);
  tcase_add_test (tc, test_record_on_disk);
  tcase_add_test (tc, test_record_error_is_the_reason);
  return s;
}

GST_CHECK_MAIN (sipserver);
