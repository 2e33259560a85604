#!/usr/bin/env python3
"""DTMF in SIP INFO from a real peer (legacy INFO usage, RFC 6086 section 2).

SIPp calls with PCMU and no telephone-event, plays audio, and sends INFOs
inside the call (tests/sipp/uac_dtmf_info.xml): `application/dtmf-relay`
(Signal=5, Duration=160), `application/dtmf` (#), dtmf-relay with keys in
lower case and spaces (9, 250 ms), and bad ones: a Signal that is no key and
a number out of range (400), another content type (415), an Info-Package
header (469). The scenario fails unless each gets its status.

The agent runs the documented speech loop with an identity after the
decoder (gst-launch -v logs the events it sees) and a script whose menu
takes 5, # and 9. Checks that sipbin posts one start and one end
`dtmf-event` per good INFO, in order, with method=3 and the duration of the
body; that the same events went into the pipeline through sipsrc and passed
mulawdec out of band; that the script took the three keys; and that the
bad INFOs changed nothing.
"""

import os
import re
import tempfile
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402

KEYS = ((5, 160), (11, None), (9, 250))

SCRIPT = """\
[script]
start = menu

[state menu]
say = Hello. Press five.
intent.five = five
dtmf.5 = five
on.five = set first=five; goto second

[state second]
say = Now pound.
intent.pound = pound
dtmf.# = pound
on.pound = set second=pound; goto third

[state third]
say = And nine.
intent.nine = nine
dtmf.9 = nine
on.nine = set third=nine; goto menu
"""


def main():
    st.require('sipp')
    st.require_root('SIPp plays RTP through a raw socket')
    st.require_agent()
    if st.fake_agent():
        st.skip('INFO key presses are answered by sipbin itself')
    st.require_elements('sttbridge', 'agent', 'ttsbridge')
    res = st.Results('test_dtmf_info')
    with tempfile.TemporaryDirectory(prefix='siptest-info-') as tmp:
        pcap = os.path.join(tmp, 'audio.pcap')
        # 4 s of PCMU silence, so that the call's media flows
        st.make_rtp_pcap(pcap, 0, payload=b'\xff' * 160 * 200)
        script = os.path.join(tmp, 'menu.ini')
        with open(script, 'w') as f:
            f.write(SCRIPT)
        inner = ['sipsrc', '!', 'rtppcmudepay', '!', 'mulawdec', '!', 'identity', 'name=afterdec',
                 'silent=false', '!', 'audioresample', '!', 'sttbridge', '!', 'agent',
                 'script=' + script, '!', 'ttsbridge', '!', 'audioresample', '!', 'mulawenc', '!',
                 'rtppcmupay', '!', 'sipsink']
        with st.Agent(codec='PCMU', inner=inner, launch_args=['-v']) as agent:
            r = st.run_sipp('uac_dtmf_info.xml', agent.host, agent.port, keys={'pcap': pcap})
            res.check(r.rc == 0, 'every INFO got its status (200, 200, 400, 400, 415, 469, 200)',
                      st.sipp_report(r))
            m = agent.wait_state('answered', timeout=3)
            res.check(m is not None and m.get('telephone-event-payload') == -1,
                      'answered without telephone-event (%s)' % m, agent.output())
            agent.wait_state('ended', timeout=5)
            out = agent.output()
            events = agent.element_messages('dtmf-event')
            got = [(e.get('number'), e.get('start')) for e in events]
            want = [(k, s) for k, _d in KEYS for s in (True, False)]
            res.check(got == want, 'one start and one end per good INFO, in order: %s (want %s)'
                      % (got, want), out)
            res.check(all(e['element'].startswith('sipbin') for e in events),
                      'posted by sipbin (%s)' % sorted({e['element'] for e in events}))
            res.check(all(e.get('type') == 1 and e.get('method') == 3 for e in events),
                      'type=1 and method=3 (SIP INFO) on every message')
            ends = [e for e in events if e.get('start') is False]
            res.check([e.get('duration') for e in ends] == [d for _k, d in KEYS],
                      'end messages carry the Duration of the body: %s'
                      % [e.get('duration') for e in ends])
            # identity's last-message: "event ******* (afterdec:sink) E (type:
            # custom-downstream-oob (...), dtmf-event, ... number=(int)5 ..."
            passed = re.findall(r'afterdec: last-message = event .*?\(afterdec:sink\) E \(type: (\S+) '
                                r'.*?dtmf-event, .*?number=\(int\)(\d+), .*?start=\(boolean\)(\w+)',
                                out)
            numbers = [(int(n), s == 'true') for _t, n, s in passed]
            res.check(numbers == want,
                      'the same events passed mulawdec into the pipeline: %s' % passed,
                      '\n'.join(l for l in out.splitlines() if 'dtmf' in l))
            res.check(all(t == 'custom-downstream-oob' for t, _n, _s in passed),
                      'out of band, since the call\'s media was flowing')
            fields = [(m.get('field'), m.get('value')) for m in agent.element_messages('intake')
                      if m.get('field')]
            res.check(fields == [('first', 'five'), ('second', 'pound'), ('third', 'nine')],
                      'the agent took each key in its menu: %s' % fields)
    res.exit()


if __name__ == '__main__':
    main()
