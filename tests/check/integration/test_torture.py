#!/usr/bin/env python3
"""RFC 4475 torture messages replayed byte-exact over UDP at sipbin.

The messages name outside hosts (192.0.2.x, example.com) in Via/Contact, so a
compliant agent answers, retries or sends BYE there. This test therefore runs
only in a network namespace of its own: it re-execs itself under `unshare -n`
(root), brings lo up and refuses to replay anywhere else.

Responses go where the top Via says: the agent adds received=127.0.0.1 (the
source address) and uses the Via port, 5060 by default (5061 for TLS), or our
source port with rport. So for each message we send from 127.0.0.1:<Via port>
and also listen on UDP and TCP 5060/5061. Only responses with the message's
Call-ID are counted.

Checks: every message gets what EXPECT below says (failing only on rows marked
definite: 400/505/416/420/415/405-or-501/dropped responses), the agent never
crashes or hangs (OPTIONS probe after each file), INVITEs it answers are torn
down (ACK+BYE), and a valid SIPp call afterwards succeeds.
"""

import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402

CORPUS = 'rfc4475.tar.xz'
COLLECT_SECONDS = 0.5

ANY = None     # any response, or none, is acceptable
DROP = ()      # no response at all
# file -> (acceptable final status codes | ANY | DROP, definite, header the response must have)
# From /work/shared/corpora/README.md (RFC 4475 section 3). Tighten here later.
EXPECT = {}
for f in 'esc01 lwsdisp longreq semiuri transports zeromf inv2543'.split():
    EXPECT[f] = ({200}, True, None)                          # process normally
# wsinv is valid but carries a To tag for a dialog that does not exist here
EXPECT['wsinv'] = ({481}, True, None)
EXPECT['esc02'] = ({501}, True, 'Allow')                    # unknown method
EXPECT['mismatch02'] = ({501, 400}, True, None)
for f in 'escnull regaut01 cparam01 cparam02 regescrt unksm2 dblreq'.split():
    EXPECT[f] = ({405, 501}, True, None)                     # REGISTER to a non-registrar
EXPECT['mpart01'] = (range(200, 600), False, None)           # MESSAGE: frame by Content-Length
for f in 'clerr ncl scalar02 quotbal mismatch01 multi01 mcl01 insuf'.split():
    EXPECT[f] = ({400}, True, None)
# RFC 4475 lets an element reject badbranch (a branch that is only the magic
# cookie) with 400 or fall back to RFC 2543 transaction matching and process it;
# sofia-sip does the latter.
EXPECT['badbranch'] = ({400, 200}, True, None)
# Where sofia-sip's transport layer drops a message before any application code
# sees it. Asserted as they are so that a change shows up; docs/architecture.md
# lists them. A variant of bext01 with the Via transport it arrives on checks
# the 420 the RFC asks for.
SOFIA_DROPS = {
    'badinv01': 'its Via does not parse, so there is nowhere to send a 400',
    'badvers': 'its Via (SIP/7.0/UDP) does not parse, so no 505 can be addressed',
    'bext01': 'a TLS Via arriving over UDP: sofia-sip drops requests whose Via '
              'transport differs from the one they came in on',
    'intmeth': 'sofia-sip\'s parser does not take its legal but unusual tokens '
               '(method, URI, header names) and drops it as garbage',
}
for f in SOFIA_DROPS:
    EXPECT[f] = (DROP, True, None)
VARIANTS = {
    # name: (source file, bytes replaced, replacement, expectation)
    'bext01-udp-via': ('bext01', b'SIP/2.0/TLS', b'SIP/2.0/UDP', ({420}, True, 'Unsupported')),
}
for v, (_src, _old, _new, expect) in VARIANTS.items():
    EXPECT[v] = expect
for f in 'ltgtruri lwsruri lwsstart trws escruri regbadct badaspec baddn baddate'.split():
    EXPECT[f] = (ANY, False, None)                           # 400 or liberal acceptance
