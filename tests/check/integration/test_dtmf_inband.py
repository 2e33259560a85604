#!/usr/bin/env python3
"""DTMF as tones in the audio, from a real peer, into the documented speech loop.

SIPp calls with PCMU and NO telephone-event (tests/sipp/uac_no_telephone_event.xml)
and plays a pcap of key presses as tones (ITU-T Q.23 frequencies, made here
and mu-law encoded): '1', then '#', then '7'. The agent runs the launch line
of the docs unchanged (sipsrc ! rtppcmudepay ! mulawdec ! audioresample !
sttbridge ! agent ! ttsbridge ! ... ! sipsink) with a script whose menu
takes keys.

Checks that sttbridge posts one start and one end `dtmf-event` per key, in
order, with method=2 (sound); that nothing else reports keys (sipsrc has no
telephone-event to read); and that the keys reached the agent's dialog: the
script stores one intake field per key it took.
"""

import math
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402
import speechtest as sp  # noqa: E402

KEYS = '1#7'
LOW = dict(zip('123A456B789C*0#D', [697] * 4 + [770] * 4 + [852] * 4 + [941] * 4))
HIGH = dict(zip('123A456B789C*0#D', [1209, 1336, 1477, 1633] * 4))
NUMBER = {k: i for i, k in enumerate('0123456789*#ABCD')}

SCRIPT = """\
[script]
start = menu

[state menu]
say = Hello. Press one.
intent.one = one
dtmf.1 = one
on.one = set first=one; goto second

[state second]
say = Now press pound.
intent.pound = pound
dtmf.# = pound
on.pound = set second=pound; goto third

[state third]
say = And seven.
intent.seven = seven
dtmf.7 = seven
on.seven = set third=seven; goto menu
"""


def tones(keys, rate=8000, first_wait=3.0, tone=0.12, gap=1.5, tail=2.0):
    """S16LE mono: silence, then each key as two tones followed by silence."""
    out = bytearray(b'\0' * int(first_wait * rate) * 2)
    for k in keys:
        for i in range(int(tone * rate)):
            v = 7000 * (math.sin(2 * math.pi * LOW[k] * i / rate) +
                        math.sin(2 * math.pi * HIGH[k] * i / rate))
            out += int(v).to_bytes(2, 'little', signed=True)
        out += b'\0' * int(gap * rate) * 2
    out += b'\0' * int(tail * rate) * 2
    out += b'\0' * (-len(out) % 320)
    return bytes(out)


def main():
    st.require('sipp')
    st.require_root('SIPp plays RTP through a raw socket')
    st.require_agent()
    if st.fake_agent():
        st.skip('keys are detected by sttbridge itself')
    st.require_elements('sttbridge', 'agent', 'ttsbridge', 'dtmfdetect')
    res = st.Results('test_dtmf_inband')
    tmp = tempfile.mkdtemp(prefix='siptest-inband-')
    try:
        script = os.path.join(tmp, 'menu.ini')
        with open(script, 'w') as f:
            f.write(SCRIPT)
        pcm = tones(KEYS)
        pcap = os.path.join(tmp, 'tones.pcap')
        st.make_rtp_pcap(pcap, 0, payload=sp.encode(pcm, 'PCMU'), payload_size=sp.PAYLOAD_SIZE)
        seconds = len(pcm) / 2 / 8000
        inner = sp.loop_launch('PCMU', agent='agent script=%s' % script).split()
        with st.Agent(codec='PCMU', inner=inner) as agent:
            r = st.run_sipp('uac_no_telephone_event.xml', agent.host, agent.port,
                            keys={'codec_pt': 0, 'codec_name': 'PCMU', 'pcap': pcap},
                            sets={'pause_ms': int(seconds * 1000) + 500})
            res.check(r.rc == 0, 'call with three keys as tones succeeded', st.sipp_report(r))
            m = agent.wait_state('answered', timeout=3)
            res.check(m is not None and m.get('telephone-event-payload') == -1,
                      'answered without telephone-event (%s)' % m, agent.output())
            agent.wait_state('ended', timeout=5)
            events = agent.element_messages('dtmf-event')
            got = [(e.get('number'), e.get('start')) for e in events]
            want = [(NUMBER[k], s) for k in KEYS for s in (True, False)]
            res.check(got == want, 'one start and one end per key, in order: %s (want %s)'
                      % (got, want), agent.output())
            res.check(all(e['element'].startswith('sttbridge') for e in events),
                      'reported by sttbridge only (%s)' % sorted({e['element'] for e in events}))
            res.check(all(e.get('type') == 1 and e.get('method') == 2 for e in events),
                      'type=1 and method=2 (sound) on every message')
            fields = [(m.get('field'), m.get('value')) for m in agent.element_messages('intake')
                      if m.get('field')]
            res.check(fields == [('first', 'one'), ('second', 'pound'), ('third', 'seven')],
                      'the agent took each key in its menu: %s' % fields, agent.output())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.exit()


if __name__ == '__main__':
    main()
