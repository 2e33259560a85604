#!/usr/bin/env python3
"""Calls that survive what real carriers do to a session (SIPp as the far
end, tshark watching the echo).

- delayed: an INVITE without SDP gets our offer in the 200 and the answer in
  the ACK; the echo works; a re-INVITE without SDP gets the same session
  offered again (answer in the ACK) and the echo carries on.
- reanchor: a re-INVITE moves the caller's media to another port: the echo
  follows, and the strict source takes the new one.
- reanchor-address: the same move to another address (127.0.0.2, SIPp's
  -mi, from which it sends all along): before the move its audio comes
  from an address the SDP does not name and nothing is echoed; after it
  the audio is taken and echoed to 127.0.0.2.
- update: hold and resume by UPDATE (RFC 3311): answered recvonly then
  sendrecv with the same codec, nothing sent back while held; an UPDATE
  without SDP (a session refresh) gets 200 without a body.
- timer-uac: the caller asks for a 10 s session (Session-Expires, no
  refresher): our 200 makes it the refresher (refresher=uac, Require:
  timer); it refreshes with UPDATE and with re-INVITE and the call lasts
  past 10 s.
- timer-too-small: with sipbin's defaults (session-expires 1800, min-se
  90) a caller asking for a 60 s session gets 422 with Min-SE: 90; its
  retry with 90 (RFC 4028 7.4) is answered with a 90 s session it
  refreshes.
- timer-expiry: the caller is the refresher and never refreshes: we send
  BYE before the 10 s session expires.
- timer-update: the caller asks us to refresh (refresher=uas) and allows
  UPDATE: we refresh with UPDATE at about half the interval, twice.
- glare: the caller asks us to refresh and knows no UPDATE: our refresh is
  a re-INVITE without SDP; while it is out, the caller's own re-INVITE gets
  491 (RFC 3261 14.2); the caller answers ours with an offer in its 200 and
  our ACK carries the answer.

- agent-hold: the speech loop (the agent on its embedded defaults) greets
  a caller who sends no RTP; the caller holds the call mid-greeting for
  10 s (longer than the 6 s no-input timeout) while someone talks in the
  background, then resumes: nothing is sent to it on hold, nothing said on
  hold is recognised, no re-prompt fires on hold, and right after the
  resume the agent carries on (an agent-turn with input=resumed, and
  speech on the wire).

Except in timer-too-small, sipbin runs with session-expires=10 min-se=5
(RFC 4028 forbids a Min-SE under 90 s on the wire; short values keep the
test short).
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

PACKETS = 50
TIMER_PROPS = {'session-expires': 10, 'min-se': 5}


def echo_check(res, cap, media_port, parts, what):
    """The caller's pcaps in `parts` came back byte for byte, in order."""
    streams = cap.streams(media_port)
    echoed = b''.join(p[3] for p in streams['echoed'])
    st.log('  captured %d packets from the caller, %d echoed'
           % (len(streams['sent']), len(streams['echoed'])))
    sent = b''.join(parts)
    ok, text = st.compare_echo(sent, echoed, 160, max_missing=4)
    res.check(ok, what + ': ' + text)
    return streams


def test_delayed_offer(res, tmp):
    st.log('== delayed offer: INVITE and re-INVITE without SDP')
    first = st.make_rtp_pcap(os.path.join(tmp, 'd1.pcap'), 0, PACKETS, 160, seed=b'delayed-1')
    # a new SSRC: the pcap's sequence numbers start again
    second = st.make_rtp_pcap(os.path.join(tmp, 'd2.pcap'), 0, PACKETS, 160, ssrc=0x2222,
                              seed=b'delayed-2')
    with st.Agent(codec='PCMU') as agent:
        media_port = st.free_rtp_range(4)[0]
        with st.Capture([media_port]) as cap:
            r = st.run_sipp('uac_delayed_offer.xml', agent.host, agent.port,
                            media_port=media_port,
                            keys={'pcap': os.path.join(tmp, 'd1.pcap'),
                                  'pcap2': os.path.join(tmp, 'd2.pcap')},
                            sets={'pause_ms': PACKETS * 20 + 500})
        res.check(r.rc == 0, 'offers in both 200s (PCMU and telephone-event), answers in the '
                  'ACKs, BYE answered (sipp exit 0)', st.sipp_report(r))
        agent.wait_state('ended', timeout=5)
        res.check(agent.count_state('answered') == 1 and agent.count_state('ended') == 1,
                  'one call, answered once the ACK brought the answer', agent.output())
        echo_check(res, cap, media_port, [first, second],
                   'audio echoed before and after the offerless re-INVITE')
        res.check(agent.alive(), 'agent still running', agent.output())


