#!/usr/bin/env python3
"""In-dialog re-INVITEs on an echo call (SIPp as the caller, tshark watching).

SIPp plays 1 s of PCMU, changes the direction with a re-INVITE and keeps
sending, resumes (a=sendrecv) and plays 1 s more from another SSRC, hangs
up. Once for each direction the far end can offer (RFC 3264 6.1):

- sendonly (hold): answered recvonly, nothing sent to the caller;
- inactive (hold): answered inactive, nothing sent to the caller;
- recvonly (the caller only listens): answered sendonly, and we keep
  sending: what the caller sends anyway is echoed.

Checks: both re-INVITEs get 200 with the same codec and the mirrored
direction, the agent keeps one call up throughout (answered once, ended
once), and the audio that should come back does, byte for byte, and
nothing else.
"""

import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402

PACKETS = 50
HOLD_PACKETS = 25

# offered direction -> (the answer's direction, whether we send meanwhile)
DIRECTIONS = [('sendonly', 'recvonly', False), ('inactive', 'inactive', False),
              ('recvonly', 'sendonly', True)]


def answered_direction(r, cseq):
    """The a= direction of the 200 to re-INVITE number `cseq`, or None."""
    msg = st.find_response(r, 200, 'INVITE', cseq)
    if msg is None:
        return None
    m = re.search(r'^a=(sendrecv|sendonly|recvonly|inactive)\s*$', msg, re.M)
    return m.group(1) if m else 'sendrecv'


def run_case(res, tmp, offered, answer, sends):
    st.log('== re-INVITE a=%s' % offered)
    first = st.make_rtp_pcap(os.path.join(tmp, 'a.pcap'), 0, PACKETS, 160)
    second = st.make_rtp_pcap(os.path.join(tmp, 'b.pcap'), 0, PACKETS, 160,
                              ssrc=0x2222, seed=b'after-resume')
    middle = st.make_rtp_pcap(os.path.join(tmp, 'hold.pcap'), 0, HOLD_PACKETS, 160,
                              ssrc=0x3333, seed=b'on-hold')
    media_port = st.free_rtp_range(4)[0]
    cap = st.Capture([media_port])
    try:
        with st.Agent(codec='PCMU') as agent:
            cap.start()
            r = st.run_sipp('uac_reinvite.xml', agent.host, agent.port, media_port=media_port,
                            keys={'codec_pt': 0, 'codec_name': 'PCMU', 'hold_dir': offered,
                                  'pcap': os.path.join(tmp, 'a.pcap'),
                                  'pcap_hold': os.path.join(tmp, 'hold.pcap'),
                                  'pcap2': os.path.join(tmp, 'b.pcap')},
                            sets={'pause_ms': PACKETS * 20 + 500})
            cap.stop()
            res.check(r.rc == 0, '%s: both re-INVITEs answered 200 with the same codec, the '
                      'resume sendrecv (sipp exit 0)' % offered, st.sipp_report(r))
            got = answered_direction(r, 2)
            res.check(got == answer, '%s: answered a=%s (want %s)' % (offered, got, answer),
                      st.sipp_report(r))
            agent.wait_state('ended', timeout=5)
            res.check(agent.count_state('answered') == 1 and agent.count_state('ended') == 1,
                      '%s: one call from first INVITE to BYE (answered %d, ended %d)'
                      % (offered, agent.count_state('answered'), agent.count_state('ended')),
                      agent.output())
            res.check(agent.alive(), '%s: agent still running' % offered, agent.output())
        streams = cap.streams(media_port)
    finally:
        cap.cleanup()
    echoed = b''.join(p[3] for p in streams['echoed'])
    st.log('  captured %d packets from the caller, %d echoed'
           % (len(streams['sent']), len(streams['echoed'])))
    res.check(len(streams['sent']) == 2 * PACKETS + HOLD_PACKETS,
              '%s: the caller sent %d packets, %d of them after the re-INVITE'
              % (offered, len(streams['sent']), HOLD_PACKETS))
    if sends:
        ok, text = st.compare_echo(first + middle + second, echoed, 160, max_missing=2)
        res.check(ok, '%s: everything echoed, also after the re-INVITE: %s' % (offered, text))
        return
    ok1, text1 = st.compare_echo(first, echoed[:len(first)], 160, max_missing=2)
    res.check(ok1, '%s: audio before hold echoed: %s' % (offered, text1))
    tail = echoed[len(echoed) - len(second):] if len(echoed) >= len(second) else echoed
    ok2, text2 = st.compare_echo(second, tail, 160, max_missing=2)
    res.check(ok2, '%s: audio after resume (new SSRC) echoed: %s' % (offered, text2))
    res.check(len(echoed) == len(first) + len(second),
              '%s: nothing sent back while on hold (%d bytes echoed, %d expected)'
              % (offered, len(echoed), len(first) + len(second)))


def main():
    for tool in ('sipp', 'tshark'):
        st.require(tool)
    st.require_root('SIPp plays RTP through a raw socket and tshark captures on lo')
    st.require_agent()
    res = st.Results('test_reinvite')
    tmp = tempfile.mkdtemp(prefix='siptest-reinvite-')
    try:
        for offered, answer, sends in DIRECTIONS:
            run_case(res, tmp, offered, answer, sends)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.exit()


if __name__ == '__main__':
    main()