EXPECT['unkscm'] = ({416}, True, None)
EXPECT['novelsc'] = ({416}, True, None)
EXPECT['invut'] = ({415}, True, 'Accept')
EXPECT['sdp01'] = ({406, 400}, True, None)
for f in 'scalarlg bigcode bcast unreason noreason'.split():
    EXPECT[f] = (DROP, True, None)                           # responses to nothing
EXPECT['test'] = (ANY, False, None)                          # not RFC 4475: must not crash
EXACTLY_ONE_RESPONSE = {'dblreq'}


# ---------------------------------------------------------------- namespace

# ---------------------------------------------------------------- SIP bits

def header_values(msg, names):
    """Values of header lines named any of `names` (case-insensitive), headers only."""
    head = msg.split(b'\r\n\r\n', 1)[0]
    pat = rb'^(?:%s)[ \t]*:[ \t]*(.*?)[ \t]*$' % b'|'.join(re.escape(n) for n in names)
    return [v.strip() for v in re.findall(pat, head, re.M | re.I)]


def top_via(msg):
    """(transport, port) of the first Via (or 'v'), defaults as the agent would use."""
    vias = header_values(msg, [b'via', b'v'])
    if not vias:
        return 'UDP', 5060
    m = re.match(rb'SIP\s*/\s*[\d.]+\s*/\s*(\w+)\s+([^\s;,]+)', vias[0], re.I)
    if not m:
        return 'UDP', 5060
    transport = m.group(1).decode(errors='replace').upper()
    hostport = m.group(2).decode(errors='replace')
    pm = re.search(r'(?:\]|^[^:\[]+):(\d+)$', hostport)
    port = int(pm.group(1)) if pm else (5061 if transport == 'TLS' else 5060)
    return transport, port


def call_ids(msg):
    return {v for v in header_values(msg, [b'call-id', b'i'])}


def responses_for(data_list, ids):
    """Responses (bytes) whose Call-ID is one of ids (all when ids is empty)."""
    out = []
    for data in data_list:
        if st.status_of(data) is None:
            continue
        if not ids or call_ids(data) & ids:
            out.append(data)
    return out


def split_stream(buf):
    """Split a TCP byte stream into SIP messages by Content-Length."""
    msgs = []
    while b'\r\n\r\n' in buf:
        head, rest = buf.split(b'\r\n\r\n', 1)
        m = re.search(rb'^(?:content-length|l)[ \t]*:[ \t]*(\d+)', head, re.M | re.I)
        n = int(m.group(1)) if m else 0
        msgs.append(head + b'\r\n\r\n' + rest[:n])
        buf = rest[n:]
    return msgs


class Listeners:
    """UDP sockets and TCP listeners on 127.0.0.1 for the ports responses may go to."""

    def __init__(self, ports):
        self.udp, self.tcp, self.conns = {}, [], []
        for p in ports:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(('127.0.0.1', p))
            self.udp[p] = u
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind(('127.0.0.1', p))
            t.listen(8)
            self.tcp.append(t)

    def collect(self, seconds):
        got, bufs = [], {}
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            socks = list(self.udp.values()) + self.tcp + self.conns
            readable, _, _ = select.select(socks, [], [], left)
            for s in readable:
                if s in self.tcp:
                    conn, _ = s.accept()
                    self.conns.append(conn)
                elif s in self.conns:
                    data = s.recv(65535)
                    if data:
                        bufs[s] = bufs.get(s, b'') + data
                    else:
                        self.conns.remove(s)
                        s.close()
                else:
                    got.append(s.recvfrom(65535)[0])
        for buf in bufs.values():
            got += split_stream(buf)
        return got

    def close(self):
        for s in list(self.udp.values()) + self.tcp + self.conns:
            s.close()


# ---------------------------------------------------------------- teardown

