#!/usr/bin/env python3
"""The README's demo: a caller talks to the agent on the embedded defaults.

Starts the speech loop of the README, with no properties on the speech
elements (pocketsphinx, the built-in receptionist script, flite):

    gst-launch-1.0 -m sipbin.( local-uri=sip:agent@127.0.0.1:PORT
        sipsrc ! rtppcmudepay ! mulawdec ! audioresample ! sttbridge ! agent !
        ttsbridge ! audioresample ! mulawenc ! rtppcmupay ! sipsink )

SIPp calls it and plays a caller synthesized by flite (a different voice from
the agent's): a reason for calling, a name, a phone number, "yes" to the
read-back and "no" to leaving a message. The demo prints the conversation as
the elements report it on the bus (what the agent said, what it heard), the
intake it collected, and how the call ended: the agent says goodbye and
hangs up.
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'check', 'integration'))
import siptest as st  # noqa: E402
import speechtest as sp  # noqa: E402


def describe(name, m):
    if name == 'sip-call':
        extra = ''
        if m.get('state') == 'answered':
            extra = ' (%s)' % m.get('codec')
        elif m.get('state') == 'ended':
            extra = ' (%s, status %s)' % (m.get('reason'), m.get('status'))
        return '   [call %s%s]' % (m.get('state'), extra)
    if name == 'tts-started':
        return 'Agent:  %s' % m.get('text')
    if name == 'transcript' and m.get('final'):
        return 'Caller: %s   [heard, confidence %.2f]' % (m.get('text') or '(no words)',
                                                         float(m.get('confidence', 0)))
    if name == 'agent-action':
        return '   [agent action: %s%s]' % (m.get('action'),
                                            ' ' + m['target'] if m.get('target') else '')
    if name == 'intake' and m.get('complete'):
        fields = st.parse_structure_fields(
            m.get('fields', '').split(',', 1)[1] if ',' in m.get('fields', '') else '')
        return '   [intake: %s]' % ', '.join('%s=%s' % kv for kv in fields.items())
    return None


def main():
    for tool in ('gst-launch-1.0', 'sipp', 'flite'):
        st.require(tool)
    st.require_root('SIPp plays RTP through a raw socket')
    import tempfile
    import shutil
    tmp = tempfile.mkdtemp(prefix='gst-sip-agent-demo-')
    try:
        print('Synthesizing the caller (%d turns)...' % len(sp.TO_THE_END))
        pcm, _spans = sp.caller_timeline(sp.TO_THE_END, rate=8000, pause=7.0)
        pcap = os.path.join(tmp, 'caller.pcap')
        st.make_rtp_pcap(pcap, 0, payload=sp.encode(pcm, 'PCMU'), payload_size=sp.PAYLOAD_SIZE)
        with st.Agent(codec='PCMU', inner=sp.loop_launch('PCMU').split()) as agent:
            print('Agent listening on sip:agent@127.0.0.1:%d\n  %s\n'
                  % (agent.port, ' '.join(agent.command())))
            sipp = st.Sipp('uac_talk_wait_bye.xml', agent.host, agent.port,
                           keys={'codec_pt': 0, 'codec_name': 'PCMU', 'pcap': pcap},
                           timeout=len(pcm) / 16000.0 + 120).start()
            shown = 0
            while True:
                done = sipp.proc.poll() is not None
                lines = agent.out.snapshot()
                for line in lines[shown:]:
                    m = st._GST_ANY_MSG.search(line)
                    if m:
                        text = describe(m.group(2), st.parse_structure_fields(m.group(3)))
                        if text:
                            print(text, flush=True)
                shown = len(lines)
                if done:
                    break
                time.sleep(0.1)
            r = sipp.wait()
            agent.wait_state('ended', timeout=5)
            for line in agent.out.snapshot()[shown:]:
                m = st._GST_ANY_MSG.search(line)
                if m:
                    text = describe(m.group(2), st.parse_structure_fields(m.group(3)))
                    if text:
                        print(text)
            ok = r.rc == 0
            print('\nDemo call %s.' % ('succeeded: the agent took the intake and hung up'
                                       if ok else 'FAILED'))
            if not ok:
                print(st.sipp_report(r))
                agent.dump('demo failed')
            return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
