/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Trunks without a network: allow lists (address blocks, IPv4 peers on
 * dual-stack sockets) and the [trunk NAME] groups of the server's
 * configuration (values, defaults, the office's trunk). Registration,
 * qualify and the inbound policy run against kamailio and SIPp in
 * tests/check/integration/test_trunk.py.
 */
#include <gst/check/gstcheck.h>
#include <gst/sip/gstsipserver.h>
#include <gst/sip/gstsiptrunk.h>

static gboolean
contains (const gchar *block, const gchar *address)
{
  GstSipCidr cidr;
  GInetAddress *a = g_inet_address_new_from_string (address);
  gboolean in;

  fail_unless (a != NULL, "bad test address %s", address);
  fail_unless (gst_sip_cidr_parse (block, &cidr), "did not parse %s", block);
  in = gst_sip_cidr_contains (&cidr, a);
  g_object_unref (a);
  return in;
}

GST_START_TEST (test_cidr)
{
  GstSipCidr cidr;

  fail_unless (contains ("192.0.2.0/24", "192.0.2.200"));
  fail_if (contains ("192.0.2.0/24", "192.0.3.1"));
  fail_unless (contains ("192.0.2.7", "192.0.2.7"));
  fail_if (contains ("192.0.2.7", "192.0.2.6"));
  /* a prefix that ends inside a byte */
  fail_unless (contains ("198.51.100.0/28", "198.51.100.15"));
  fail_if (contains ("198.51.100.0/28", "198.51.100.16"));
  fail_unless (contains ("0.0.0.0/0", "203.0.113.9"));
  fail_unless (contains ("2001:db8::/32", "2001:db8:ffff::1"));
  fail_if (contains ("2001:db8::/32", "2001:db9::1"));
  fail_unless (contains ("::/0", "::1"));
  /* an IPv4 block matches an IPv4 peer seen on a dual-stack socket */
  fail_unless (contains ("192.0.2.0/24", "::ffff:192.0.2.9"));
  fail_if (contains ("192.0.2.0/24", "::ffff:192.0.3.9"));
  /* and never an IPv6 address */
  fail_if (contains ("0.0.0.0/0", "2001:db8::1"));

  fail_if (gst_sip_cidr_parse ("192.0.2.0/33", &cidr));
  fail_if (gst_sip_cidr_parse ("2001:db8::/129", &cidr));
  fail_if (gst_sip_cidr_parse ("192.0.2.0/", &cidr));
  fail_if (gst_sip_cidr_parse ("192.0.2.0/8x", &cidr));
  fail_if (gst_sip_cidr_parse ("example.com", &cidr));
  fail_if (gst_sip_cidr_parse ("", &cidr));
}

GST_END_TEST;

GST_START_TEST (test_trunk_config)
{
  GError *err = NULL;
  GstSipServerConfig *c = gst_sip_server_config_load_data ("/etc/t.conf",
      "[trunk carrier]\n"
      "allow = 192.0.2.0/28 , 2001:db8::/32\n"
      "proxy = sip:192.0.2.10:5070\n"
      "[trunk reg]\n"
      "registrar = sip:sip.example.com\n"
      "username = acct\n"
      "password = p:w\"d\n"
      "from-user = +19195550100\n"
      "expires = 600\n"
      "qualify = 0\n"
      "register-retry = 5\n"
      "transport = tcp\n"
      "[office a]\n"
      "did = +19195550100\n"
      "trunk = reg\n"
      "[office b]\n"
      "did = +19195550200\n",
      &err);
  const GstSipTrunkConfig *t;
  GInetAddress *in, *out;

  fail_unless (c != NULL, "%s", err ? err->message : "");
  fail_unless_equals_int (c->trunks->len, 2);

  t = gst_sip_server_config_get_trunk (c, "carrier");
  fail_unless (t != NULL);
  fail_unless_equals_int (t->allow->len, 2);
  fail_unless_equals_string (t->proxy, "sip:192.0.2.10:5070");
  fail_unless_equals_string (t->transport, "udp");
  fail_unless_equals_int (t->expires, GST_SIP_TRUNK_DEFAULT_EXPIRES);
  fail_unless_equals_int (t->qualify, GST_SIP_TRUNK_DEFAULT_QUALIFY);
  fail_unless_equals_int (
      t->register_retry, GST_SIP_TRUNK_DEFAULT_REGISTER_RETRY);
  in = g_inet_address_new_from_string ("192.0.2.3");
  out = g_inet_address_new_from_string ("192.0.2.30");
  fail_unless (gst_sip_trunk_config_allows (t, in));
  fail_if (gst_sip_trunk_config_allows (t, out));
  g_object_unref (in);
  g_object_unref (out);

  t = gst_sip_server_config_get_trunk (c, "reg");
  fail_unless_equals_string (t->registrar, "sip:sip.example.com");
  fail_unless_equals_string (t->username, "acct");
  fail_unless_equals_string (t->password, "p:w\"d");
  fail_unless_equals_string (t->from_user, "+19195550100");
  fail_unless (t->allow == NULL);
  fail_unless_equals_int (t->expires, 600);
  fail_unless_equals_int (t->qualify, 0);
  fail_unless_equals_int (t->register_retry, 5);
  fail_unless_equals_string (t->transport, "tcp");

  fail_unless_equals_string (
      gst_sip_server_config_get_office (c, "a")->trunk, "reg");
  fail_unless (gst_sip_server_config_get_office (c, "b")->trunk == NULL);
  fail_unless (gst_sip_server_config_get_trunk (c, "nope") == NULL);
  gst_sip_server_config_unref (c);
}

GST_END_TEST;

GST_START_TEST (test_trunk_config_copy)
{
  GstSipTrunkConfig *a = gst_sip_trunk_config_new ("a"), *b;
  GstSipCidr cidr;

  a->registrar = g_strdup ("sip:r.example.com");
  a->allow = g_array_new (FALSE, FALSE, sizeof (GstSipCidr));
  fail_unless (gst_sip_cidr_parse ("192.0.2.0/24", &cidr));
  g_array_append_val (a->allow, cidr);
  b = gst_sip_trunk_config_copy (a);
  gst_sip_trunk_config_free (a);
  fail_unless_equals_string (b->name, "a");
  fail_unless_equals_string (b->registrar, "sip:r.example.com");
  fail_unless_equals_int (b->allow->len, 1);
  fail_unless_equals_string (b->transport, "udp");
  gst_sip_trunk_config_free (b);
}

GST_END_TEST;

static Suite *
siptrunk_suite (void)
{
  Suite *s = suite_create ("siptrunk");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_cidr);
  tcase_add_test (tc, test_trunk_config);
  tcase_add_test (tc, test_trunk_config_copy);
  return s;
}

GST_CHECK_MAIN (siptrunk);
