#!/usr/bin/env python3
"""SIP signalling of sipbin against SIPp scenarios (tests/sipp/uac_*.xml).

Checks: OPTIONS 200 over UDP and TCP; 488 for an offer without a usable codec;
CANCEL while ringing -> 200 + 487; malformed SDP -> 400/488 and the next call
still works; a second INVITE during a call -> 486; BYE sent by the agent
(gst-launch -e + SIGINT = EOS); 50 echo calls in a row without fd/thread leaks;
thousands of OPTIONS (a load balancer's health checks) without memory growth.
"""

import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402

SHORT_PACKETS = 10    # 200 ms of audio for the short echo calls
FD_SLACK = 4          # "back to within a small constant" after 50 calls
THREAD_SLACK = 3


class ShortAudio:
    """A 200 ms PCMU pcap and the uac_echo arguments that play it."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix='siptest-sig-')
        self.pcap = os.path.join(self.tmp, 'short.pcap')
        st.make_rtp_pcap(self.pcap, 0, SHORT_PACKETS)
        self.keys = {'codec_pt': 0, 'codec_name': 'PCMU', 'pcap': self.pcap}
        self.sets = {'pause_ms': SHORT_PACKETS * 20 + 300}

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def sipp_ok(res, agent, r, what):
    ok = res.check(r.rc == 0, what, st.sipp_report(r))
    if not ok:
        agent.dump(what)
    return ok


def test_options(res, audio):
    st.log('== OPTIONS over UDP and TCP')
    with st.Agent() as agent:
        for transport, name in (('u1', 'UDP'), ('t1', 'TCP')):
            if agent.fake and transport == 't1':
                res.note_skip('OPTIONS over TCP (the SIPp stand-in listens on UDP only)')
                continue
            r = st.run_sipp('uac_options.xml', agent.host, agent.port, transport=transport)
            sipp_ok(res, agent, r, 'OPTIONS over %s answered 200' % name)


ALLOW = b'INVITE, ACK, BYE, CANCEL, OPTIONS, NOTIFY, UPDATE, INFO'


def header(msg, name):
    m = re.search(rb'^' + name + rb'[ \t]*:[ \t]*([^\r\n]*)', msg, re.M | re.I)
    return m.group(1).strip() if m else None


def test_methods(res, audio):
    st.log('== OPTIONS headers, unknown and unsupported methods')
    with st.Agent() as agent:
        resp = st.send_sip(agent.host, agent.port, 'OPTIONS')
        res.check(resp is not None and st.status_of(resp) == 200
                  and header(resp, b'Allow') == ALLOW
                  and header(resp, b'Accept') == b'application/sdp'
                  and header(resp, b'Supported') is not None,
                  'OPTIONS: 200 with Allow (%s), Accept: application/sdp and Supported' % ALLOW,
                  resp)
        # NOTIFY is allowed for the subscription of our own REFER (a
        # transfer), UPDATE and INFO (DTMF, test_dtmf_info) within a call;
        # outside those they match no subscription or dialog: 481
        for method, want in (('FOO', 501), ('REGISTER', 405), ('SUBSCRIBE', 405),
                             ('MESSAGE', 405), ('REFER', 405), ('UPDATE', 481), ('INFO', 481),
                             ('NOTIFY', 481)):
            resp = st.send_sip(agent.host, agent.port, method)
            res.check(resp is not None and st.status_of(resp) == want
                      and header(resp, b'Allow') == ALLOW,
                      '%s: %d with Allow' % (method, want), resp)
        res.check(agent.alive(), 'agent still running')


def test_488(res, audio):
    st.log('== offer GSM + G729 only -> 488')
    with st.Agent() as agent:
        r = st.run_sipp('uac_488.xml', agent.host, agent.port)
        sipp_ok(res, agent, r, 'INVITE offering GSM(3)+G729(18) rejected with 488, ACKed')
        res.check(agent.count_state('answered') == 0, 'agent did not post answered', agent.output())
        res.check(agent.alive(), 'agent still running')


def test_cancel(res, audio):
    st.log('== CANCEL while ringing (ring-time=5000) -> 200 + 487')
    with st.Agent(ring_time=5000) as agent:
        r = st.run_sipp('uac_cancel.xml', agent.host, agent.port)
        sipp_ok(res, agent, r, 'CANCEL got 200, INVITE got 487, ACKed')
        m = agent.wait_state('ended', timeout=3)
        res.check(m is not None, 'agent posted ended after the CANCEL (got %s)' % m, agent.output())
        res.check(agent.count_state('answered') == 0, 'agent did not post answered', agent.output())
        res.check(agent.alive(), 'agent still running')


def test_bad_sdp(res, audio):
    st.log('== malformed SDP -> 400/488, then a valid call')
    with st.Agent() as agent:
        r = st.run_sipp('uac_bad_sdp.xml', agent.host, agent.port)
        sipp_ok(res, agent, r, 'INVITE with a non-SDP body rejected with 400 or 488 (got %s)'
                % st.sipp_statuses(r))
        r = st.run_sipp('uac_echo.xml', agent.host, agent.port, keys=audio.keys, sets=audio.sets)
        sipp_ok(res, agent, r, 'a valid call right after it succeeds')
        m = agent.wait_state('answered', timeout=3)
        res.check(m is not None, 'agent posted answered for the valid call', agent.output())


def test_busy(res, audio):
    st.log('== second INVITE during a call -> 486')
    with st.Agent() as agent:
        r = st.run_sipp('uac_busy.xml', agent.host, agent.port, calls=2, limit=2, rate=10)
        sipp_ok(res, agent, r, 'call 1 answered, call 2 (1 s later) got 486 (statuses %s)'
                % st.sipp_statuses(r))
        res.check(agent.count_state('answered') == 1, 'agent posted answered exactly once (%d)'
                  % agent.count_state('answered'), agent.output())


def test_bye_from_agent(res, audio):
    # sipbin sends BYE on EOS; gst-launch -e turns SIGINT into an EOS.
    st.log('== BYE from the agent (gst-launch -e, SIGINT -> EOS -> BYE)')
    with st.Agent(launch_args=['-e']) as agent:
        sipp = st.Sipp('uac_wait_bye.xml', agent.host, agent.port, timeout=40).start()
        try:
            m = agent.wait_state('answered', timeout=10)
            res.check(m is not None, 'agent posted answered', agent.output())
            time.sleep(0.5)
            agent.interrupt()
        finally:
            r = sipp.wait()
        sipp_ok(res, agent, r, 'caller received BYE from the agent and answered 200')
        # sipbin holds the EOS back until the call has ended, so gst-launch prints
        # `ended` before it quits on EOS.
        m = agent.wait_state('ended', timeout=5)
        res.check(m is not None and m.get('reason') == 'local-hangup' and m.get('status') == 200,
                  'agent posted ended, reason local-hangup, status 200 (got %s)' % m,
                  agent.output())


def test_many_calls(res, audio):
    st.log('== 50 echo calls in a row; fds and threads must not grow')
    with st.Agent() as agent:
        r = st.run_sipp('uac_echo.xml', agent.host, agent.port, keys=audio.keys, sets=audio.sets)
        if not sipp_ok(res, agent, r, 'first call succeeds'):
            return
        if not agent.fake:
            agent.wait_state('ended', timeout=5)
        time.sleep(1.0)
        fds, threads = agent.fd_count(), agent.thread_count()
        st.log('  after call 1: %d fds, %d threads' % (fds, threads))
        r = st.run_sipp('uac_echo.xml', agent.host, agent.port, calls=50, limit=1, timeout=180,
                        keys=audio.keys, sets=audio.sets)
        sipp_ok(res, agent, r, '50 sequential echo calls all succeed')
        if not agent.fake:
            agent.wait_state('ended', timeout=10, after=50)
            res.check(agent.count_state('answered') == 51 and agent.count_state('ended') == 51,
                      'agent posted 51 answered and 51 ended (got %d, %d)'
                      % (agent.count_state('answered'), agent.count_state('ended')))
        time.sleep(1.0)
        fds2, threads2 = agent.fd_count(), agent.thread_count()
        st.log('  after call 51: %d fds, %d threads' % (fds2, threads2))
        res.check(fds2 <= fds + FD_SLACK, 'fd count back near its value after call 1 (%d -> %d)'
                  % (fds, fds2), 'ls -l /proc/%d/fd' % agent.pid)
        res.check(threads2 <= threads + THREAD_SLACK,
                  'thread count back near its value after call 1 (%d -> %d)' % (threads, threads2))
        res.check(agent.alive(), 'agent still running')


OPTIONS_ROUND = 3000
# Over TCP a non-INVITE server transaction ends as soon as it is answered
# (RFC 3261 17.2.2: timer J is 0 on reliable transports; 32 s over UDP), so
# what is left after a round is what leaks.
TRANSACTION_LINGER = 2
RSS_SLACK_KB = 1024


def options_round(host, port, n):
    """n OPTIONS over one TCP connection, each answered before the next."""
    import socket
    import uuid
    with socket.create_connection((host, port), timeout=5.0) as s:
        lp = s.getsockname()[1]
        pending = b''
        for _ in range(n):
            s.sendall(st.sip_request('OPTIONS', host, port, lp, transport='TCP',
                                     call_id=uuid.uuid4().hex))
            while b'\r\n\r\n' not in pending:
                data = s.recv(65535)
                if not data:
                    raise RuntimeError('the agent closed the TCP connection')
                pending += data
            pending = pending.split(b'\r\n\r\n', 1)[1]


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def test_options_memory(res, audio):
    st.log('== %d OPTIONS (TCP) three times: memory must not grow once transactions end'
           % OPTIONS_ROUND)
    with st.Agent() as agent:
        # the first round fills the allocator up to its high-water mark (all
        # transactions alive at once); later rounds must fit in it
        sizes = []
        for _ in range(3):
            options_round(agent.host, agent.port, OPTIONS_ROUND)
            time.sleep(TRANSACTION_LINGER)
            sizes.append(rss_kb(agent.pid))
        st.log('  RSS after each round: %s kB' % sizes)
        res.check(sizes[2] - sizes[1] <= RSS_SLACK_KB,
                  'no growth from round 2 to 3 (%+d kB; sofia-sip handles of answered '
                  'OPTIONS must be destroyed)' % (sizes[2] - sizes[1]))
        res.check(agent.alive(), 'agent still running')


# (test, needs the real sipbin: the SIPp stand-in only answers OPTIONS and echo calls)
TESTS = [
    (test_options, False),
    (test_methods, True),
    (test_488, True),
    (test_cancel, True),
    (test_bad_sdp, True),
    (test_busy, True),
    (test_bye_from_agent, True),
    (test_many_calls, False),
    (test_options_memory, True),
]


def main():
    st.require('sipp')
    st.require_root('SIPp plays RTP through a raw socket')
    st.require_agent()
    res = st.Results('test_signalling')
    audio = ShortAudio()
    try:
        only = sys.argv[1:]   # optional: names of tests to run
        for test, needs_real in TESTS:
            if only and test.__name__ not in only:
                continue
            if needs_real and st.fake_agent():
                res.note_skip('%s (needs the real sipbin)' % test.__name__)
                continue
            try:
                test(res, audio)
            except RuntimeError as e:
                res.check(False, '%s: %s' % (test.__name__, e))
    finally:
        audio.cleanup()
    res.exit()


if __name__ == '__main__':
    main()
