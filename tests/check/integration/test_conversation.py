#!/usr/bin/env python3
"""The speech loop over SIP: a caller that talks, an agent that answers.

The launch line of the issue (no properties on the speech elements: the
embedded defaults) answers a SIPp call. SIPp plays a caller synthesized by
flite: silence while the agent greets, then several utterances, each
followed by a pause. tshark captures both directions. From the wire alone,
the test checks that the agent greeted, and that after every caller
utterance the agent started talking (turn latency = end of the caller's
speech in the caller's RTP to the first speech packet in the agent's RTP).
The agent's own bus messages must show a final transcript per turn. Runs
for PCMU (8 kHz loop) and G.722 (16 kHz loop).
"""

import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402
import speechtest as sp  # noqa: E402

TURNS = [
    'I was in a car accident yesterday',
    'My name is John Smith',
    'five five five one two three four',
    'yes',
]

ANSWER_LIMIT = 4.0   # s from the caller's speech end to the agent's speech


def conversation(res, codec, turns):
    pt = st.CODECS[codec][0]
    rate = sp.codec_rate(codec)
    tag = codec
    st.log('== conversation over %s, %d caller turns' % (codec, len(turns)))
    tmp = tempfile.mkdtemp(prefix='siptest-conv-')
    cap = None
    try:
        pcm, spans = sp.caller_timeline(turns, rate=rate)
        payload = sp.encode(pcm, codec)
        pcap = os.path.join(tmp, 'caller.pcap')
        st.make_rtp_pcap(pcap, pt, payload=payload, payload_size=sp.PAYLOAD_SIZE)
        seconds = len(payload) / sp.PAYLOAD_SIZE * sp.PACKET_MS / 1000.0

        with st.Agent(codec=codec, inner=sp.loop_launch(codec).split()) as agent:
            media_port = st.free_rtp_range(4)[0]
            cap = st.Capture([media_port])
            cap.start()
            r = st.run_sipp('uac_echo.xml', agent.host, agent.port, media_port=media_port,
                            keys={'codec_pt': pt, 'codec_name': codec, 'pcap': pcap},
                            sets={'pause_ms': int(seconds * 1000) + 1000},
                            timeout=seconds + 60)
            cap.stop()
            ok = res.check(r.rc == 0, '%s: call succeeded (sipp exit 0)' % tag, st.sipp_report(r))
            finals = [m for m in agent.element_messages('transcript') if m.get('final')]
            for m in finals:
                st.log('  heard: %r (confidence %.2f)' % (m.get('text'), float(m.get('confidence', 0))))
            res.check(len(finals) >= len(turns),
                      '%s: %d final transcripts for %d caller turns' % (tag, len(finals), len(turns)),
                      agent.output())
            res.check(agent.alive(), '%s: agent still running after the call' % tag, agent.output())
            # the caller hung up mid-dialog: sipsrc's sip-call-ended makes the
            # agent post what it collected, marked incomplete
            deadline = time.monotonic() + 5
            partial = []
            while not partial and time.monotonic() < deadline:
                partial = [m for m in agent.element_messages('intake')
                           if 'fields' in m and m.get('complete') is False]
                time.sleep(0.1)
            res.check(partial and 'reason' in partial[-1].get('fields', ''),
                      '%s: after the caller\'s BYE the agent posted the intake, complete=FALSE (%s)'
                      % (tag, partial[-1].get('fields') if partial else 'none'), agent.output())
            if not ok:
                agent.dump('call failed')

        pkts = cap.rtp_timed(media_port)
        caller = [p for p in pkts if p[1] == media_port and p[3] == pt]
        answer = [p for p in pkts if p[2] == media_port]
        st.log('  captured %d caller packets, %d agent packets' % (len(caller), len(answer)))
        if not res.check(caller and answer, '%s: RTP both ways on the wire' % tag):
            return []
        seq_time = {p[4]: p[0] for p in caller}
        levels = sp.packet_levels([p[5] for p in answer], codec)
        onsets = sp.speech_onsets([p[0] for p in answer], levels)
        res.check(onsets and onsets[0] - caller[0][0] < 3.0,
                  '%s: the agent greets (first speech %.2f s after the caller\'s first packet)'
                  % (tag, onsets[0] - caller[0][0] if onsets else -1))
        ends = [seq_time.get((1000 + last) & 0xffff) for _first, last in spans]
        lat = sp.turn_latencies([e for e in ends if e is not None], onsets, ANSWER_LIMIT)
        for text, t in zip(turns, lat):
            st.log('  turn %-40r answered after %s' % (text, '%.0f ms' % (t * 1000) if t is not None else 'NOTHING'))
        res.check(None not in ends, '%s: every turn\'s last packet is in the capture' % tag)
        res.check(len(lat) == len(turns) and None not in lat,
                  '%s: the agent answered every caller turn within %.0f s' % (tag, ANSWER_LIMIT))
        got = [t for t in lat if t is not None]
        if got:
            st.log('  turn latency on the wire: p50 %.0f ms, max %.0f ms (%d turns)'
                   % (sp.percentile(got, 50) * 1000, max(got) * 1000, len(got)))
        return got
    except RuntimeError as e:
        res.check(False, '%s: %s' % (tag, e))
        return []
    finally:
        if cap:
            cap.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def agent_hangs_up(res, turns):
    """The agent's hangup action ends the call: sipbin sends BYE after the
    goodbye has played, and the intake is complete."""
    tag = 'hangup'
    st.log('== the default dialog to its end (%d turns); the agent hangs up' % len(turns))
    tmp = tempfile.mkdtemp(prefix='siptest-conv-')
    try:
        pcm, _spans = sp.caller_timeline(turns, rate=8000, pause=7.0)
        pcap = os.path.join(tmp, 'caller.pcap')
        st.make_rtp_pcap(pcap, 0, payload=sp.encode(pcm, 'PCMU'), payload_size=sp.PAYLOAD_SIZE)
        with st.Agent(codec='PCMU', inner=sp.loop_launch('PCMU').split()) as agent:
            r = st.run_sipp('uac_talk_wait_bye.xml', agent.host, agent.port,
                            keys={'codec_pt': 0, 'codec_name': 'PCMU', 'pcap': pcap},
                            timeout=len(pcm) / 16000.0 + 120)
            for m in agent.element_messages('agent-turn'):
                st.log('  %-14s heard %-40r -> %r' % (m.get('state'), m.get('heard'), m.get('reply')))
            res.check(r.rc == 0, '%s: the agent hung up with BYE (sipp exit 0)' % tag,
                      st.sipp_report(r))
            actions = agent.element_messages('agent-action')
            res.check([a.get('action') for a in actions] == ['hangup'],
                      '%s: one agent-action, hangup (got %s)' % (tag, [a.get('action') for a in actions]),
                      agent.output())
            ended = agent.wait_state('ended', timeout=5)
            res.check(ended is not None and ended.get('reason') == 'local-hangup',
                      '%s: sip-call ended with reason local-hangup (got %s)'
                      % (tag, ended and ended.get('reason')), agent.output())
            complete = [m for m in agent.element_messages('intake') if m.get('complete')]
            fields = complete[-1].get('fields', '') if complete else ''
            # recognition may add or drop a digit; the flow is what is tested
            phone = re.search(r'phone=\(string\)"?(\d+)', fields)
            res.check(phone and len(phone.group(1)) >= 7 and 'caller_name' in fields,
                      '%s: the complete intake has a name and a phone number (%s)' % (tag, fields),
                      agent.output())
            res.check(agent.alive(), '%s: agent still running, waiting for the next call' % tag)
    except RuntimeError as e:
        res.check(False, '%s: %s' % (tag, e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    for tool in ('sipp', 'tshark', 'flite'):
        st.require(tool)
    st.require_root('SIPp plays RTP through a raw socket and tshark captures on lo')
    st.require_agent()
    if st.fake_agent():
        st.skip('the speech loop needs the real agent')
    st.require_elements('sttbridge', 'agent', 'ttsbridge', 'avdec_g722', 'avenc_g722')
    res = st.Results('test_conversation')
    conversation(res, 'PCMU', TURNS)
    conversation(res, 'G722', TURNS[:2])
    agent_hangs_up(res, sp.TO_THE_END)
    res.exit()


if __name__ == '__main__':
    main()
