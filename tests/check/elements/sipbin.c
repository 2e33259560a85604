/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * sipbin's dial action, with a second sipbin in the same process as the
 * phone we call: a real INVITE/200/ACK/BYE exchange through sofia-sip on
 * 127.0.0.1, media both ways, and the refusals (no common codec, a host
 * name, nobody listening).
 */
#include <gst/check/gstcheck.h>
#include <gio/gio.h>

static guint16
free_udp_port (void)
{
  GSocket *s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
      G_SOCKET_PROTOCOL_UDP, NULL);
  GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  GSocketAddress *sa = g_inet_socket_address_new (lo, 0), *bound;
  guint16 port;

  fail_unless (g_socket_bind (s, sa, TRUE, NULL));
  bound = g_socket_get_local_address (s, NULL);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_object_unref (bound);
  g_object_unref (sa);
  g_object_unref (lo);
  g_object_unref (s);
  return port;
}

static GstElement *
start (const gchar *user, guint16 port, const gchar *inside)
{
  gchar *line = g_strdup_printf (
      "sipbin.( name=sb local-uri=sip:%s@127.0.0.1:%u rtp-port-min=%u "
      "rtp-port-max=%u %s )",
      user, port, 30000 + (port % 1000) * 20, 30019 + (port % 1000) * 20,
      inside);
  GError *err = NULL;
  GstElement *bin = gst_parse_launch (line, &err);
  GstElement *pipeline = gst_pipeline_new (user);

  fail_unless (bin != NULL, "%s: %s", line, err ? err->message : "");
  g_free (line);
  gst_bin_add (GST_BIN (pipeline), bin);
  /* as gst-launch-1.0 does: PAUSED (live: no preroll), then PLAYING */
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_PAUSED),
      GST_STATE_CHANGE_NO_PREROLL);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  return pipeline;
}

static void
stop (GstElement *pipeline)
{
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
}

static GstElement *
sipbin_of (GstElement *pipeline)
{
  return gst_bin_get_by_name (GST_BIN (pipeline), "sb");
}

/* emits dial and waits for the promise: the sip-dial-result */
static GstStructure *
dial (GstElement *pipeline, const gchar *uri, gboolean *started)
{
  GstElement *sb = sipbin_of (pipeline);
  GstPromise *promise = gst_promise_new ();
  GstStructure *result;

  g_signal_emit_by_name (sb, "dial", uri, promise, started);
  fail_unless (gst_promise_wait (promise) == GST_PROMISE_RESULT_REPLIED);
  result = gst_structure_copy (gst_promise_get_reply (promise));
  gst_promise_unref (promise);
  gst_object_unref (sb);
  return result;
}

/* the next sip-call message with state @state on @pipeline's bus */
static gboolean
wait_call_state (GstElement *pipeline, const gchar *state, guint seconds)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  gint64 deadline = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;
  gboolean found = FALSE;

  while (!found && g_get_monotonic_time () < deadline) {
    GstMessage *m = gst_bus_timed_pop_filtered (
        bus, 100 * GST_MSECOND, GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR);
    const GstStructure *s;

    if (m == NULL)
      continue;
    s = gst_message_get_structure (m);
    fail_if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR, "error on the bus");
    if (gst_structure_has_name (s, "sip-call") &&
        g_strcmp0 (gst_structure_get_string (s, "state"), state) == 0)
      found = TRUE;
    gst_message_unref (m);
  }
  gst_object_unref (bus);
  return found;
}

static guint64
packets_received (GstElement *pipeline)
{
  GstElement *src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  GstStructure *stats = NULL;
  guint64 n = 0;

  g_object_get (src, "stats", &stats, NULL);
  gst_structure_get_uint64 (stats, "packets-received", &n);
  gst_structure_free (stats);
  gst_object_unref (src);
  return n;
}

#define ECHO "sipsrc name=src ! rtppcmudepay ! rtppcmupay ! sipsink"
/* A tone to the far end, and what comes back into a fakesink that must
 * not wait for a preroll buffer: nothing comes before the call is up, and
 * a sink waiting would keep the bin, and the tone, in PAUSED. */
