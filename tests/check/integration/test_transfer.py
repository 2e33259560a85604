#!/usr/bin/env python3
"""Blind call transfer (RFC 3515 REFER) by the agent, against SIPp callers.

The agent runs the speech loop (sttbridge ! agent ! ttsbridge inside
sipbin) with a small script: its greeting says one sentence and transfers.
When that sentence has played, the agent posts `agent-action` transfer and
sipbin sends an in-dialog REFER. SIPp, the caller (the transferee), plays
silence as its RTP and then:

  accepted  answers 202, NOTIFY sipfrag "100 Trying", NOTIFY "200 OK"
            (Subscription-State terminated): the agent answers each NOTIFY
            200 and then hangs up with BYE (RFC 5589 section 6)
  refused   answers 403: the call stays up, the agent says the script's
            transfer-failed prompt and goes on to the next state; the caller
            hangs up
  busy      202, NOTIFY "100 Trying", NOTIFY "486 Busy Here": as refused;
            the script names the target ("transfer attorney") and sipbin's
            transfer-target supplies the URI
  timeout   202 and no NOTIFY: the transfer fails after sipbin's
            transfer-timeout (2 s here), as refused
  no-target the script names a target, sipbin has no transfer-target: no
            REFER at all, the failure is immediate, as refused

Checked from the bus (`sip-transfer` states and statuses, `sip-call` ended
reason, `agent-action`, `agent-turn` with input=transfer-failed, ttsbridge's
`tts-started` for the failure prompt) and from the SIP messages SIPp
received: the REFER's Refer-To is the target unchanged (a tel: URI stays
tel:), Referred-By is present, and the agent answered the NOTIFYs 200.
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

SCRIPT = """[script]
start = greeting
timeout = 30
transfer-failed = say {failed}; goto message

[state greeting]
say = {hold}
next = transfer {target}

