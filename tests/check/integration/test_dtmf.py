#!/usr/bin/env python3
"""RFC 4733 DTMF from a real peer: SIPp plays three key presses into a call.

SIPp's own RFC 2833 captures (dtmf_2833_1, _9 and _5 from the sip-tester
package) are played in that order: the repeated end packets (three, with the
same sequence number), a jump back in sequence numbers between digits and
events that follow one another all occur. Checks that sipsrc posts exactly
one start and one end `dtmf-event` per key, in order, with rtpdtmfdepay's
fields and the duration the end packets carry.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402

PCAPS = '/usr/share/sip-tester'
DIGITS = (1, 9, 5)


def main():
    st.require('sipp')
    st.require_root('SIPp plays RTP through a raw socket')
    st.require_agent()
    if st.fake_agent():
        st.skip('DTMF events come from sipsrc itself')
    pcaps = [os.path.join(PCAPS, 'dtmf_2833_%d.pcap' % d) for d in DIGITS]
    for p in pcaps:
        if not os.path.exists(p):
            st.skip('SIPp DTMF capture missing: %s' % p)
    res = st.Results('test_dtmf')
    with st.Agent(codec='PCMU') as agent:
        r = st.run_sipp('uac_dtmf.xml', agent.host, agent.port,
                        keys={'codec_pt': 0, 'codec_name': 'PCMU', 'pcap1': pcaps[0],
                              'pcap2': pcaps[1], 'pcap3': pcaps[2]})
        res.check(r.rc == 0, 'call with three key presses succeeded', st.sipp_report(r))
        m = agent.wait_state('answered', timeout=3)
        res.check(m is not None and m.get('telephone-event-payload') == 101,
                  'answered with telephone-event 101 (%s)' % m, agent.output())
        agent.wait_state('ended', timeout=5)
        events = agent.element_messages('dtmf-event')
        got = [(e.get('number'), e.get('start')) for e in events]
        want = [(d, s) for d in DIGITS for s in (True, False)]
        res.check(got == want, 'one start and one end per key, in order: %s (want %s)'
                  % (got, want), agent.output())
        res.check(all(e.get('type') == 1 and e.get('method') == 1 for e in events),
                  'type=1 and method=1 on every message, as rtpdtmfdepay posts them')
        ends = [e for e in events if e.get('start') is False]
        res.check(all(isinstance(e.get('duration'), int) and 100 <= e['duration'] <= 1000
                      for e in ends),
                  'end messages carry the key press duration in ms (%s)'
                  % [e.get('duration') for e in ends])
    res.exit()


if __name__ == '__main__':
    main()
