#!/usr/bin/env python3
"""Carrier trunks: gst-sip-agent against kamailio as the carrier.

kamailio (kamailiotest.py) is a registrar with digest auth and a proxy that
delivers each office's number to the contact registered for it, as a
carrier does for a registered trunk.

- register: the server registers each trunk at start (digest MD5), and
  refreshes before the registration expires; a call to the number, placed
  by SIPp through kamailio, reaches the right office (Request-URI is our
  contact, the number is in To; Record-Route; two Vias) and its record
  names office and trunk.
- wrongpass: a trunk with a wrong password fails with a clear line and
  backs off: no storm of REGISTERs.
- sha256: a registrar that only offers SHA-256 digest (RFC 8760) gets a
  clear "not supported" and no storm.
- policy: an INVITE and an OPTIONS from 127.0.0.3, which no trunk takes,
  get 403 and no media port; OPTIONS from the registrar's address 200.
- down: kamailio stops: qualify (OPTIONS) reports the trunk down; kamailio
  comes back with an empty location table: the trunk is up again, registers
  at once, and calls get through again.
- shutdown: stopping the server unregisters (REGISTER with expires 0).
- auth: a PBX trunk (no allow, no registrar, credentials) challenges
  INVITEs with digest; SIPp answering it gets in, a wrong password not; an
  allow-list trunk takes its addresses, for its own office only.
- example: examples/lawfirm.conf with its placeholder carriers: failed
  registrations, a down trunk, 403/401 by policy, a clean stop.
- outbound: gst-sip-agent --dial through kamailio (proxy authentication)
  to a SIPp phone (183 early media, then 200): the agent speaks and hangs
  up; the record is outbound; a number nobody has fails with 404.
- callback: an inbound call whose script ends with `callback {phone}`: we
  hang up, call the number back through the trunk, and the agent starts
  in the script's outbound-start state.
- blind: baresip calls through kamailio and is transferred (REFER through
  the Record-Route) to the attorney's phone (SIPp), which baresip calls
  itself; the record says succeeded (200).
- sipbin: gst-launch-1.0 sipbin with registrar/username/password
  registers (sip-registration messages), takes a call through kamailio,
  refuses 127.0.0.3, unregisters when it stops.
- attended: transfer-mode = attended: we call the attorney's phone (SIPp),
  speak the intake summary, REFER baresip with Replaces naming that call,
  baresip calls the phone, and we hang up the consultation.
- config: bad [trunk] groups exit 2 naming the file and line.

Runs in a private network namespace (unshare -n): the example config
names outside hosts.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402
import servertest as sv  # noqa: E402
import kamailiotest as kt  # noqa: E402

RALEIGH = '+19195550100'
DURHAM = '+19195550200'

# the [server] group of every configuration here (format() twice: first
# ours, then servertest's {port} and the like)
SERVER = """[server]
listen = 127.0.0.1:{{port}}
records = {{records}}
rtp-port-min = {{rtp_min}}
rtp-port-max = {{rtp_max}}
launch = sipsrc ! rtppcmudepay ! rtppcmupay ! sipsink
"""

CONFIG = SERVER + """
[trunk raleigh]
registrar = sip:{khost}:{kport}
username = raleigh
password = {password}
expires = {expires}
qualify = 1
register-retry = 2

