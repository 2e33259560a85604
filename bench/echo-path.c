/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Benchmark peer: the media path of one echo call without signalling,
 *   sip: sipsrc ! rtppcmudepay ! rtppcmupay ! sipsink   (one shared socket)
 *   udp: udpsrc ! rtppcmudepay ! rtppcmupay ! udpsink   (udpsink sends from
 *        udpsrc's socket, the same symmetric setup)
 * Receives on 127.0.0.1:--port, echoes to 127.0.0.1:--remote-port, exits
 * after --packets packets went out and prints the CPU time it used.
 */
#include <gst/gst.h>
#include <gio/gio.h>
#include <sys/resource.h>

#define CAPS \
  "application/x-rtp,media=audio,clock-rate=8000," \
  "encoding-name=PCMU,payload=0"

static GMainLoop *loop;
static gint packets_left;

static GstPadProbeReturn
count_packet (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  if (g_atomic_int_dec_and_test (&packets_left))
    g_main_loop_quit (loop);
  return GST_PAD_PROBE_OK;
}

int
main (int argc, char **argv)
{
  gchar *kind = NULL;
  gint port = 0, remote_port = 0, packets = 1000;
  GOptionEntry entries[] = {
      {"kind", 0, 0, G_OPTION_ARG_STRING, &kind, "sip or udp", "KIND"},
      {"port", 0, 0, G_OPTION_ARG_INT, &port, "port to receive on", "PORT"},
      {"remote-port", 0, 0, G_OPTION_ARG_INT, &remote_port, "port to echo to",
          "PORT"},
      {"packets", 0, 0, G_OPTION_ARG_INT, &packets, "packets to echo", "N"},
      {NULL}};
  GOptionContext *ctx = g_option_context_new ("- one echo media path");
  GError *err = NULL;
  GstElement *pipeline, *src, *sink;
  GstPad *pad;
  gchar *line;
  GSocket *socket = NULL;
  struct rusage usage;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &err) || kind == NULL ||
      port <= 0 || remote_port <= 0) {
    g_printerr ("usage: echo-path --kind sip|udp --port P --remote-port R\n");
    return 2;
  }
  g_option_context_free (ctx);

  if (g_str_equal (kind, "sip"))
    line = g_strdup_printf (
        "sipsrc name=src address=127.0.0.1 port=%d "
        "remote-address=127.0.0.1 remote-port=%d caps=\"" CAPS "\" ! "
        "rtppcmudepay ! rtppcmupay ! sipsink name=sink",
        port, remote_port);
  else
    line = g_strdup_printf (
        "udpsrc name=src address=127.0.0.1 port=%d "
        "caps=\"" CAPS "\" ! rtppcmudepay ! rtppcmupay ! "
        "udpsink name=sink host=127.0.0.1 port=%d sync=false async=false",
        port, remote_port);
  pipeline = gst_parse_launch (line, &err);
  if (pipeline == NULL) {
    g_printerr ("%s\n", err->message);
    return 1;
  }
  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");

  /* Both variants send from the socket they receive on. */
  gst_element_set_state (pipeline, GST_STATE_PAUSED);
  g_object_get (
      src, g_str_equal (kind, "sip") ? "socket" : "used-socket", &socket, NULL);
  g_object_set (sink, "socket", socket, NULL);
  g_clear_object (&socket);

  packets_left = packets;
  pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_packet, NULL, NULL);
  gst_object_unref (pad);

  loop = g_main_loop_new (NULL, FALSE);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  g_print ("ready\n");
  g_main_loop_run (loop);
  gst_element_set_state (pipeline, GST_STATE_NULL);

  getrusage (RUSAGE_SELF, &usage);
  g_print ("cpu-us %" G_GINT64_FORMAT "\n",
      (gint64) usage.ru_utime.tv_sec * 1000000 + usage.ru_utime.tv_usec +
          (gint64) usage.ru_stime.tv_sec * 1000000 + usage.ru_stime.tv_usec);

  gst_object_unref (src);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  g_main_loop_unref (loop);
  g_free (line);
  g_free (kind);
  return 0;
}
