"""kamailio as the carrier's side of a trunk, for the tests: a registrar
with digest authentication (passwords given by the test) and a proxy that
delivers calls for the offices' numbers (DIDs) to the contact registered
for them, the way a carrier delivers DIDs to a registered trunk.

Everything it does is logged on stderr as lines the tests read:
  REQ <method> <r-uri> <source ip>:<port> <transport>
  AUTHFAIL <user> <source ip>
  REGISTERED <user> <expires> <contact>
  ROUTED <did> -> <r-uri>
  OUTBOUND <number> from <from user> as <auth user> -> <destination>
Python standard library only."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import siptest as st

MODULES = '/usr/lib/x86_64-linux-gnu/kamailio/modules'

CFG = r'''#!KAMAILIO
debug=1
log_stderror=yes
log_prefix=""
children=2
tcp_children=1
auto_aliases=no
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
{tls_listen}alias="127.0.0.1:{port}"
mpath="{modules}"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "auth.so"
{tls_module}modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", {min_expires})
modparam("registrar", "max_expires", 3600)
modparam("auth", "algorithm", "{algorithm}")
modparam("auth", "nonce_expire", 60)

request_route {{
    xlog("L_ALERT", "REQ $rm $ru $si:$sp $pr\n");
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (has_totag()) {{
        if (loose_route()) {{
            t_relay();
            exit;
        }}
        if (is_method("ACK")) {{
            if (t_check_trans()) t_relay();
            exit;
        }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) t_relay();
        exit;
    }}
    t_check_trans();
    if (is_method("OPTIONS") && $rU == $null) {{
        sl_send_reply("200", "OK");
        exit;
    }}
    if (is_method("REGISTER")) {{
        $var(pass) = "";
{passwords}
        if (!pv_www_authenticate("$td", "$var(pass)", "0")) {{
            if ($au != $null) xlog("L_ALERT", "AUTHFAIL $au $si\n");
            www_challenge("$td", "1");
            exit;
        }}
        consume_credentials();
        if (!save("location")) {{
            sl_reply_error();
            exit;
        }}
        xlog("L_ALERT", "REGISTERED $tU $hdr(Expires) $ct\n");
        exit;
    }}
    if (is_method("INVITE")) {{
        $var(did) = $rU;
        $var(out) = "";
{outbound}
        if ($var(out) != "") {{
            $var(pass) = "";
{passwords}
            if (!pv_proxy_authenticate("$fd", "$var(pass)", "0")) {{
                if ($au != $null) xlog("L_ALERT", "AUTHFAIL $au $si\n");
                proxy_challenge("$fd", "1");
                exit;
            }}
            consume_credentials();
            record_route();
            $du = $var(out);
            xlog("L_ALERT", "OUTBOUND $rU from $fU as $au -> $du\n");
            t_relay();
            exit;
        }}
{dids}
        record_route();
        if (!lookup("location")) {{
            sl_send_reply("404", "Not Found");
            exit;
        }}
        xlog("L_ALERT", "ROUTED $var(did) -> $ru\n");
        t_relay();
        exit;
    }}
    sl_send_reply("405", "Method Not Allowed");
}}
'''


TLS_CFG = """[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = {key}
certificate = {cert}

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
"""


class Kamailio:
    """kamailio on 127.0.0.1:<free port>, UDP and TCP (and TLS on tls_port
    with tls=(certificate file, key file)).

    users: {username: password} the registrar accepts; dids: {number:
    username} the proxy delivers to that user's registered contact;
    outbound: {number: sip URI} where calls from a registered user (after
    proxy authentication) to that number go; algorithm: the digest
    algorithm it challenges with."""

    def __init__(self, users, dids=None, algorithm='MD5', min_expires=10, port=None,
                 outbound=None, tls=None):
        st.require('kamailio')
        self.tls = tls
        self.tls_port = st.free_port('tcp') if tls else None
        self.users = dict(users)
        self.dids = dict(dids or {})
        self.outbound = dict(outbound or {})
        self.algorithm = algorithm
        self.min_expires = min_expires
        self.port = port or st.free_port('both')
        self.tmp = tempfile.mkdtemp(prefix='kamailio-')
        self.proc = None
        self.out = None
        self._logs = ''

    def uri(self):
        return 'sip:127.0.0.1:%d' % self.port

    def _write_cfg(self):
        passwords = '\n'.join('        if ($au == "%s") $var(pass) = "%s";' % (u, p)
                              for u, p in self.users.items())
        dids = '\n'.join('        if ($rU == "%s") $rU = "%s";' % (d, u)
                         for d, u in self.dids.items())
        outbound = '\n'.join('        if ($rU == "%s") $var(out) = "%s";' % (n, u)
                             for n, u in self.outbound.items())
        tls_listen = tls_module = ''
        if self.tls:
            tls_cfg = os.path.join(self.tmp, 'tls.cfg')
            with open(tls_cfg, 'w') as f:
                f.write(TLS_CFG.format(cert=self.tls[0], key=self.tls[1]))
            tls_listen = 'enable_tls=yes\nlisten=tls:127.0.0.1:%d\n' % self.tls_port
            tls_module = 'loadmodule "tls.so"\nmodparam("tls", "config", "%s")\n' % tls_cfg
        path = os.path.join(self.tmp, 'kamailio.cfg')
        with open(path, 'w') as f:
            f.write(CFG.format(port=self.port, modules=MODULES, passwords=passwords,
                               dids=dids, outbound=outbound, algorithm=self.algorithm,
                               min_expires=self.min_expires, tls_listen=tls_listen,
                               tls_module=tls_module))
        return path

    def start(self, timeout=10.0):
        cfg = self._write_cfg()
        cmd = ['kamailio', '-f', cfg, '-DD', '-E', '-Y', self.tmp,
               '-P', os.path.join(self.tmp, 'kamailio.pid'), '-m', '64', '-M', '8']
        st.log('  kamailio: ' + ' '.join(cmd))
        self.proc = st.spawn(cmd, cwd=self.tmp, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        self.out = st._Output(self.proc.stdout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if st.send_sip('127.0.0.1', self.port, 'OPTIONS', timeout=0.5) is not None:
                return self
        st.log(st.indent(self.output()))
        self.stop()
        raise RuntimeError('kamailio did not start')

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        if self.out:
            self.out.join()
            self._logs += self.out.text()
            self.out = None

    def restart(self):
        """Stop and start again on the same port: an empty location table."""
        self.stop()
        return self.start()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def output(self):
        return self._logs + (self.out.text() if self.out else '')

    def lines(self, kind):
        """The fields of every log line of one kind (REQ, AUTHFAIL ...)"""
        out = []
        for line in self.output().splitlines():
            m = re.search(r'\b%s (.*)$' % kind, line)
            if m:
                out.append(m.group(1).split())
        return out

    def wait_line(self, kind, pred=lambda f: True, timeout=10.0, after=0):
        """The fields of the first line of `kind` (after the first `after`
        of them) for which pred(fields) holds, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for fields in self.lines(kind)[after:]:
                if pred(fields):
                    return fields
            time.sleep(0.1)
        return None