[office raleigh]
did = {raleigh}
trunk = raleigh
"""


def config(kport, password='s3cret', expires=20, extra='', khost='127.0.0.1'):
    return CONFIG.format(kport=kport, password=password, expires=expires,
                         raleigh=RALEIGH, khost=khost) + extra


def sipp_through(kam, did, server):
    """A short call from SIPp to `did` at kamailio; returns the SippResult."""
    return st.run_sipp('uac_echo_short.xml', '127.0.0.1', kam.port, service=did,
                       keys={'codec_pt': 0, 'codec_name': 'PCMU'}, timeout=20)


def options_from(local_host, host, port, timeout=2.0):
    """The status of an OPTIONS to host:port sent from local_host, or None"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((local_host, 0))
        s.settimeout(0.2)
        s.sendto(st.sip_request('OPTIONS', host, port, s.getsockname()[1],
                                local_host=local_host), (host, port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, _ = s.recvfrom(65535)
            except socket.timeout:
                continue
            code = st.status_of(data)
            if code and code >= 200:
                return code
    return None


def udp_sockets(pid):
    """How many UDP sockets the process has open"""
    inodes = set()
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            link = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        m = re.match(r'socket:\[(\d+)\]', link)
        if m:
            inodes.add(m.group(1))
    n = 0
    for table in ('/proc/net/udp', '/proc/net/udp6'):
        with open(table) as f:
            for line in f.readlines()[1:]:
                if line.split()[9] in inodes:
                    n += 1
    return n


def registered(kam, after=0, timeout=10.0, expires=None):
    return kam.wait_line('REGISTERED', lambda f: f[0] == 'raleigh' and
                         (expires is None or f[1] == expires), timeout, after)


def test_register(res):
    with kt.Kamailio({'raleigh': 's3cret'}, {RALEIGH: 'raleigh'}) as kam, \
            sv.Server(config(kam.port, khost='localhost')) as server:
        # a name: resolved by us (GResolver), sent to by sofia-sip
        first = registered(kam)
        res.check(first is not None, 'registers at kamailio with digest auth', kam.output()[-1500:])
        res.check(server.wait_output(r'trunk raleigh registration: registered \(200', 5) is not None,
                  'prints the registration', server.output())
        n = len(kam.lines('REGISTERED'))
        again = registered(kam, after=n, timeout=25)
        res.check(again is not None, 'refreshes before the 20 s registration expires',
                  kam.output()[-1500:])
        res.check(not kam.lines('AUTHFAIL'), 'no failed authentication', str(kam.lines('AUTHFAIL')))

        r = sipp_through(kam, RALEIGH, server)
        res.check(r.rc == 0, 'a call to %s through kamailio is answered' % RALEIGH,
                  st.sipp_report(r) + server.output())
        routed = kam.lines('ROUTED')
        res.check(routed and routed[0][0] == RALEIGH and 'raleigh@' in routed[0][2],
                  'kamailio delivered it to our registered contact', str(routed))
        rec = server.wait_record(lambda x: x.get('complete'), 10)
        res.check(rec is not None and rec.get('office') == 'raleigh' and
                  rec.get('trunk') == 'raleigh' and rec.get('to') == RALEIGH,
                  'the record: office raleigh, trunk raleigh, to %s' % RALEIGH, str(rec))

        # shutdown unregisters
        rc = server.stop(20)
        res.check(rc == 0, 'server stops (exit 0)', 'exit %s' % rc)
        gone = kam.wait_line('REQ', lambda f: f[0] == 'REGISTER', timeout=1, after=0)
        unreg = registered(kam, expires='0', timeout=5)
        res.check(unreg is not None, 'unregisters on shutdown (Expires: 0)',
                  str(kam.lines('REGISTERED')) + str(gone))


TLS_CONFIG = SERVER + """tls-port = {tls_port}
tls-dir = {tls_dir}

[trunk raleigh]
registrar = sip:127.0.0.1:{kport}
transport = tls
username = raleigh
password = s3cret
expires = 20

[office raleigh]
did = {raleigh}
trunk = raleigh
"""


def test_tls(res):
    """A carrier over TLS: we register over TLS (our certificate directory
    trusts the CA of kamailio's), kamailio delivers a call to our TLS
    contact, and no SIP crosses in the clear."""
    tmp = tempfile.mkdtemp(prefix='trunk-tls-')
    try:
        tls_dir, _ca = st.make_certificates(tmp)
        cert = (os.path.join(tmp, 'agent.crt'), os.path.join(tmp, 'agent.key'))
        tls_port = st.free_port('tcp')
        with kt.Kamailio({'raleigh': 's3cret'}, {RALEIGH: 'raleigh'}, tls=cert) as kam:
            cap = TcpCapture([kam.tls_port, tls_port])
            cap.start()
            conf = TLS_CONFIG.format(tls_port=tls_port, tls_dir=tls_dir, kport=kam.tls_port,
                                     raleigh=RALEIGH)
            with sv.Server(conf) as server:
                first = registered(kam)
                regs = [f for f in kam.lines('REQ') if f[0] == 'REGISTER']
                res.check(first is not None and regs and all(f[3] == 'tls' for f in regs),
                          'registers at kamailio over TLS (%s)' % [f[3] for f in regs],
                          kam.output()[-1500:] + server.output())
                res.check(first is not None and ('transport=tls' in first[2] or
                                                 first[2].startswith('<sips:')),
                          'the registered contact is our TLS one (%s)'
                          % (first[2] if first else None))
                r = sipp_through(kam, RALEIGH, server)
                res.check(r.rc == 0, 'a call to %s through kamailio reaches us over TLS and is '
                          'answered' % RALEIGH, st.sipp_report(r) + server.output() +
                          kam.output()[-2000:])
                rec = server.wait_record(lambda x: x.get('complete'), 10)
                res.check(rec is not None and rec.get('trunk') == 'raleigh',
                          'the record names trunk raleigh', str(rec))
            cap.stop()
            payload = cap.tcp_payload()
            res.check(payload and b'REGISTER sip:' not in payload and b'INVITE sip:' not in
                      payload and b'SIP/2.0' not in payload and payload[:1] == b'\x16',
                      'between kamailio and us only TLS records (%d bytes, no SIP in the '
                      'clear)' % len(payload))
            cap.cleanup()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class TcpCapture(st.Capture):
    """tshark on lo for TCP ports; the bytes they carried."""

    def __init__(self, ports):
        super().__init__([])
        self.tcp_ports = ports

    def capture_filter(self):
        return ' or '.join('tcp port %d' % p for p in self.tcp_ports)

    def start(self, timeout=15.0):
        super().start(timeout)
        time.sleep(0.5)

    def tcp_payload(self):
        r = subprocess.run(['tshark', '-r', self.path, '-Y', 'tcp.len > 0', '-T', 'fields',
                            '-e', 'tcp.payload'], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        return b''.join(bytes.fromhex(x.replace(':', '')) for x in r.stdout.decode().split())


def test_wrong_password(res):
    with kt.Kamailio({'raleigh': 's3cret'}) as kam, \
            sv.Server(config(kam.port, password='wrong')) as server:
        m = server.wait_output(r'trunk raleigh registration: failed \(401 credentials rejected', 10)
        res.check(m is not None, 'a wrong password: "registration: failed (401 credentials '
                  'rejected ...)"', server.output())
        time.sleep(10)
        attempts = len(kam.lines('AUTHFAIL'))
        # retries after 2, 4, 8 s: 3 or 4 attempts in about 12 s, not hundreds
        res.check(2 <= attempts <= 4, 'backs off: %d authenticated attempts in ~12 s' % attempts,
                  kam.output()[-2000:])
        res.check(registered(kam, timeout=0.1) is None, 'never registered', '')


def test_sha256(res):
    with kt.Kamailio({'raleigh': 's3cret'}, algorithm='SHA-256') as kam, \
            sv.Server(config(kam.port)) as server:
        m = server.wait_output(r'registration: failed \(401 registrar asks for SHA-256 digest only', 10)
        res.check(m is not None, 'SHA-256-only registrar: says it is not supported', server.output())
        time.sleep(5)
        reqs = [f for f in kam.lines('REQ') if f[0] == 'REGISTER']
        res.check(len(reqs) <= 3, 'no storm: %d REGISTERs in ~6 s' % len(reqs), str(reqs))


def test_policy(res):
    with kt.Kamailio({'raleigh': 's3cret'}, {RALEIGH: 'raleigh'}) as kam, \
            sv.Server(config(kam.port)) as server:
        res.check(registered(kam) is not None, 'registered', kam.output()[-1000:])
        time.sleep(0.5)
        before = udp_sockets(server.pid)
        code, text = sv.invite('127.0.0.1', server.port, RALEIGH, local_host='127.0.0.3')
        res.check(code == 403, 'INVITE from 127.0.0.3 (no trunk takes it): 403', '%s %s' % (code, text))
        res.check('m=audio' not in text, '403 carries no SDP', text)
        after = udp_sockets(server.pid)
        res.check(after == before, 'no media port opened (%d UDP sockets before, %d after)'
                  % (before, after))
        res.check(not server.records_now(), 'no call record for a refused stranger',
                  str(server.records_now()))
        res.check(options_from('127.0.0.3', '127.0.0.1', server.port) == 403,
                  'OPTIONS from 127.0.0.3: 403')
        res.check(options_from('127.0.0.1', '127.0.0.1', server.port) == 200,
                  'OPTIONS from the registrar address: 200')
        # a number that is no office's, from the trunk's own address
        code, _ = sv.invite('127.0.0.1', server.port, '+19195550999')
        res.check(code == 404, 'unknown number from the trunk: 404', str(code))


def test_down_and_back(res):
    with kt.Kamailio({'raleigh': 's3cret'}, {RALEIGH: 'raleigh'}) as kam, \
            sv.Server(config(kam.port, expires=300)) as server:
        res.check(registered(kam) is not None, 'registered', kam.output()[-1000:])
        kam.stop()
        t0 = time.monotonic()
        down = server.wait_output(r'trunk raleigh qualify: down', 10)
        res.check(down is not None, 'kamailio stopped: the trunk is down in %.1f s'
                  % (time.monotonic() - t0), server.output())
        mark = len(server.output())
        n = len(kam.lines('REGISTERED'))
        kam.start()
        t0 = time.monotonic()
        up = server.wait_output(r'trunk raleigh qualify: up \(200', 10, start=mark)
        res.check(up is not None, 'kamailio back: the trunk is up in %.1f s'
                  % (time.monotonic() - t0), server.output())
        # the new kamailio has an empty location table: we must register at once,
        # not when the 300 s registration would have been refreshed
        res.check(registered(kam, after=n, timeout=5) is not None,
                  're-registers as soon as the trunk is back', kam.output()[-1500:])
        r = sipp_through(kam, RALEIGH, server)
        res.check(r.rc == 0, 'calls get through again', st.sipp_report(r) + server.output())


PBX_CONFIG = """[server]
listen = 127.0.0.1:{port}
records = {records}
rtp-port-min = {rtp_min}
rtp-port-max = {rtp_max}
launch = sipsrc ! rtppcmudepay ! rtppcmupay ! sipsink

# a PBX that authenticates to us
[trunk pbx]
username = pbx
password = pbx-secret

# a carrier known by its addresses
[trunk carrier]
allow = 127.0.0.3

[office raleigh]
did = +19195550100
trunk = pbx

[office durham]
did = +19195550200
trunk = carrier
"""


def test_inbound_auth(res):
    with sv.Server(PBX_CONFIG) as server:
        code, text = sv.invite('127.0.0.1', server.port, RALEIGH)
        challenge = sv.header(text, 'WWW-Authenticate') or ''
        res.check(code == 401 and 'Digest' in challenge and 'nonce=' in challenge and
                  'algorithm=MD5' in challenge,
                  'INVITE without credentials on the PBX trunk: 401 with a digest challenge',
                  '%s %s' % (code, text))
        r = st.run_sipp('uac_auth.xml', '127.0.0.1', server.port, service=RALEIGH,
                        keys={'codec_pt': 0, 'codec_name': 'PCMU'}, timeout=20,
                        extra=['-au', 'pbx', '-ap', 'pbx-secret'])
        res.check(r.rc == 0, 'the PBX answers the challenge (SIPp): call answered',
                  st.sipp_report(r) + server.output())
        rec = server.wait_record(lambda x: x.get('complete') and x.get('trunk') == 'pbx', 10)
        res.check(rec is not None and rec.get('office') == 'raleigh',
                  'record: trunk pbx, office raleigh', str(server.records_now()))
        r = st.run_sipp('uac_auth.xml', '127.0.0.1', server.port, service=RALEIGH,
                        keys={'codec_pt': 0, 'codec_name': 'PCMU'}, timeout=10,
                        extra=['-au', 'pbx', '-ap', 'wrong'])
        res.check(r.rc != 0 and 'SIP/2.0 200' not in r.messages,
                  'a wrong password is not answered 200', r.messages[-1500:])
        # the carrier trunk takes 127.0.0.3 by address, for its own office only
        code, _ = sv.invite('127.0.0.1', server.port, DURHAM, local_host='127.0.0.3')
        res.check(code == 200, 'INVITE from 127.0.0.3 (carrier allow list) to durham: 200', str(code))
        code, _ = sv.invite('127.0.0.1', server.port, RALEIGH, local_host='127.0.0.3')
        res.check(code == 404, "raleigh's number arriving on the carrier trunk: 404", str(code))


def test_example(res):
    """examples/lawfirm.conf as it ships, trunks and all: its carriers are
    placeholders (example.com, 192.0.2.x), unreachable in this network
    namespace; the server says so and keeps answering what it may."""
    path = os.path.join(st.SRC_ROOT, 'examples', 'lawfirm.conf')
    with sv.Server(config_path=path) as server:
        for trunk in ('raleigh', 'cary'):
            m = server.wait_output(r'trunk %s registration: failed \(([^)]*)' % trunk, 30)
            res.check(m is not None, 'lawfirm.conf: trunk %s cannot reach sip.example.com: '
                      'registration failed (%s)' % (trunk, m.group(1) if m else '-'),
                      server.output())
        m = server.wait_output(r'trunk durham qualify: down', 20)
        res.check(m is not None, 'lawfirm.conf: trunk durham (proxy 192.0.2.10) is down',
                  server.output())
        # 127.0.0.1 is in no allow list, and the chapel-hill PBX trunk
        # challenges whatever no other trunk takes
        for did, office in (('+19195550200', 'durham'), ('+19195550300', 'chapel-hill')):
            code, _ = sv.invite('127.0.0.1', server.port, did)
            res.check(code == 401, 'a call from 127.0.0.1 to %s: challenged (401)' % office,
                      str(code))
        res.check(server.proc.poll() is None, 'the server is still up', server.output())
        rc = server.stop(40)
        res.check(rc == 0, 'and stops cleanly (exit 0)', 'exit %s' % rc)


CALLBACK_SCRIPT = """[script]
start = hello
[state hello]
say = Hello, this is Smith and Jones returning your call. Goodbye.
next = hangup
"""

CALLBACK_CONFIG = """[server]
listen = 127.0.0.1:{{port}}
records = {{records}}
rtp-port-min = {{rtp_min}}
rtp-port-max = {{rtp_max}}

[trunk raleigh]
registrar = sip:localhost:{kport}
username = raleigh
password = s3cret

[office raleigh]
did = {raleigh}
trunk = raleigh
script = callback.ini
"""

CALLEE = '+19195550123'


def test_outbound(res):
    """gst-sip-agent --dial: through kamailio with proxy authentication, to a
    SIPp phone that answers with early media first and says "hello"; the
    agent speaks its script and hangs up."""
    import speechtest as sp
    tmp = sv.tempfile.mkdtemp(prefix='trunk-callee-')
    pcm, _ = sp.caller_timeline(['Hello?'], rate=8000, first_wait=0.5, pause=1.0, tail=6.0)
    pcap = os.path.join(tmp, 'callee.pcap')
    st.make_rtp_pcap(pcap, 0, payload=sp.encode(pcm, 'PCMU'), payload_size=sp.PAYLOAD_SIZE)
    callee = st.Sipp('uas_answer_talk.xml', '127.0.0.1', 5060, keys={'pcap': pcap}, timeout=60)
    with kt.Kamailio({'raleigh': 's3cret'}, {RALEIGH: 'raleigh'},
                     outbound={CALLEE: 'sip:callee@127.0.0.1:%d' % callee.port}) as kam:
        callee.start()
        server = sv.Server(CALLBACK_CONFIG.format(kport=kam.port, raleigh=RALEIGH),
                           files={'callback.ini': CALLBACK_SCRIPT},
                           args=['--dial', CALLEE, '--office', 'raleigh'])
        try:
            server.start()
            rc = server.wait(60)
            out = server.output()
            res.check(rc == 0 and 'the call to %s was answered' % CALLEE in out,
                      'gst-sip-agent --dial %s --office raleigh: answered, exit 0' % CALLEE,
                      'exit %s\n%s' % (rc, out))
            sent = kam.lines('OUTBOUND')
            res.check(sent and sent[0][0] == CALLEE and sent[0][2] == RALEIGH and
                      sent[0][4] == 'raleigh',
                      'kamailio took it after proxy authentication, caller ID %s' % RALEIGH,
                      str(sent) + kam.output()[-1500:])
            res.check(not kam.lines('AUTHFAIL'), 'credentials accepted', str(kam.lines('AUTHFAIL')))
            r = callee.wait()
            res.check(r.rc == 0, 'the phone got our INVITE, answered, heard our BYE',
                      st.sipp_report(r))
            recs = server.records_now()
            rec = recs[0] if recs else {}
            agent = ' '.join(t.get('text', '') for t in rec.get('turns', [])
                             if t.get('role') == 'agent')
            res.check(rec.get('direction') == 'outbound' and rec.get('to') == CALLEE and
                      rec.get('office') == 'raleigh' and rec.get('trunk') == 'raleigh' and
                      rec.get('answer') and rec.get('end_reason') == 'local-hangup',
                      'record: outbound, to %s, office and trunk raleigh, answered, '
                      'local-hangup' % CALLEE, str(rec))
            res.check('returning your call' in agent.lower(),
                      'the agent said its script to the callee', agent or str(rec))
        finally:
            server.cleanup()
            sv.shutil.rmtree(tmp, ignore_errors=True)

        # a number the carrier cannot reach: 404 through the proxy
        with sv.Server(CALLBACK_CONFIG.format(kport=kam.port, raleigh=RALEIGH),
                       files={'callback.ini': CALLBACK_SCRIPT},
                       args=['--dial', '+19195550999', '--office', 'raleigh']) as server:
            rc = server.wait(30)
            out = server.output()
            res.check(rc == 1 and 'failed: 404 (not-found)' in out,
                      'a number nobody answers: "failed: 404 (not-found)", exit 1',
                      'exit %s\n%s' % (rc, out))
            rec = (server.records_now() or [{}])[0]
            res.check(rec.get('direction') == 'outbound' and rec.get('end_reason') == 'not-found'
                      and rec.get('sip_status') == 404 and not rec.get('answer'),
                      'its record: not-found, 404, never answered', str(rec))


CALLBACK_BACK_SCRIPT = """[script]
start = hello
outbound-start = back
[state hello]
say = Thank you for calling Smith and Jones. We will call you right back.
next = set phone=+19195550123; callback {phone}
[state back]
say = Hello, this is Smith and Jones calling you back. Goodbye.
next = hangup
"""


def test_callback(res):
    """A caller through kamailio; the script says it will call back and
    ends with `callback {phone}`: we hang up, then dial the number through
    the trunk, where the agent starts in the script's outbound-start
    state."""
    import speechtest as sp
    tmp = sv.tempfile.mkdtemp(prefix='trunk-callback-')
    pcm, _ = sp.caller_timeline(['Hello?'], rate=8000, first_wait=0.5, pause=1.0, tail=8.0)
    pcap = os.path.join(tmp, 'talk.pcap')
    st.make_rtp_pcap(pcap, 0, payload=sp.encode(pcm, 'PCMU'), payload_size=sp.PAYLOAD_SIZE)
    callee = st.Sipp('uas_answer_talk.xml', '127.0.0.1', 5060, keys={'pcap': pcap}, timeout=60)
    try:
        with kt.Kamailio({'raleigh': 's3cret'}, {RALEIGH: 'raleigh'},
                         outbound={CALLEE: 'sip:callee@127.0.0.1:%d' % callee.port}) as kam, \
                sv.Server(CALLBACK_CONFIG.format(kport=kam.port, raleigh=RALEIGH),
                          files={'callback.ini': CALLBACK_BACK_SCRIPT}) as server:
            callee.start()
            res.check(registered(kam) is not None, 'registered', kam.output()[-1000:])
            caller = st.run_sipp('uac_talk_wait_bye.xml', '127.0.0.1', kam.port, service=RALEIGH,
                                 keys={'codec_pt': 0, 'codec_name': 'PCMU', 'pcap': pcap},
                                 timeout=40)
            res.check(caller.rc == 0, 'the caller heard the agent and got our BYE',
                      st.sipp_report(caller) + server.output())
            r = callee.wait()
            res.check(r.rc == 0, 'then we called %s back and the phone answered' % CALLEE,
                      st.sipp_report(r) + server.output())
            inbound = server.wait_record(lambda x: x.get('complete') and
                                         x.get('direction') == 'inbound', 10)
            outbound = server.wait_record(lambda x: x.get('complete') and
                                          x.get('direction') == 'outbound', 10)
            acts = (inbound or {}).get('actions', [])
            res.check(acts and acts[-1].get('type') == 'callback' and
                      acts[-1].get('target') == CALLEE and
                      str(acts[-1].get('result', '')).startswith('placed: ') and
                      outbound and acts[-1]['result'] == 'placed: ' + outbound.get('call_id'),
                      'the inbound record: callback %s, placed as the outbound call' % CALLEE,
                      str(inbound) + '\n' + str(outbound))
            said = ' '.join(t.get('text', '') for t in (outbound or {}).get('turns', [])
                            if t.get('role') == 'agent')
            res.check('calling you back' in said.lower(),
                      'the call back starts in outbound-start ("calling you back")',
                      said or str(outbound))
    finally:
        sv.shutil.rmtree(tmp, ignore_errors=True)


TRANSFER_SCRIPT = """[script]
start = hello
[state hello]
say = Connecting you to an attorney.
next = transfer attorney
"""

TRANSFER_CONFIG = """[server]
listen = 127.0.0.1:{{port}}
records = {{records}}
rtp-port-min = {{rtp_min}}
rtp-port-max = {{rtp_max}}

[trunk raleigh]
registrar = sip:localhost:{kport}
username = raleigh
password = s3cret

[office raleigh]
did = {raleigh}
trunk = raleigh
script = transfer.ini
transfer = sip:attorney@127.0.0.1:{aport}
"""

def test_blind_transfer(res):
    """baresip, a real user agent, calls the office's number through
    kamailio; the agent transfers it to the attorney: our REFER goes
    through kamailio's Record-Route to baresip, which calls the attorney's
    phone (SIPp) itself; we hang up once its NOTIFY says 200."""
    import speechtest as sp
    st.require('baresip')
    mods = st.baresip_modules()
    if mods is None:
        res.note_skip('blind transfer: baresip modules not found')
        return
    tmp = sv.tempfile.mkdtemp(prefix='trunk-transfer-')
    pcm, _ = sp.caller_timeline(['Hello, this is the attorney.'], rate=8000, first_wait=0.5,
                                pause=1.0, tail=3.0)
    pcap = os.path.join(tmp, 'attorney.pcap')
    st.make_rtp_pcap(pcap, 0, payload=sp.encode(pcm, 'PCMU'), payload_size=sp.PAYLOAD_SIZE)
    attorney = st.Sipp('uas_answer_talk.xml', '127.0.0.1', 5060, keys={'pcap': pcap}, timeout=90)
    try:
        with kt.Kamailio({'raleigh': 's3cret'}, {RALEIGH: 'raleigh'}) as kam, \
                sv.Server(TRANSFER_CONFIG.format(kport=kam.port, raleigh=RALEIGH,
                                                 aport=attorney.port),
                          files={'transfer.ini': TRANSFER_SCRIPT}) as server:
            attorney.start()
            res.check(registered(kam) is not None, 'registered', kam.output()[-1000:])
            # the caller: 10 s of silence (aufile hangs up at its end)
            out, bport = run_baresip(tmp, mods, 'sip:%s@127.0.0.1:%d' % (RALEIGH, kam.port),
                                     25, 10)
            res.check('Call with sip:attorney@127.0.0.1:%d' % attorney.port in out,
                      'baresip got our REFER (through kamailio) and called the attorney',
                      out[-3000:] + server.output())
            r = attorney.wait()
            res.check(r.rc == 0, "the attorney's phone answered the caller (and got its BYE)",
                      st.sipp_report(r))
            invite = r.messages[r.messages.find('INVITE sip:'):][:1500]
            res.check('sip:caller@127.0.0.1:%d' % bport in invite,
                      "the attorney's INVITE came from the caller (baresip), not from us",
                      invite)
            rec = server.wait_record(lambda x: x.get('complete'), 15) or {}
            acts = rec.get('actions', [])
            res.check(acts and acts[-1].get('type') == 'transfer' and
                      acts[-1].get('result') == 'succeeded (200)' and
                      rec.get('end_reason') == 'local-hangup',
                      'record: transfer succeeded (200), then our BYE', str(rec))
    finally:
        sv.shutil.rmtree(tmp, ignore_errors=True)


def test_sipbin_registers(res):
    """gst-launch-1.0 sipbin.( registrar=... ): the element alone sits on
    the trunk: it registers (sip-registration messages), a call through
    kamailio reaches it, and it unregisters when it stops."""
    with kt.Kamailio({'raleigh': 's3cret'}, {RALEIGH: 'raleigh'}) as kam:
        agent = st.Agent(codec='PCMU', props={
            'registrar': 'sip:localhost:%d' % kam.port, 'username': 'raleigh',
            'password': 's3cret'})
        with agent:
            res.check(registered(kam) is not None, 'sipbin registered at kamailio',
                      kam.output()[-1500:] + agent.output())
            deadline = time.monotonic() + 5
            msgs = []
            while time.monotonic() < deadline and not any(
                    m.get('state') == 'registered' for m in msgs):
                time.sleep(0.1)
                msgs = agent.element_messages('sip-registration')
            res.check([m.get('state') for m in msgs][:2] == ['registering', 'registered'] and
                      msgs[1].get('status') == 200,
                      'sip-registration messages: registering, then registered (200)',
                      str(msgs))
            r = st.run_sipp('uac_echo_short.xml', '127.0.0.1', kam.port, service=RALEIGH,
                            keys={'codec_pt': 0, 'codec_name': 'PCMU'}, timeout=20)
            res.check(r.rc == 0, 'a call to %s through kamailio reaches the sipbin' % RALEIGH,
                      st.sipp_report(r) + agent.output())
            code, _ = sv.invite('127.0.0.1', agent.port, RALEIGH, local_host='127.0.0.3')
            res.check(code == 403, 'an INVITE from 127.0.0.3 (not the registrar): 403', str(code))
        res.check(registered(kam, expires='0', timeout=5) is not None,
                  'unregisters when the pipeline stops', kam.output()[-1500:])


ATTENDED_SCRIPT = """[script]
start = hello
[state hello]
say = Let me get an attorney for you.
next = set reason=a car accident; transfer attorney
transfer-failed = say The attorney is not available. Goodbye.; hangup
"""


def run_baresip(tmp, mods, dial, seconds, wav_seconds):
    """baresip from tmp (config written here) dialing `dial`, with
    wav_seconds of silence as its microphone; returns its output"""
    import wave
    wav = os.path.join(tmp, 'caller.wav')
    with wave.open(wav, 'wb') as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(2 * 8000 * wav_seconds))
    bport = st.free_port('both')
    rtp_min, rtp_max = st.free_rtp_range(10)
    st.write_baresip_config(tmp, mods, bport, wav, (rtp_min, rtp_max), max_calls=2,
                            jitter_buffer_delay=None)
    with open(os.path.join(tmp, 'accounts'), 'w') as f:
        f.write('<sip:caller@127.0.0.1:%d>;regint=0;audio_codecs=PCMU\n' % bport)
    cmd = ['baresip', '-4', '-f', tmp, '-e', '/dial ' + dial, '-t', str(seconds)]
    st.log('  baresip: ' + ' '.join(cmd))
    try:
        p = subprocess.run(cmd, cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=seconds + 40)
        out = p.stdout.decode('utf-8', 'replace')
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b'').decode('utf-8', 'replace')
    return '\n'.join(line for line in out.splitlines() if not line.startswith('//d/di')), bport


def test_attended_transfer(res):
    """transfer-mode = attended: baresip calls through kamailio; the agent
    asks for the attorney; we call the attorney's phone (SIPp), speak the
    intake summary, then REFER baresip with Replaces naming that call;
    baresip calls the attorney, and we leave both calls."""
    import speechtest as sp
    st.require('baresip')
    mods = st.baresip_modules()
    if mods is None:
        res.note_skip('attended transfer: baresip modules not found')
        return
    tmp = sv.tempfile.mkdtemp(prefix='trunk-attended-')
    pcm, _ = sp.caller_timeline(['Hello?'], rate=8000, first_wait=0.5, pause=1.0, tail=3.0)
    pcap = os.path.join(tmp, 'attorney.pcap')
    st.make_rtp_pcap(pcap, 0, payload=sp.encode(pcm, 'PCMU'), payload_size=sp.PAYLOAD_SIZE)
    attorney = st.Sipp('uas_answer_talk.xml', '127.0.0.1', 5060, keys={'pcap': pcap},
                       calls=2, limit=2, timeout=90)
    config = TRANSFER_CONFIG.replace('transfer = ', 'transfer-mode = attended\ntransfer = ')
    try:
        with kt.Kamailio({'raleigh': 's3cret'}, {RALEIGH: 'raleigh'}) as kam, \
                sv.Server(config.format(kport=kam.port, raleigh=RALEIGH, aport=attorney.port),
                          files={'transfer.ini': ATTENDED_SCRIPT}) as server:
            attorney.start()
            res.check(registered(kam) is not None, 'registered', kam.output()[-1000:])
            out, bport = run_baresip(tmp, mods, 'sip:%s@127.0.0.1:%d' % (RALEIGH, kam.port),
                                     30, 14)
            res.check('Call with sip:callee@127.0.0.1:%d' % attorney.port in out,
                      "baresip got our REFER and called the attorney's phone (its Contact)",
                      out[-3000:] + server.output())
            r = attorney.wait()
            res.check(r.rc == 0, "the attorney's phone took both calls (ours, then the caller's)",
                      st.sipp_report(r))
            first = r.messages.find('INVITE sip:')
            second = r.messages.find('INVITE sip:', first + 1)
            inv1 = r.messages[first:first + 1500]
            inv2 = r.messages[second:second + 1500] if second > 0 else ''
            res.check(RALEIGH in inv1.split('\n\n')[0] and 'm=audio' in inv1,
                      "first INVITE: our consultation call, from the office's number", inv1)
            cid = re.search(r'^Call-ID:\s*(\S+)', inv1, re.M | re.I)
            tag = re.search(r'^To:.*;tag=(\S+)', r.messages[r.messages.find('SIP/2.0 200'):],
                            re.M | re.I)
            # RFC 3891: call-id, to-tag = the phone's own tag, from-tag = ours.
            # baresip 1.0 puts the Refer-To's Replaces into the Request-URI
            # instead of a header: the values arrive, the phone cannot use them.
            line2 = inv2.split('\n', 1)[0]
            res.check('sip:caller@127.0.0.1:%d' % bport in inv2 and cid and tag and
                      cid.group(1) in line2 and tag.group(1) in line2,
                      'second INVITE: from the caller (baresip), carrying our Replaces (the '
                      "consultation's Call-ID and the phone's tag)", inv2)
            rec = server.wait_record(lambda x: x.get('complete'), 15) or {}
            acts = rec.get('actions', [])
            res.check(acts and acts[-1].get('type') == 'transfer' and
                      acts[-1].get('result') == 'succeeded (200)' and
                      rec.get('end_reason') == 'local-hangup',
                      'record: transfer succeeded (200), then our BYE', str(rec))

        # nobody at the attorney's number: the caller hears transfer-failed
        nobody = st.free_port('udp')
        pcm, _ = sp.caller_timeline(['Hello?'], rate=8000, first_wait=0.5, pause=1.0, tail=12.0)
        talk = os.path.join(tmp, 'talk.pcap')
        st.make_rtp_pcap(talk, 0, payload=sp.encode(pcm, 'PCMU'), payload_size=sp.PAYLOAD_SIZE)
        with kt.Kamailio({'raleigh': 's3cret'}, {RALEIGH: 'raleigh'}) as kam, \
                sv.Server(config.format(kport=kam.port, raleigh=RALEIGH, aport=nobody),
                          files={'transfer.ini': ATTENDED_SCRIPT}) as server:
            res.check(registered(kam) is not None, 'registered', kam.output()[-1000:])
            r = st.run_sipp('uac_talk_wait_bye.xml', '127.0.0.1', kam.port, service=RALEIGH,
                            keys={'codec_pt': 0, 'codec_name': 'PCMU', 'pcap': talk}, timeout=40)
            res.check(r.rc == 0, 'the caller stays on the line until our goodbye',
                      st.sipp_report(r) + server.output())
            rec = server.wait_record(lambda x: x.get('complete'), 15) or {}
            acts = rec.get('actions', [])
            said = ' '.join(t.get('text', '') for t in rec.get('turns', [])
                            if t.get('role') == 'agent')
            res.check(any(a.get('type') == 'transfer' and
                          str(a.get('result', '')).startswith('failed') for a in acts) and
                      'not available' in said,
                      "nobody answers the consultation: transfer failed, the caller hears "
                      "the script's transfer-failed", str(rec))
    finally:
        sv.shutil.rmtree(tmp, ignore_errors=True)


def check_config(text):
    d = os.path.join(os.environ.get('TMPDIR', '/tmp'), 'trunkconf-%d' % os.getpid())
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, 'bad.conf')
    with open(path, 'w') as f:
        f.write(text)
    r = subprocess.run([sv.SERVER, '--config', path, '--check'], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=60, env=st.gst_env(os.path.join(d, 'r.bin')))
    return r.returncode, r.stderr.decode()