#define TALKER \
  "audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=8000,channels=1 " \
  "! mulawenc ! rtppcmupay ! sipsink name=sink sipsrc name=src ! " \
  "rtppcmudepay ! fakesink sync=false async=false"

GST_START_TEST (test_dial_answered)
{
  guint16 callee_port = free_udp_port (), caller_port = free_udp_port ();
  GstElement *callee = start ("phone", callee_port, ECHO);
  GstElement *caller = start ("agent", caller_port, TALKER);
  GstStructure *r;
  gboolean started = FALSE, answered = FALSE;
  gchar *uri = g_strdup_printf ("sip:phone@127.0.0.1:%u", callee_port);
  gint status = 0;
  guint64 n;
  gint i;

  r = dial (caller, uri, &started);
  fail_unless (started);
  fail_unless (gst_structure_get_boolean (r, "answered", &answered));
  fail_unless (gst_structure_get_int (r, "status", &status));
  fail_unless (answered, "not answered: %" GST_PTR_FORMAT, r);
  fail_unless_equals_int (status, 200);
  fail_unless (g_str_has_suffix (
      gst_structure_get_string (r, "call-id"), "@gst-sip-agent"));
  gst_structure_free (r);
  fail_unless (wait_call_state (caller, "answered", 5));

  /* our tone comes back from the phone's echo */
  for (i = 0; i < 50 && (n = packets_received (caller)) < 20; i++)
    g_usleep (100 * 1000);
  fail_unless (n >= 20, "only %" G_GUINT64_FORMAT " packets came back", n);

  /* a second dial while the call is up is refused */
  r = dial (caller, uri, &started);
  fail_if (started);
  fail_unless (gst_structure_get_boolean (r, "answered", &answered));
  fail_if (answered);
  gst_structure_free (r);

  /* our hangup reaches the phone as BYE */
  g_signal_emit_by_name (sipbin_of (caller), "hangup");
  fail_unless (wait_call_state (callee, "ended", 10));
  g_free (uri);
  stop (caller);
  stop (callee);
}

GST_END_TEST;

GST_START_TEST (test_dial_refused)
{
  guint16 callee_port = free_udp_port (), caller_port = free_udp_port ();
  GstElement *callee = start ("phone", callee_port, ECHO);
  /* we offer PCMA only; the phone takes PCMU only */
  GstElement *caller = start (
      "agent", caller_port, "sipsrc ! rtppcmadepay ! rtppcmapay ! sipsink");
  GstStructure *r;
  gboolean started, answered = TRUE;
  gchar *uri = g_strdup_printf ("sip:phone@127.0.0.1:%u", callee_port);
  gint status = 0;

  r = dial (caller, uri, &started);
  fail_unless (started);
  fail_unless (gst_structure_get_boolean (r, "answered", &answered));
  fail_unless (gst_structure_get_int (r, "status", &status));
  fail_if (answered);
  fail_unless_equals_int (status, 488);
  gst_structure_free (r);

  /* names are not resolved by sipbin */
  r = dial (caller, "sip:phone@example.com", &started);
  fail_if (started);
  fail_unless (gst_structure_get_int (r, "status", &status));
  fail_unless_equals_int (status, 0);
  gst_structure_free (r);

  g_free (uri);
  stop (caller);
  stop (callee);
}

GST_END_TEST;

GST_START_TEST (test_dial_nobody)
{
  guint16 caller_port = free_udp_port ();
  GstElement *caller = start ("agent", caller_port, ECHO);
  gchar *uri = g_strdup_printf ("sip:phone@127.0.0.1:%u", free_udp_port ());
  GstStructure *r;
  gboolean started, answered = TRUE;
  gint status = 0;

  /* nobody on that port: ICMP port unreachable, a transport error */
  r = dial (caller, uri, &started);
  fail_unless (started);
  fail_unless (gst_structure_get_boolean (r, "answered", &answered));
  fail_unless (gst_structure_get_int (r, "status", &status));
  fail_if (answered);
  fail_unless (status >= 400, "status %d", status);
  gst_structure_free (r);
  g_free (uri);
  stop (caller);
}

