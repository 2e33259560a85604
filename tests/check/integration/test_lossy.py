#!/usr/bin/env python3
"""A lossy line: the agent still understands the caller.

GStreamer's netsim sits right after sipsrc and does to the caller's RTP what
a bad line does: it drops 5% of the packets and delays half of them by up to
60 ms, reordering them. The receive path of the gst-sip-agent server's
default launch (rtpjitterbuffer with do-lost, the depayloader, mulawdec,
spanplc for loss concealment) then feeds the speech loop. SIPp plays a
caller who goes through the built-in dialog to its end (reason, name,
number, yes, no): the agent must understand every answer well enough to
finish the intake and hang up itself, with the phone number read right.
The same caller on the plain line is test_conversation's `hangup` case.
"""

import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402
import speechtest as sp  # noqa: E402

# netsim's random generator is seeded from the clock: the 5% are different
# packets each run.
LINE = ('netsim drop-probability=0.05 delay-probability=0.5 min-delay=0 max-delay=60 '
        'allow-reordering=true')


def lossy_launch():
    """The server's receive path behind netsim, the speech loop after it."""
    receive = ('rtpjitterbuffer latency=60 do-lost=true ! rtppcmudepay ! mulawdec ! '
               'spanplc')
    loop = sp.loop_launch('PCMU')
    assert loop.startswith('sipsrc ! rtppcmudepay ! mulawdec ! ')
    return 'sipsrc ! %s ! %s ! %s' % (LINE, receive, loop[len('sipsrc ! rtppcmudepay ! mulawdec ! '):])


def main():
    for tool in ('sipp', 'flite'):
        st.require(tool)
    st.require_root('SIPp plays RTP through a raw socket')
    st.require_agent()
    if st.fake_agent():
        st.skip('the speech loop needs the real agent')
    st.require_elements('sttbridge', 'agent', 'ttsbridge', 'netsim', 'spanplc',
                        'rtpjitterbuffer')
    res = st.Results('test_lossy')
    tmp = tempfile.mkdtemp(prefix='siptest-lossy-')
    try:
        turns = sp.TO_THE_END
        st.log('== the default dialog to its end over a line with 5%% loss and jitter '
               '(%d turns)' % len(turns))
        pcm, _spans = sp.caller_timeline(turns, rate=8000, pause=7.0)
        pcap = os.path.join(tmp, 'caller.pcap')
        st.make_rtp_pcap(pcap, 0, payload=sp.encode(pcm, 'PCMU'), payload_size=sp.PAYLOAD_SIZE)
        with st.Agent(codec='PCMU', inner=lossy_launch().split()) as agent:
            r = st.run_sipp('uac_talk_wait_bye.xml', agent.host, agent.port,
                            keys={'codec_pt': 0, 'codec_name': 'PCMU', 'pcap': pcap},
                            timeout=len(pcm) / 16000.0 + 120)
            for m in agent.element_messages('agent-turn'):
                st.log('  %-14s heard %-40r -> %r' % (m.get('state'), m.get('heard'),
                                                      m.get('reply')))
            res.check(r.rc == 0, 'the agent understood every answer and hung up with BYE '
                      '(sipp exit 0)', st.sipp_report(r) + agent.output())
            complete = [m for m in agent.element_messages('intake') if m.get('complete')]
            fields = complete[-1].get('fields', '') if complete else ''
            phone = re.search(r'phone=\(string\)"?(\d+)', fields)
            res.check(phone is not None and phone.group(1).endswith('5551234'),
                      'the intake is complete and its phone number is right (%s)' % fields,
                      agent.output())
            res.check(agent.alive(), 'agent still running')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.exit()


if __name__ == '__main__':
    main()