def test_config(res):
    office = '[office o]\ndid = +19195550100\n'
    cases = [
        ('[trunk t]\nallow = 192.0.2.0/33\n' + office,
         'bad.conf:2: allow: "192.0.2.0/33" is not an address'),
        ('[trunk t]\nregistrar = example.com\n' + office,
         'bad.conf:2: registrar must be a sip: URI'),
        ('[trunk t]\nregistrar = sip:example.com\n' + office,
         'bad.conf:2: [trunk t] registers, so it needs username'),
        ('[trunk t]\nproxy = sip:example.com\ntransport = tls\n' + office,
         'bad.conf:3: transport tls needs [server] tls-port and tls-dir'),
        ('[trunk t]\nusername = u\n' + office,
         'bad.conf:1: [trunk t] needs both username and password'),
        ('[trunk t]\nrealm = x\n' + office, 'bad.conf:1: [trunk t] would take calls from anyone'),
        ('[trunk t]\nallow = 192.0.2.1\nexpires = 5\n' + office,
         'bad.conf:3: expires must be a whole number from 10'),
        ('[trunk t]\nallow = 192.0.2.1\nsecret = x\n' + office, 'bad.conf:3: unknown key "secret"'),
        ('[office o]\ndid = +19195550100\ntrunk = nope\n', 'bad.conf:3: trunk nope is not a'),
        ('[office o]\ndid = +19195550100\ntransfer-mode = warm\n',
         'bad.conf:3: transfer-mode is blind or attended, not "warm"'),
    ]
    for text, want in cases:
        rc, err = check_config(text)
        res.check(rc == 2 and want in err, 'exit 2: %s' % want, 'exit %d: %s' % (rc, err.strip()))
    ok = ('[trunk t]\nregistrar = sip:sip.example.com\nproxy = sip:192.0.2.10:5060\nusername = u\n'
          'password = p\nallow = 192.0.2.0/24, 2001:db8::/32\ntransport = tcp\n'
          '[office o]\ndid = +19195550100\ntrunk = t\n')
    rc, err = check_config(ok)
    res.check(rc == 0, 'a full [trunk] group is accepted', err)


def main():
    for tool in ('sipp', 'kamailio'):
        st.require(tool)
    st.require_root('SIPp binds raw sockets for media')
    sv.require_server()
    # the example config names outside hosts: keep whatever we send at home
    st.enter_netns()
    res = st.Results('test_trunk')
    tests = {'config': test_config, 'register': test_register, 'wrongpass': test_wrong_password,
             'sha256': test_sha256, 'policy': test_policy, 'down': test_down_and_back,
             'auth': test_inbound_auth, 'example': test_example, 'outbound': test_outbound,
             'callback': test_callback, 'blind': test_blind_transfer,
             'sipbin': test_sipbin_registers, 'attended': test_attended_transfer,
             'tls': test_tls}
    for name in sys.argv[1:] or list(tests):
        st.log('== %s' % name)
        tests[name](res)
    res.exit()


if __name__ == '__main__':
    main()