GST_END_TEST;

static guint64
src_stat (GstElement *pipeline, const gchar *name)
{
  GstElement *src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  GstStructure *stats = NULL;
  guint64 n = 0;

  g_object_get (src, "stats", &stats, NULL);
  gst_structure_get_uint64 (stats, name, &n);
  gst_structure_free (stats);
  gst_object_unref (src);
  return n;
}

/* srtp=required on both sides: our offer is RTP/SAVP with two a=crypto,
 * the phone answers one, and the media goes both ways encrypted (what
 * comes back passes sipsrc's authentication) */
GST_START_TEST (test_dial_srtp)
{
  guint16 callee_port = free_udp_port (), caller_port = free_udp_port ();
  GstElement *callee, *caller;
  GstStructure *r;
  gboolean started = FALSE, answered = FALSE;
  gchar *uri = g_strdup_printf ("sip:phone@127.0.0.1:%u", callee_port);
  GstElement *src = gst_element_factory_make ("sipsrc", NULL);
  gboolean with_srtp = g_object_class_find_property (
                           G_OBJECT_GET_CLASS (src), "srtp-key") != NULL;
  guint64 n = 0;
  gint i;

  gst_object_unref (src);
  if (!with_srtp) {
    /* srtp=required does not even start: nothing to dial with */
    GST_INFO ("sipsrc without SRTP: skipped");
    g_free (uri);
    return;
  }
  callee = start ("phone", callee_port, "srtp=required " ECHO);
  caller = start ("agent", caller_port, "srtp=required " TALKER);
  r = dial (caller, uri, &started);
  fail_unless (started);
  fail_unless (gst_structure_get_boolean (r, "answered", &answered));
  fail_unless (answered, "not answered: %" GST_PTR_FORMAT, r);
  gst_structure_free (r);
  for (i = 0; i < 50 && (n = src_stat (caller, "packets-pushed")) < 20; i++)
    g_usleep (100 * 1000);
  fail_unless (n >= 20, "only %" G_GUINT64_FORMAT " packets came back", n);
  fail_unless_equals_int (src_stat (caller, "dropped-srtp"), 0);
  fail_unless (src_stat (callee, "packets-pushed") >= 20);
  g_signal_emit_by_name (sipbin_of (caller), "hangup");
  fail_unless (wait_call_state (callee, "ended", 10));
  stop (callee);

  /* a phone that takes no SRTP (srtp=off) refuses our RTP/SAVP offer */
  callee = start ("phone", callee_port, "srtp=off " ECHO);
  r = dial (caller, uri, &started);
  fail_unless (started);
  fail_unless (gst_structure_get_boolean (r, "answered", &answered));
  fail_if (answered);
  fail_unless (gst_structure_get_int (r, "status", &i));
  fail_unless_equals_int (i, 488);
  gst_structure_free (r);
  g_free (uri);
  stop (caller);
  stop (callee);
}

GST_END_TEST;

/* Makes @dir/NAME/{agent.pem,cafile.pem}: a CA of its own (ca-NAME) and a
 * certificate for IP 127.0.0.1 signed by it, with openssl. FALSE when
 * openssl is missing. */
static gboolean
make_tls_dir (const gchar *dir, const gchar *name)
{
  gchar *script = g_strdup_printf (
      "set -e; mkdir -p %s && cd %s && "
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out "
      "cafile.pem -days 1 -subj /CN=ca-%s && "
      "openssl req -newkey rsa:2048 -nodes -keyout key.pem -out req.pem "
      "-subj /CN=127.0.0.1 && "
      "printf 'subjectAltName=IP:127.0.0.1\\n' > ext.cnf && "
      "openssl x509 -req -in req.pem -CA cafile.pem -CAkey ca.key "
      "-CAcreateserial -out cert.pem -days 1 -extfile ext.cnf && "
      "cat key.pem cert.pem > agent.pem",
      name, name, name);
  gchar *argv[] = {(gchar *) "sh", (gchar *) "-c", script, NULL};
  gint status = -1;
  gboolean ok;

  ok = g_find_program_in_path ("openssl") != NULL &&
      g_spawn_sync (dir, argv, NULL,
          G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
              G_SPAWN_STDERR_TO_DEV_NULL,
          NULL, NULL, NULL, NULL, &status, NULL) &&
      g_spawn_check_wait_status (status, NULL);
  g_free (script);
  return ok;
}

