#!/usr/bin/env python3
"""NAT: callers behind NAT, and the agent behind 1:1 NAT (SIPp, tshark).

- latch: a caller whose Via names an address it cannot be reached at, with
  rport (RFC 3581), and whose SDP names another media port than the one
  its RTP comes from (a NAT's mapping). Responses reach it (received= and
  rport= in the Via), and with sipsrc source-filter=latch the echo goes
  back to the port the RTP came from (symmetric RTP).
- strict: the same caller against the default (strict source, like
  Asterisk's strictrtp): its RTP from the unsignalled port is dropped,
  nothing is echoed.
- external: sipbin external-address=127.0.0.2 while the caller calls
  127.0.0.1: Contact and SDP name 127.0.0.2, the caller's ACK and BYE go to
  that Contact, its RTP to that address, and the echo works: what a cloud
  VM behind 1:1 NAT needs.

Runs in a private network namespace (unshare -n): external-address makes
sipbin listen on every local address.
"""

import os
import re
import shutil
import socket
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402

PACKETS = 50


def rtp_packets(n, seed):
    """n RTP packets (PCMU, 160 bytes of payload each) and their payloads."""
    payload = st.payload_bytes(n * 160, seed)
    pkts = []
    for i in range(n):
        header = struct.pack('!BBHII', 0x80, 0, 1000 + i, 160 * i, 0x4a7)
        pkts.append(header + payload[i * 160:(i + 1) * 160])
    return pkts, payload


def nat_call(res, tag, source_filter):
    """A call whose RTP comes from another port than its SDP names; returns
    (bytes sent, bytes echoed back to the sending port)."""
    pkts, sent = rtp_packets(PACKETS, tag.encode())
    echoed = b''
    props = {'source-filter': source_filter} if source_filter else None
    with st.Agent(codec='PCMU', sipsrc_props=props) as agent:
        media_port = st.free_rtp_range(4)[0]
        sipp = st.Sipp('uac_echo_nat.xml', agent.host, agent.port, media_port=media_port,
                       keys={'codec_pt': 0, 'codec_name': 'PCMU'},
                       sets={'pause_ms': PACKETS * 20 + 1500}).start()
        answered = agent.wait_state('answered', timeout=10)
        if res.check(answered is not None, '%s: answered' % tag, agent.output()):
            host, port = answered['local-media'].rsplit(':', 1)
            # the NAT's side of the caller: another port than the SDP's
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(('127.0.0.1', 0))
                s.settimeout(0.01)
                for pkt in pkts:
                    s.sendto(pkt, (host, int(port)))
                    deadline = time.monotonic() + 0.02
                    while time.monotonic() < deadline:
                        try:
                            data = s.recv(2048)
                            echoed += data[12:]
                        except socket.timeout:
                            pass
                deadline = time.monotonic() + 0.5
                while time.monotonic() < deadline:
                    try:
                        echoed += s.recv(2048)[12:]
                    except socket.timeout:
                        pass
        r = sipp.wait()
        res.check(r.rc == 0, '%s: responses reach a caller whose Via is unreachable, with '
                  'received= and rport= (sipp exit 0)' % tag, st.sipp_report(r))
        res.check(agent.alive(), '%s: agent still running' % tag, agent.output())
    return sent, echoed


def test_latch(res, tmp):
    st.log('== a caller behind NAT, sipsrc source-filter=latch')
    sent, echoed = nat_call(res, 'latch', 'latch')
    ok, text = st.compare_echo(sent, echoed, 160, max_missing=3)
    res.check(ok, 'latch: the echo goes back to the port the RTP came from: ' + text)


def test_strict(res, tmp):
    st.log('== the same caller, strict source (the default)')
    _sent, echoed = nat_call(res, 'strict', None)
    res.check(not echoed, 'strict: RTP from a port the SDP did not name is dropped, nothing '
              'echoed (%d bytes back)' % len(echoed))


def test_external(res, tmp):
    st.log('== sipbin external-address=127.0.0.2 (1:1 NAT)')
    pcap = os.path.join(tmp, 'external.pcap')
    sent = st.make_rtp_pcap(pcap, 0, PACKETS, 160, seed=b'external')
    with st.Agent(codec='PCMU', props={'external-address': '127.0.0.2'}) as agent:
        media_port = st.free_rtp_range(4)[0]
        with st.Capture([media_port]) as cap:
            r = st.run_sipp('uac_echo.xml', agent.host, agent.port, media_port=media_port,
                            keys={'codec_pt': 0, 'codec_name': 'PCMU', 'pcap': pcap},
                            sets={'pause_ms': PACKETS * 20 + 500})
        res.check(r.rc == 0, 'external: the call to 127.0.0.1 completes, ACK and BYE sent to '
                  'the Contact (sipp exit 0)', st.sipp_report(r))
        ok200 = st.find_response(r, 200, 'INVITE') or ''
        contact = re.search(r'^(?:Contact|m)\s*:\s*(.*)$', ok200, re.M | re.I)
        res.check(contact is not None and '@127.0.0.2:%d' % agent.port in contact.group(1)
                  and 'maddr' not in contact.group(1),
                  'external: the 200\'s Contact names 127.0.0.2 (%s)'
                  % (contact.group(1).strip() if contact else None), ok200)
        res.check('c=IN IP4 127.0.0.2' in ok200 and 'o=- ' in ok200
                  and 'IN IP4 127.0.0.2' in ok200.split('o=- ', 1)[-1].split('\n', 1)[0],
                  'external: the SDP names 127.0.0.2 (c= and o=)', ok200)
        res.check(agent.alive(), 'external: agent still running', agent.output())
    streams = cap.streams(media_port)
    echoed = b''.join(p[3] for p in streams['echoed'])
    ok, text = st.compare_echo(sent, echoed, 160, max_missing=3)
    res.check(ok, 'external: RTP sent to 127.0.0.2 is echoed: ' + text)


def main():
    st.enter_netns()
    for tool in ('sipp', 'tshark'):
        st.require(tool)
    st.require_root('SIPp plays RTP through a raw socket and tshark captures on lo')
    st.require_agent()
    if st.fake_agent():
        st.skip('NAT handling is sipbin\'s and sipsrc\'s own')
    res = st.Results('test_nat')
    tmp = tempfile.mkdtemp(prefix='siptest-nat-')
    only = sys.argv[1:]
    try:
        for name, fn in (('latch', test_latch), ('strict', test_strict),
                         ('external', test_external)):
            if not only or name in only:
                fn(res, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.exit()


if __name__ == '__main__':
    main()