def test_reanchor(res, tmp):
    st.log('== re-anchor: a re-INVITE moves the caller\'s media')
    first = st.make_rtp_pcap(os.path.join(tmp, 'a1.pcap'), 0, PACKETS, 160, seed=b'anchor-1')
    second = st.make_rtp_pcap(os.path.join(tmp, 'a2.pcap'), 0, PACKETS, 160, ssrc=0x2222,
                              seed=b'anchor-2')
    with st.Agent(codec='PCMU') as agent:
        media_port = st.free_rtp_range(4)[0]
        with st.Capture([(media_port, media_port + 2)]) as cap:
            r = st.run_sipp('uac_reanchor.xml', agent.host, agent.port,
                            media_port=media_port,
                            keys={'codec_pt': 0, 'codec_name': 'PCMU',
                                  'first_media_ip': '127.0.0.1',
                                  'pcap': os.path.join(tmp, 'a1.pcap'),
                                  'pcap2': os.path.join(tmp, 'a2.pcap')},
                            sets={'pause_ms': PACKETS * 20 + 500})
        res.check(r.rc == 0, 'the moving re-INVITE answered with the same codec (sipp exit 0)',
                  st.sipp_report(r))
        agent.wait_state('ended', timeout=5)
    pkts = cap.rtp((media_port, media_port + 2))
    for port, sent, what in ((media_port, first, 'before the move'),
                             (media_port + 2, second, 'after the move')):
        echoed = b''.join(p[3] for p in pkts if p[1] == port)
        ok, text = st.compare_echo(sent, echoed, 160, max_missing=4)
        res.check(ok, 'audio %s echoed to port %d: %s' % (what, port, text))


def test_reanchor_address(res, tmp):
    st.log('== re-anchor to another address: the caller\'s media moves to 127.0.0.2')
    st.make_rtp_pcap(os.path.join(tmp, 'b1.pcap'), 0, PACKETS, 160, seed=b'address-1')
    second = st.make_rtp_pcap(os.path.join(tmp, 'b2.pcap'), 0, PACKETS, 160, ssrc=0x2222,
                              seed=b'address-2')
    moved = '127.0.0.2'
    with st.Agent(codec='PCMU') as agent:
        media_port = st.free_rtp_range(4)[0]
        ports = (media_port, media_port + 2)
        with st.Capture([ports]) as cap:
            # SIPp sends all its audio from -mi: before the move that is an
            # address the SDP does not name yet
            r = st.run_sipp('uac_reanchor.xml', agent.host, agent.port,
                            media_port=media_port, extra=['-mi', moved],
                            keys={'codec_pt': 0, 'codec_name': 'PCMU',
                                  'first_media_ip': '127.0.0.1',
                                  'pcap': os.path.join(tmp, 'b1.pcap'),
                                  'pcap2': os.path.join(tmp, 'b2.pcap')},
                            sets={'pause_ms': PACKETS * 20 + 500})
        res.check(r.rc == 0, 'the re-INVITE to %s answered with the same codec (sipp exit 0)'
                  % moved, st.sipp_report(r))
        agent.wait_state('ended', timeout=5)
    try:
        pkts = cap.rtp_addressed(ports)
    finally:
        cap.cleanup()
    theirs = [p for p in pkts if p[0] == moved]
    ours = [p for p in pkts if p[0] != moved]
    res.check(len(theirs) == 2 * PACKETS, 'the caller sent %d packets from %s (%d expected)'
              % (len(theirs), moved, 2 * PACKETS))
    before = [p for p in ours if p[2] == media_port]
    after = b''.join(p[3] for p in ours if p[1] == moved and p[2] == media_port + 2)
    res.check(not before, 'before the move nothing was echoed: the audio came from %s, which '
              'the SDP did not name (strict source) (%d packets)' % (moved, len(before)))
    ok, text = st.compare_echo(second, after, 160, max_missing=4)
    res.check(ok, 'after the move the audio from %s is taken and echoed to %s:%d: %s'
              % (moved, moved, media_port + 2, text))