[state message]
say = {message}
slot = text
field = message
filled = say Thank you.; hangup
"""
HOLD = 'Please hold while I transfer you.'
FAILED = 'Sorry, I could not connect you.'
MESSAGE = 'Please leave a message.'

DIRECT_TARGET = 'tel:+19195550199'
OFFICE_TARGET = 'tel:+19195550100'
TIMEOUT_MS = 2000
CALLER_SECONDS = 30         # silence the caller plays (longer than any case)


def sipp_requests(r, method):
    """Requests SIPp received with this method, as text."""
    return [m for m in st.sipp_received(r) if m.startswith(method + ' ')]


def header(msg, name):
    m = re.search(r'^' + name + r'[ \t]*:[ \t]*([^\n]*)', msg, re.M | re.I)
    return m.group(1).strip() if m else None


def wait_messages(agent, name, pred, timeout=5.0):
    """Element messages `name` once pred(list) holds (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        msgs = agent.element_messages(name)
        if pred(msgs) or time.monotonic() >= deadline:
            return msgs
        time.sleep(0.1)


def check_refer(res, tag, r, target):
    refers = sipp_requests(r, 'REFER')
    if not res.check(refers, '%s: SIPp received a REFER' % tag, st.sipp_report(r)):
        return
    refer_to = header(refers[0], 'Refer-To')
    res.check(refer_to == '<%s>' % target,
              '%s: Refer-To is the target unchanged (%s)' % (tag, refer_to), refers[0])
    by = header(refers[0], 'Referred-By')
    res.check(by is not None and 'sip:agent@' in by,
              '%s: Referred-By names the agent (%s)' % (tag, by), refers[0])


def transfer_steps(agent):
    return [(m.get('state'), m.get('status')) for m in agent.element_messages('sip-transfer')]


def check_failure_prompt(res, tag, agent):
    """The conversation went on: the agent said the transfer-failed prompt
    (and played it), then the next state's prompt; the call stayed up until
    the caller's BYE."""
    turns = wait_messages(agent, 'agent-turn',
                          lambda ms: any(m.get('input') == 'transfer-failed' for m in ms))
    failed = [m for m in turns if m.get('input') == 'transfer-failed']
    res.check(failed and FAILED in failed[0].get('reply', '')
              and failed[0].get('next-state') == 'message',
              '%s: agent-turn input=transfer-failed says "%s" and goes to message (%s)'
              % (tag, FAILED, failed[0] if failed else 'none'), agent.output())
    said = [m.get('text') for m in wait_messages(
        agent, 'tts-started', lambda ms: any(m.get('text') == MESSAGE for m in ms))]
    res.check(FAILED in said and MESSAGE in said and said.index(FAILED) < said.index(MESSAGE),
              '%s: ttsbridge played the failure prompt, then the message prompt (%s)'
              % (tag, said), agent.output())
    ended = agent.wait_state('ended', timeout=5)
    res.check(ended is not None and ended.get('reason') == 'remote-hangup',
              '%s: the call stayed up until the caller hung up (ended: %s)'
              % (tag, ended and ended.get('reason')), agent.output())
    actions = [a.get('action') for a in agent.element_messages('agent-action')]
    res.check(actions == ['transfer'],
              '%s: one agent-action (transfer), no hangup (%s)' % (tag, actions), agent.output())


class Case:
    def __init__(self, tmp, name, target, props=None):
        self.name = name
        path = os.path.join(tmp, name + '.ini')
        with open(path, 'w') as f:
            f.write(SCRIPT.format(target=target, hold=HOLD, failed=FAILED, message=MESSAGE))
        props = dict(props or {})
        self.agent = st.Agent(codec='PCMU', props=props,
                              inner=sp.loop_launch('PCMU', 'agent script=' + path).split())


def run_case(res, tmp, pcap, name, target, scenario, check, keys=None, sets=None,
             props=None):
    """One call: the agent with the script transferring to `target`, SIPp
    running `scenario`; then check(agent, sipp result, when the transfer was
    accepted, when it failed) while the agent still runs."""
    st.log('== %s' % name)
    case = Case(tmp, name, target, props)
    keys = dict(keys or {}, pcap=pcap)
    with case.agent as agent:
        sipp = st.Sipp(scenario, agent.host, agent.port, keys=keys, sets=sets,
                       timeout=CALLER_SECONDS + 30, recv_timeout=CALLER_SECONDS * 1000).start()
        accepted_at = failed_at = None
        while sipp.proc.poll() is None:
            steps = [s for s, _ in transfer_steps(agent)]
            now = time.monotonic()
            if accepted_at is None and 'accepted' in steps:
                accepted_at = now
            if failed_at is None and 'failed' in steps:
                failed_at = now
            time.sleep(0.05)
        r = sipp.wait()
        ok = res.check(r.rc == 0, '%s: SIPp scenario %s passed (exit 0)' % (name, scenario),
                       st.sipp_report(r))
        if not ok:
            agent.dump(name)
        check(agent, r, accepted_at, failed_at)


def accepted(res, tmp, pcap):
    tag = 'accepted'

    def check(agent, r, _accepted_at, _failed_at):
        check_refer(res, tag, r, DIRECT_TARGET)
        oks = [m for m in st.sipp_received(r) if m.startswith('SIP/2.0 200 ')
               and re.search(r'^CSeq:\s*\d+\s+NOTIFY', m, re.M | re.I)]
        res.check(len(oks) == 2, '%s: both NOTIFYs answered 200 (%d)' % (tag, len(oks)),
                  st.sipp_report(r))
        ended = agent.wait_state('ended', timeout=5)
        steps = transfer_steps(agent)
        res.check(steps == [('requested', 0), ('accepted', 202), ('progress', 100),
                            ('succeeded', 200)],
                  '%s: sip-transfer requested, accepted 202, progress 100, succeeded 200 (%s)'
                  % (tag, steps), agent.output())
        msgs = agent.element_messages('sip-transfer')
        res.check(msgs and all(m.get('target') == DIRECT_TARGET for m in msgs),
                  '%s: sip-transfer target %s' % (tag, DIRECT_TARGET), agent.output())
        res.check(ended is not None and ended.get('reason') == 'local-hangup',
                  '%s: the agent hung up after the transfer (ended: %s)'
                  % (tag, ended and ended.get('reason')), agent.output())
        actions = agent.element_messages('agent-action')
        res.check([(a.get('action'), a.get('target')) for a in actions]
                  == [('transfer', DIRECT_TARGET)],
                  '%s: one agent-action transfer to %s' % (tag, DIRECT_TARGET), agent.output())
        complete = [m for m in agent.element_messages('intake') if m.get('complete') is True]
        res.check(len(complete) == 1, '%s: the intake was posted complete once' % tag,
                  agent.output())
        res.check(not [m for m in agent.element_messages('agent-turn')
                       if m.get('input') == 'transfer-failed'],
                  '%s: no transfer-failed turn' % tag, agent.output())
        res.check(agent.alive(), '%s: agent still running' % tag)

    run_case(res, tmp, pcap, tag, DIRECT_TARGET, 'uac_refer_accept.xml', check)


def refused(res, tmp, pcap):
    tag = 'refused'

    def check(agent, r, _accepted_at, _failed_at):
        check_refer(res, tag, r, DIRECT_TARGET)
        steps = transfer_steps(agent)
        res.check(steps == [('requested', 0), ('failed', 403)],
                  '%s: sip-transfer requested, failed 403 (%s)' % (tag, steps), agent.output())
        check_failure_prompt(res, tag, agent)

    run_case(res, tmp, pcap, tag, DIRECT_TARGET, 'uac_refer_refused.xml', check,
             sets={'pause_ms': 8000})


def busy(res, tmp, pcap):
    tag = 'busy'

    def check(agent, r, _accepted_at, _failed_at):
        check_refer(res, tag, r, OFFICE_TARGET)
        oks = [m for m in st.sipp_received(r) if m.startswith('SIP/2.0 200 ')
               and re.search(r'^CSeq:\s*\d+\s+NOTIFY', m, re.M | re.I)]
        res.check(len(oks) == 2, '%s: both NOTIFYs answered 200 (%d)' % (tag, len(oks)),
                  st.sipp_report(r))
        steps = transfer_steps(agent)
        res.check(steps == [('requested', 0), ('accepted', 202), ('progress', 100),
                            ('failed', 486)],
                  '%s: sip-transfer requested, accepted, progress 100, failed 486 (%s)'
                  % (tag, steps), agent.output())
        actions = agent.element_messages('agent-action')
        res.check(actions and actions[0].get('target') == 'attorney'
                  and all(m.get('target') == OFFICE_TARGET
                          for m in agent.element_messages('sip-transfer')),
                  '%s: the agent named "attorney", sipbin referred to transfer-target %s'
                  % (tag, OFFICE_TARGET), agent.output())
        check_failure_prompt(res, tag, agent)

    run_case(res, tmp, pcap, tag, 'attorney', 'uac_refer_busy.xml', check,
             keys={'final_frag': '486 Busy Here'}, sets={'pause_ms': 8000},
             props={'transfer-target': OFFICE_TARGET})


def timeout(res, tmp, pcap):
    tag = 'timeout'

    def check(agent, r, accepted_at, failed_at):
        check_refer(res, tag, r, DIRECT_TARGET)
        steps = transfer_steps(agent)
        res.check(steps == [('requested', 0), ('accepted', 202), ('failed', 408)],
                  '%s: sip-transfer requested, accepted, failed 408 (%s)' % (tag, steps),
                  agent.output())
        waited = failed_at - accepted_at if accepted_at and failed_at else -1
        # the timer runs from the REFER; the 202 comes within milliseconds
        res.check(TIMEOUT_MS / 1000.0 - 0.3 <= waited <= TIMEOUT_MS / 1000.0 + 1.5,
                  '%s: failed %.2f s after the 202 (transfer-timeout %d ms)'
                  % (tag, waited, TIMEOUT_MS), agent.output())
        check_failure_prompt(res, tag, agent)

    run_case(res, tmp, pcap, tag, DIRECT_TARGET, 'uac_refer_no_notify.xml', check,
             sets={'pause_ms': 9000}, props={'transfer-timeout': TIMEOUT_MS})


def no_target(res, tmp, pcap):
    tag = 'no-target'

    def check(agent, r, _accepted_at, _failed_at):
        res.check(not sipp_requests(r, 'REFER'), '%s: no REFER on the wire' % tag,
                  st.sipp_report(r))
        msgs = agent.element_messages('sip-transfer')
        res.check([(m.get('state'), m.get('status')) for m in msgs] == [('failed', 0)]
                  and 'transfer-target' in msgs[0].get('reason', ''),
                  '%s: sip-transfer failed at once, status 0, reason names transfer-target (%s)'
                  % (tag, msgs), agent.output())
        check_failure_prompt(res, tag, agent)

    run_case(res, tmp, pcap, tag, 'attorney', 'uac_echo.xml', check,
             keys={'codec_pt': 0, 'codec_name': 'PCMU'}, sets={'pause_ms': 9000})


CASES = {'accepted': accepted, 'refused': refused, 'busy': busy, 'timeout': timeout,
         'no_target': no_target}


def main():
    for tool in ('sipp',):
        st.require(tool)
    st.require_root('SIPp plays RTP through a raw socket')
    st.require_agent()
    if st.fake_agent():
        st.skip('transfers need the real agent')
    st.require_elements('sttbridge', 'agent', 'ttsbridge')
    only = sys.argv[1:] or list(CASES)
    res = st.Results('test_transfer')
    tmp = tempfile.mkdtemp(prefix='siptest-transfer-')
    try:
        pcap = os.path.join(tmp, 'silence.pcap')
        # PCMU silence: the caller listens; sipsrc needs packets to start the
        # call's stream (sip-call-started goes out with the first one)
        st.make_rtp_pcap(pcap, 0, payload=b'\xff' * (CALLER_SECONDS * 50 * 160))
        for name in only:
            try:
                CASES[name](res, tmp, pcap)
            except RuntimeError as e:
                res.check(False, '%s: %s' % (name, e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.exit()


if __name__ == '__main__':
    main()