static gboolean
tls_dial (GstElement *caller, const gchar *uri)
{
  gboolean started = FALSE, answered = FALSE;
  GstStructure *r = dial (caller, uri, &started);

  fail_unless (started);
  fail_unless (gst_structure_get_boolean (r, "answered", &answered));
  GST_INFO ("%s: %" GST_PTR_FORMAT, uri, r);
  gst_structure_free (r);
  if (answered)
    g_signal_emit_by_name (sipbin_of (caller), "hangup");
  return answered;
}

/* Calls placed over TLS: the phone's certificate must chain to the CA in
 * our cafile.pem (tls-verify, the default); with tls-verify=false any
 * certificate is taken. */
GST_START_TEST (test_dial_tls_verify)
{
  gchar *dir = g_dir_make_tmp ("sipbin-tls-XXXXXX", NULL);
  guint16 callee_port = free_udp_port (), callee_tls = free_udp_port ();
  guint16 caller_port = free_udp_port (), caller_tls = free_udp_port ();
  GstElement *callee, *caller;
  gchar *inside, *uri, *rm;

  if (!make_tls_dir (dir, "phone") || !make_tls_dir (dir, "other")) {
    GST_INFO ("no openssl: skipped");
    g_free (dir);
    return;
  }
  inside =
      g_strdup_printf ("tls-port=%u tls-dir=%s/phone " ECHO, callee_tls, dir);
  callee = start ("phone", callee_port, inside);
  g_free (inside);
  uri = g_strdup_printf ("sip:phone@127.0.0.1:%u;transport=tls", callee_tls);

  /* our cafile.pem has the phone's CA */
  inside =
      g_strdup_printf ("tls-port=%u tls-dir=%s/phone " TALKER, caller_tls, dir);
  caller = start ("agent", caller_port, inside);
  g_free (inside);
  fail_unless (tls_dial (caller, uri), "not answered with the right CA");
  fail_unless (wait_call_state (callee, "ended", 10));
  stop (caller);

  /* another CA: the TLS connection is refused, no call */
  inside =
      g_strdup_printf ("tls-port=%u tls-dir=%s/other " TALKER, caller_tls, dir);
  caller = start ("agent", caller_port, inside);
  g_free (inside);
  fail_if (tls_dial (caller, uri), "answered although the CA is not ours");
  stop (caller);

  /* the same without verification */
  inside = g_strdup_printf (
      "tls-port=%u tls-dir=%s/other tls-verify=false " TALKER, caller_tls, dir);
  caller = start ("agent", caller_port, inside);
  g_free (inside);
  fail_unless (tls_dial (caller, uri), "not answered with tls-verify=false");
  stop (caller);
  stop (callee);

  rm = g_strdup_printf ("rm -rf '%s'", dir);
  fail_unless (g_spawn_command_line_sync (rm, NULL, NULL, NULL, NULL));
  g_free (rm);
  g_free (uri);
  g_free (dir);
}

GST_END_TEST;

static Suite *
sipbin_suite (void)
{
  Suite *s = suite_create ("sipbin");
  TCase *tc = tcase_create ("dial");

  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_dial_answered);
  tcase_add_test (tc, test_dial_refused);
  tcase_add_test (tc, test_dial_nobody);
  tcase_add_test (tc, test_dial_srtp);
  tcase_add_test (tc, test_dial_tls_verify);
  return s;
}

GST_CHECK_MAIN (sipbin);