def test_update_hold(res, tmp):
    st.log('== hold and resume by UPDATE, and an UPDATE refresh')
    first = st.make_rtp_pcap(os.path.join(tmp, 'u1.pcap'), 0, PACKETS, 160, seed=b'update-1')
    st.make_rtp_pcap(os.path.join(tmp, 'uhold.pcap'), 0, 25, 160, ssrc=0x3333, seed=b'update-hold')
    second = st.make_rtp_pcap(os.path.join(tmp, 'u2.pcap'), 0, PACKETS, 160, ssrc=0x2222,
                              seed=b'update-2')
    with st.Agent(codec='PCMU') as agent:
        media_port = st.free_rtp_range(4)[0]
        with st.Capture([media_port]) as cap:
            r = st.run_sipp('uac_update_hold.xml', agent.host, agent.port,
                            media_port=media_port,
                            keys={'codec_pt': 0, 'codec_name': 'PCMU',
                                  'pcap': os.path.join(tmp, 'u1.pcap'),
                                  'pcap_hold': os.path.join(tmp, 'uhold.pcap'),
                                  'pcap2': os.path.join(tmp, 'u2.pcap')},
                            sets={'pause_ms': PACKETS * 20 + 500})
        res.check(r.rc == 0, 'UPDATE sendonly answered recvonly, UPDATE without SDP answered '
                  '200 without a body, UPDATE sendrecv answered sendrecv, same codec '
                  '(sipp exit 0)', st.sipp_report(r))
        agent.wait_state('ended', timeout=5)
        res.check(agent.count_state('answered') == 1 and agent.count_state('ended') == 1,
                  'one call throughout', agent.output())
        streams = echo_check(res, cap, media_port, [first, second],
                             'audio echoed before the hold and after the resume, none of '
                             'the 25 packets sent on hold')
        res.check(len(streams['sent']) == 2 * PACKETS + 25,
                  'the caller sent %d packets, 25 of them on hold' % len(streams['sent']))


def run_timer(res, scenario, what, agent_reason=None, min_s=None, max_s=None,
              props=TIMER_PROPS):
    """A session-timer scenario against an echo agent with a 10 s session."""
    with st.Agent(codec='PCMU', props=props) as agent:
        started = time.monotonic()
        r = st.run_sipp(scenario, agent.host, agent.port, timeout=40)
        took = time.monotonic() - started
        ok = res.check(r.rc == 0, '%s (sipp exit 0, %.1f s)' % (what, took), st.sipp_report(r))
        if ok and min_s is not None:
            res.check(min_s <= took <= max_s, 'the call lasted %.1f s (%d..%d s expected)'
                      % (took, min_s, max_s))
        agent.wait_state('ended', timeout=5)
        if agent_reason:
            out = agent.output()
            res.check(re.search(r'state=\(string\)ended.*reason=\(string\)%s' % agent_reason,
                                out) is not None,
                      'sipbin says the call ended with reason %s' % agent_reason, out)
        res.check(agent.alive(), 'agent still running', agent.output())
        return r


def test_timer_uac(res, tmp):
    st.log('== session timer: the caller refreshes by UPDATE and re-INVITE')
    run_timer(res, 'uac_timer_refresh.xml', 'our 200 makes the caller refresher of a 10 s '
              'session (refresher=uac, Require: timer); both refreshes answered with the '
              'interval; no BYE from us at 12 s', agent_reason='remote-hangup', min_s=11,
              max_s=16)


def test_timer_too_small(res, tmp):
    st.log('== session timer: an interval below our Min-SE (the defaults)')
    run_timer(res, 'uac_timer_too_small.xml', 'Session-Expires 60 gets 422 with Min-SE: 90; '
              'the retry with 90 is answered with a 90 s session, refreshed by UPDATE',
              agent_reason='remote-hangup', props={})


def test_timer_expiry(res, tmp):
    st.log('== session timer: the caller never refreshes')
    run_timer(res, 'uac_timer_expire.xml', 'a 10 s session the caller does not refresh: our '
              'BYE comes before it expires', agent_reason='session-expired', min_s=5,
              max_s=11)


def test_timer_update(res, tmp):
    st.log('== session timer: we refresh by UPDATE')
    run_timer(res, 'uac_timer_uas.xml', 'refresher=uas with UPDATE allowed: two UPDATE '
              'refreshes without SDP from us, each within 8 s', min_s=7, max_s=16)


def test_glare(res, tmp):
    st.log('== session timer: we refresh by re-INVITE; glare gets 491')
    run_timer(res, 'uac_timer_glare.xml', 'refresher=uas without UPDATE: our refresh is a '
              're-INVITE without SDP, the caller\'s re-INVITE meanwhile gets 491, our ACK '
              'answers the offer of its 200', agent_reason='remote-hangup')


HOLD_AT = 2.5      # s after the answer: mid-greeting
HOLD_FOR = 10.0    # longer than the agent's 6 s no-input timeout
AFTER = 6.0