def teardown_call(agent, sock, local_port, request, ok_response):
    """ACK the 2xx to a torture INVITE and BYE the call, so that later INVITEs do
    not get 486. Headers come from the 2xx (the agent's normalised copies)."""
    def hv(name, short):
        vals = header_values(ok_response, [name, short])
        return vals[0].decode(errors='replace') if vals else ''
    contact = re.search(r'<([^>]+)>', hv(b'contact', b'm'))
    ruri = contact.group(1) if contact else 'sip:agent@127.0.0.1:%d' % agent.port
    cseq = re.match(r'\s*(\d+)', hv(b'cseq', b'cseq'))
    n = int(cseq.group(1)) if cseq else 1
    common = ['From: ' + hv(b'from', b'f'), 'To: ' + hv(b'to', b't'),
              'Call-ID: ' + hv(b'call-id', b'i'), 'Max-Forwards: 70', 'Content-Length: 0']
    for method, num in (('ACK', n), ('BYE', n + 1)):
        lines = ['%s %s SIP/2.0' % (method, ruri),
                 'Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport' % (local_port, uuid.uuid4().hex[:12]),
                 'CSeq: %d %s' % (num, method)] + common
        sock.sendto(('\r\n'.join(lines) + '\r\n\r\n').encode(), ('127.0.0.1', agent.port))
    return agent.wait_for(lambda m: m.get('state') == 'ended' and
                          m.get('call-id') == hv(b'call-id', b'i'), timeout=3) is not None


# ---------------------------------------------------------------- replay

def replay(agent, name, data):
    """Send one file; return (transport used, final codes, all codes, responses, note).

    Sent over TCP when the top Via says TCP (sofia drops requests whose Via
    transport differs from the one they came in on), otherwise over UDP (TLS and
    SCTP Vias included: there is no TLS/SCTP listener to use)."""
    transport, via_port = top_via(data)
    ports = {via_port, 5060, 5061} - {agent.port}
    lst = Listeners(sorted(ports))
    note = ''
    try:
        sock = lst.udp[via_port] if via_port in lst.udp else lst.udp[5060]
        if transport == 'TCP':
            conn = socket.create_connection(('127.0.0.1', agent.port), timeout=2)
            conn.sendall(data)
            lst.conns.append(conn)   # responses come back on this connection
        else:
            transport = 'UDP'
            sock.sendto(data, ('127.0.0.1', agent.port))
        resps = responses_for(lst.collect(COLLECT_SECONDS), call_ids(data))
        codes = [st.status_of(r) for r in resps]
        finals = [c for c in codes if c >= 200]
        ok2xx = [r for r in resps if 200 <= st.status_of(r) < 300 and
                 re.search(rb'^CSeq[ \t]*:[ \t]*\d+[ \t]+INVITE', r, re.M | re.I)]
        if ok2xx:
            ended = teardown_call(agent, sock, sock.getsockname()[1], data, ok2xx[0])
            note = 'call torn down' if ended else 'call NOT torn down (no ended message)'
            lst.collect(0.2)   # drain the 200 to our BYE
        return transport, finals, codes, resps, note
    finally:
        lst.close()


def summary(resp):
    """'400 (Bad Request)' for a response."""
    m = re.match(rb'SIP/2\.0 (\d{3}) ?([^\r\n]*)', resp)
    return '%s (%s)' % (m.group(1).decode(), m.group(2).decode('utf-8', 'replace')[:30]) if m else '?'


def judge(name, finals, resps):
    """(match, expected text) for one file against EXPECT."""
    expect, definite, header = EXPECT.get(name, (ANY, False, None))
    if expect is ANY:
        return True, 'anything'
    if expect == DROP:
        return not resps, 'no response'
    want = ('%d-%d' % (expect[0], expect[-1]) if isinstance(expect, range)
            else '/'.join(str(c) for c in sorted(expect)))
    if header:
        want += ' with ' + header
    if not finals or finals[0] not in expect:
        return False, want
    if header:
        final = next(r for r in resps if st.status_of(r) == finals[0])
        if not header_values(final, [header.encode()]):
            return False, want
    if name in EXACTLY_ONE_RESPONSE and len(finals) != 1:
        return False, want + ', exactly one'
    return True, want


def order(names):
    # Definite rows first: if a call from a "process normally" INVITE could not be
    # torn down, a 486 would otherwise spoil the definite INVITE rows after it.
    return sorted(names, key=lambda n: (not EXPECT.get(n, (ANY, False))[1], n))


