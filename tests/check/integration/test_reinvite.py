#!/usr/bin/env python3
"""In-dialog re-INVITEs on an echo call (SIPp as the caller, tshark watching).

SIPp plays 1 s of PCMU, puts the call on hold (re-INVITE a=sendonly) and keeps
sending, resumes (a=sendrecv) and plays 1 s more from another SSRC, hangs up. Checks: both
re-INVITEs get 200 with the same codec and the mirrored direction (recvonly,
then sendrecv; the scenario fails otherwise), the agent keeps one call up
throughout (answered once, ended once), both halves of the audio come back
byte for byte, and nothing is sent to the caller while it is on hold.
"""

import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402

PACKETS = 50


def main():
    for tool in ('sipp', 'tshark'):
        st.require(tool)
    st.require_root('SIPp plays RTP through a raw socket and tshark captures on lo')
    st.require_agent()
    res = st.Results('test_reinvite')
    tmp = tempfile.mkdtemp(prefix='siptest-reinvite-')
    cap = None
    try:
        with st.Agent(codec='PCMU') as agent:
            first = st.make_rtp_pcap(os.path.join(tmp, 'a.pcap'), 0, PACKETS, 160)
            second = st.make_rtp_pcap(os.path.join(tmp, 'b.pcap'), 0, PACKETS, 160,
                                      ssrc=0x2222, seed=b'after-resume')
            st.make_rtp_pcap(os.path.join(tmp, 'hold.pcap'), 0, 25, 160, ssrc=0x3333,
                             seed=b'on-hold')
            media_port = st.free_rtp_range(4)[0]
            cap = st.Capture([media_port])
            cap.start()
            r = st.run_sipp('uac_reinvite.xml', agent.host, agent.port, media_port=media_port,
                            keys={'codec_pt': 0, 'codec_name': 'PCMU',
                                  'pcap': os.path.join(tmp, 'a.pcap'),
                                  'pcap_hold': os.path.join(tmp, 'hold.pcap'),
                                  'pcap2': os.path.join(tmp, 'b.pcap')},
                            sets={'pause_ms': PACKETS * 20 + 500})
            cap.stop()
            res.check(r.rc == 0, 'hold and resume re-INVITEs answered 200 with the same codec '
                      'and mirrored direction (sipp exit 0)', st.sipp_report(r))
            agent.wait_state('ended', timeout=5)
            res.check(agent.count_state('answered') == 1 and agent.count_state('ended') == 1,
                      'one call from first INVITE to BYE (answered %d, ended %d)'
                      % (agent.count_state('answered'), agent.count_state('ended')),
                      agent.output())
            res.check(agent.alive(), 'agent still running', agent.output())

        streams = cap.streams(media_port)
        echoed = b''.join(p[3] for p in streams['echoed'])
        st.log('  captured %d packets from the caller, %d echoed'
               % (len(streams['sent']), len(streams['echoed'])))
        half = len(first)
        ok1, text1 = st.compare_echo(first, echoed[:half], 160, max_missing=2)
        res.check(ok1, 'audio before hold echoed: %s' % text1)
        tail = echoed[len(echoed) - len(second):] if len(echoed) >= len(second) else echoed
        ok2, text2 = st.compare_echo(second, tail, 160, max_missing=2)
        res.check(ok2, 'audio after resume (new SSRC) echoed: %s' % text2)
        res.check(len(streams['sent']) == 2 * PACKETS + 25,
                  'the caller sent %d packets, 25 of them on hold' % len(streams['sent']))
        res.check(len(echoed) == len(first) + len(second),
                  'nothing sent back while on hold (%d bytes echoed, %d expected)'
                  % (len(echoed), len(first) + len(second)))
    finally:
        if cap:
            cap.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    res.exit()


if __name__ == '__main__':
    main()