def test_agent_hold(res, tmp):
    st.log('== the agent on hold: greets on answer, waits on hold, carries on')
    st.require_elements('sttbridge', 'agent', 'ttsbridge')
    talk = sp.synthesize('hello are you still there I need to talk to someone', rate=8000)
    pcap = os.path.join(tmp, 'background.pcap')
    st.make_rtp_pcap(pcap, 0, payload=sp.encode(talk, 'PCMU'), payload_size=sp.PAYLOAD_SIZE)
    with st.Agent(codec='PCMU', inner=sp.loop_launch('PCMU').split()) as agent:
        media_port = st.free_rtp_range(4)[0]
        with st.Capture([media_port]) as cap:
            r = st.run_sipp('uac_hold_agent.xml', agent.host, agent.port,
                            media_port=media_port,
                            keys={'codec_pt': 0, 'codec_name': 'PCMU', 'pcap_hold': pcap},
                            sets={'hold_at_ms': int(HOLD_AT * 1000),
                                  'hold_ms': int(HOLD_FOR * 1000),
                                  'after_ms': int(AFTER * 1000)},
                            timeout=HOLD_AT + HOLD_FOR + AFTER + 30)
        res.check(r.rc == 0, 'hold answered recvonly, resume sendrecv (sipp exit 0)',
                  st.sipp_report(r))
        agent.wait_state('ended', timeout=5)
        turns = agent.element_messages('agent-turn')
        for m in turns:
            st.log('  agent-turn input=%s state=%s reply=%r'
                   % (m.get('input'), m.get('state'), m.get('reply')))
        inputs = [m.get('input') for m in turns]
        res.check(inputs[:1] == ['start'] and 'resumed' in inputs,
                  'agent turns: the greeting, then one on resume (%s)' % inputs, agent.output())
        res.check('no-input' not in inputs and 'utterance' not in inputs,
                  'no re-prompt and nothing heard while on hold (%s)' % inputs)
        finals = [m.get('text') for m in agent.element_messages('transcript') if m.get('final')]
        res.check(not finals, 'the background talk on hold was not recognised (%s)' % finals)

    pkts = cap.rtp_timed(media_port)
    ours = [p for p in pkts if p[2] == media_port]
    theirs = [p for p in pkts if p[1] == media_port]
    if not res.check(ours, 'the agent sent RTP'):
        return
    times = [p[0] for p in ours]
    onsets = sp.speech_onsets(times, sp.packet_levels([p[5] for p in ours], 'PCMU'))
    gaps = [(a, b) for a, b in zip(times, times[1:]) if b - a > 1.0]
    st.log('  agent RTP %.2f..%.2f s, gaps %s, speech onsets %s'
           % (0, times[-1] - times[0], ['%.2f-%.2f' % (a - times[0], b - times[0])
                                         for a, b in gaps],
              ['%.2f' % (o - times[0]) for o in onsets]))
    first_caller = theirs[0][0] if theirs else None
    res.check(onsets and (first_caller is None or onsets[0] < first_caller),
              'the agent greeted before the caller sent a single packet (speech %.2f s '
              'after its first packet)' % ((onsets[0] - times[0]) if onsets else -1))
    res.check(len(gaps) == 1 and HOLD_FOR - 1.5 <= gaps[0][1] - gaps[0][0] <= HOLD_FOR + 1.5,
              'nothing sent to the caller for the %.0f s hold (gaps %s)'
              % (HOLD_FOR, ['%.1f s' % (b - a) for a, b in gaps]))
    if gaps:
        resume = gaps[0][1]
        after = [o for o in onsets if o >= resume]
        res.check(after and after[0] - resume < 1.5,
                  'the agent speaks again %.2f s after the resume'
                  % ((after[0] - resume) if after else -1))


def main():
    for tool in ('sipp', 'tshark'):
        st.require(tool)
    st.require_root('SIPp plays RTP through a raw socket and tshark captures on lo')
    st.require_agent()
    if st.fake_agent():
        st.skip('session handling is sipbin\'s own')
    res = st.Results('test_session')
    tmp = tempfile.mkdtemp(prefix='siptest-session-')
    only = sys.argv[1:]
    try:
        for name, fn in (('delayed', test_delayed_offer), ('reanchor', test_reanchor),
                         ('reanchor-address', test_reanchor_address),
                         ('update', test_update_hold),
                         ('timer-uac', test_timer_uac), ('timer-too-small', test_timer_too_small),
                         ('timer-expiry', test_timer_expiry),
                         ('timer-update', test_timer_update), ('glare', test_glare),
                         ('agent-hold', test_agent_hold)):
            if not only or name in only:
                fn(res, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.exit()


if __name__ == '__main__':
    main()
