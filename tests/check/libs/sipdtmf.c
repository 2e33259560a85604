/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Key presses in SIP INFO bodies: what is read, and the status every other
 * body gets.
 */
#include <gst/check/gstcheck.h>
#include <gst/sip/gstsipdtmf.h>
#include <string.h>

typedef struct
{
  const gchar *type;
  const gchar *body;
  guint status;
  gint number;
  gint duration_ms;
} Case;

static const Case cases[] = {
    {"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", 200, 5, 160},
    {"application/dtmf-relay", "Signal=#\r\nDuration=100", 200, 11, 100},
    {"Application/DTMF-Relay; charset=x", "signal = * \n duration= 90\n", 200,
        10, 90},
    {"application/dtmf-relay", "Signal=11\r\n", 200, 11, -1},
    {"application/dtmf-relay", "Signal=d\r\nFoo=bar\r\n", 200, 15, -1},
    {"application/dtmf", "7", 200, 7, -1},
    {"application/dtmf", " A\r\n", 200, 12, -1},
    {"application/dtmf", "15", 200, 15, -1},
    /* bad bodies: 400 */
    {"application/dtmf-relay", "Signal=Z\r\nDuration=160", 400, -1, -1},
    {"application/dtmf-relay", "Signal=16", 400, -1, -1},
    {"application/dtmf-relay", "Signal=-1", 400, -1, -1},
    {"application/dtmf-relay", "Signal=55", 400, -1, -1},
    {"application/dtmf-relay", "Duration=160", 400, -1, -1},
    {"application/dtmf-relay", "Signal=5\r\nSignal=6", 400, -1, -1},
    {"application/dtmf-relay", "Signal=5\r\nDuration=abc", 400, -1, -1},
    {"application/dtmf-relay", "Signal=5\r\nDuration=0", 400, -1, -1},
    {"application/dtmf-relay", "Signal=5\r\nDuration=99999999999999999999", 400,
        -1, -1},
    {"application/dtmf-relay", "Signal", 400, -1, -1},
    {"application/dtmf-relay", "", 400, -1, -1},
    {"application/dtmf", "", 400, -1, -1},
    {"application/dtmf", "12345", 400, -1, -1},
    {"application/dtmf", "x", 400, -1, -1},
    /* not ours: 415 */
    {"text/plain", "5", 415, -1, -1},
    {"application/dtmf-relayx", "Signal=5", 415, -1, -1},
    {NULL, "Signal=5", 415, -1, -1},
};

GST_START_TEST (test_info_bodies)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    const Case *c = &cases[i];
    gint number = 99, duration = 99;
    const gchar *why = NULL;
    guint status = gst_sip_dtmf_parse_info (
        c->type, c->body, strlen (c->body), &number, &duration, &why);

    fail_unless_equals_int_hex (status, c->status);
    fail_unless (status == 200 || why != NULL, "case %u: no reason", i);
    fail_unless (number == c->number, "case %u: number %d, want %d", i, number,
        c->number);
    fail_unless (duration == c->duration_ms, "case %u: duration %d, want %d", i,
        duration, c->duration_ms);
  }
}

GST_END_TEST;

/* A body with a NUL in it, and one far too large, are no key press. */
GST_START_TEST (test_info_binary_and_large)
{
  gchar *big = g_strnfill (4096, '5');
  gint number, duration;
  const gchar *why;

  fail_unless_equals_int (gst_sip_dtmf_parse_info ("application/dtmf", "5\0", 2,
                              &number, &duration, &why),
      400);
  fail_unless_equals_int (gst_sip_dtmf_parse_info ("application/dtmf-relay",
                              big, 4096, &number, &duration, &why),
      400);
  g_free (big);
}

GST_END_TEST;

GST_START_TEST (test_keys)
{
  const gchar *keys = "0123456789*#ABCD";
  gint i;

  for (i = 0; i < 16; i++) {
    fail_unless_equals_int (gst_sip_dtmf_number_from_char (keys[i]), i);
    fail_unless_equals_int (gst_sip_dtmf_char_from_number (i), keys[i]);
  }
  fail_unless_equals_int (gst_sip_dtmf_number_from_char ('b'), 13);
  fail_unless_equals_int (gst_sip_dtmf_number_from_char ('E'), -1);
  fail_unless_equals_int (gst_sip_dtmf_number_from_char ('\0'), -1);
  fail_unless_equals_int (gst_sip_dtmf_char_from_number (16), 0);
  fail_unless_equals_int (gst_sip_dtmf_char_from_number (-1), 0);
}

GST_END_TEST;

static Suite *
sipdtmf_suite (void)
{
  Suite *s = suite_create ("sipdtmf");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_info_bodies);
  tcase_add_test (tc, test_info_binary_and_large);
  tcase_add_test (tc, test_keys);
  return s;
}

GST_CHECK_MAIN (sipdtmf);