def main():
    if st.fake_agent():
        st.skip('the torture replay tests sipbin itself; the SIPp stand-in has no SIP parser')
    st.require('sipp')
    st.require_agent()
    st.enter_netns()

    res = st.Results('test_torture')
    tmp = tempfile.mkdtemp(prefix='siptest-torture-')
    try:
        st.unpack_corpus(CORPUS, tmp)
        files = {}
        for root, _, names in os.walk(tmp):
            for n in names:
                if n.endswith('.dat'):
                    with open(os.path.join(root, n), 'rb') as f:
                        files[n[:-4]] = f.read()
        res.check(len(files) >= 50, 'corpus unpacked: %d .dat files' % len(files))
        for v, (src, old, new, _expect) in VARIANTS.items():
            if src in files:
                res.check(old in files[src], '%s: %r found in %s' % (v, old, src))
                files[v] = files[src].replace(old, new)
        unknown = sorted(set(files) - set(EXPECT))
        if unknown:
            st.log('  note: files without an expectation (treated as "anything"): %s' % unknown)

        reserved = {5050, 5060, 5061, 5070}
        port = st.free_port('both')
        while port in reserved:
            port = st.free_port('both')
        with st.Agent(port=port, ring_time=0) as agent:
            fds0 = agent.fd_count() if not agent.fake else 0
            rows, mismatches, dead = [], [], None
            for name in order(files):
                transport, finals, codes, resps, note = replay(agent, name, files[name])
                match, want = judge(name, finals, resps)
                definite = EXPECT.get(name, (ANY, False))[1]
                got = ','.join(summary(r) for r in resps) or 'none'
                if name in SOFIA_DROPS:
                    note = (note + ' ' if note else '') + '[known: %s]' % SOFIA_DROPS[name]
                rows.append((name, transport, want, 'ok' if match else
                             ('MISMATCH' if definite else 'differs'), got + (' ' + note if note else '')))
                if not match:
                    mismatches.append((name, definite, resps))
                if not agent.alive():
                    dead = name
                    break
                if st.send_sip('127.0.0.1', agent.port, 'OPTIONS', timeout=2.0) is None:
                    dead = name + ' (hang: no answer to OPTIONS)'
                    break

            st.log('  %-11s %-4s %-22s %-9s %s' % ('file', 'via', 'expected', 'result', 'got'))
            for r in rows:
                st.log('  %-11s %-4s %-22s %-9s %s' % r)
            for name, definite, resps in mismatches:
                detail = '\n'.join(r.decode('utf-8', 'replace') for r in resps) or '(no response)'
                st.log('  --- %s: %s; responses:\n%s' % (name, 'MISMATCH (definite)' if definite
                                                         else 'differs (not definite)',
                                                         st.indent(detail)))
            res.check(dead is None, 'agent survived every message (died/hung at: %s)' % dead,
                      agent.output())
            res.check(len(rows) == len(files), 'all %d files replayed (%d)' % (len(files), len(rows)))
            bad = [n for n, definite, _ in mismatches if definite]
            res.check(not bad, 'definite expectations met (mismatches: %s)' % ', '.join(bad))

            if dead is None:
                pcap = os.path.join(tmp, 'short.pcap')
                st.make_rtp_pcap(pcap, 0, 10)
                r = st.run_sipp('uac_echo.xml', agent.host, agent.port,
                                keys={'codec_pt': 0, 'codec_name': 'PCMU', 'pcap': pcap},
                                sets={'pause_ms': 500})
                ok = res.check(r.rc == 0, 'a valid SIPp call afterwards succeeds', st.sipp_report(r))
                if not ok:
                    agent.dump('valid call after the torture failed')
                res.check(agent.alive(), 'agent still running at the end')
                if not agent.fake:
                    st.log('  agent fds: %d before, %d after' % (fds0, agent.fd_count()))
            else:
                agent.dump('agent died or hung')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.exit()


if __name__ == '__main__':
    main()
