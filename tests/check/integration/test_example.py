#!/usr/bin/env python3
"""examples/agent-call.c, the C program that embeds sipbin and the speech loop.

Runs the built program (build/examples/agent-call --listen URI) and places a
call with SIPp playing a caller synthesized by flite, as test_conversation.py
does. From what the program prints, checks that it reported the answered
call, the agent's greeting, at least one caller utterance recognised with
words, an agent reply after it and the intake field it filled. Then SIGTERM:
the program must hang up the call (SIPp gets a BYE and answers it) and exit
with status 0. A second run checks that --script is passed to the agent (a
script with its own greeting) and that SIGINT without a call exits 0 too.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402
import speechtest as sp  # noqa: E402

PROGRAM = os.path.join(st.BUILD_DIR, 'examples', 'agent-call')
TURNS = [
    'I was in a car accident yesterday',
    'My name is John Smith',
]
GREETING = 'Agent:  Hello, thank you for calling. How can I help you today?'
NO_WORDS = 'Caller: (speech, no words recognised)'


class Program:
    """examples/agent-call as a subprocess, its output read as it comes."""

    def __init__(self, args):
        self.tmp = tempfile.mkdtemp(prefix='siptest-example-')
        self.host = '127.0.0.1'
        self.port = st.free_port('both', self.host)
        self.cmd = [PROGRAM, '--listen', 'sip:agent@%s:%d' % (self.host, self.port)] + list(args)
        self.proc = None

    def __enter__(self):
        st.log('  program: ' + ' '.join(self.cmd))
        self.proc = st.spawn(self.cmd, cwd=self.tmp,
                             env=st.gst_env(os.path.join(self.tmp, 'registry.bin')),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.out = st._Output(self.proc.stdout)
        self.err = st._Output(self.proc.stderr)
        return self

    def __exit__(self, *exc):
        st.stop_process(self.proc, signal.SIGKILL, grace=1)
        self.out.join()
        self.err.join()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return False

    def lines(self):
        return self.out.snapshot()

    def output(self):
        return '--- stdout ---\n%s\n--- stderr ---\n%s' % (self.out.text(), self.err.text())

    def wait_ready(self, timeout=20.0):
        """The program said it answers calls, and sipbin answers OPTIONS."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if any(line.startswith('Answering calls on') for line in self.lines()):
                resp = st.send_sip(self.host, self.port, 'OPTIONS', timeout=0.3)
                if resp is not None and st.status_of(resp) == 200:
                    return True
            time.sleep(0.1)
        return False

    def signal_and_wait(self, sig, timeout=20.0):
        """Send `sig`; the exit status, or None when it did not exit in time."""
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


def conversation_progress(lines):
    """(greeting index, first caller line with words, agent line after it),
    each an index into lines or None."""
    greeting = next((i for i, line in enumerate(lines) if line.startswith('Agent:')), None)
    caller = next((i for i, line in enumerate(lines)
                   if line.startswith('Caller: ') and line != NO_WORDS and len(line) > 8), None)
    reply = None
    if caller is not None:
        reply = next((i for i in range(caller + 1, len(lines))
                      if lines[i].startswith('Agent:')), None)
    return greeting, caller, reply


def call_and_sigterm(res, pcap, seconds):
    tag = 'call'
    with Program([]) as prog:
        if not res.check(prog.wait_ready(), '%s: program started and answers OPTIONS' % tag,
                         prog.output()):
            return
        sipp = st.Sipp('uac_talk_wait_bye.xml', prog.host, prog.port,
                       keys={'codec_pt': 0, 'codec_name': 'PCMU', 'pcap': pcap},
                       timeout=seconds + 60).start()
        # until the agent answered a recognised utterance, or the caller's
        # audio is over (with time for the last answer)
        deadline = time.monotonic() + seconds + 15
        progress = (None, None, None)
        while time.monotonic() < deadline and prog.proc.poll() is None:
            progress = conversation_progress(prog.lines())
            if None not in progress:
                break
            time.sleep(0.2)
        lines = prog.lines()
        for line in lines:
            st.log('  | ' + line)
        greeting, caller, reply = progress
        res.check(any(line == '[call] answered (PCMU, 8000 Hz)' for line in lines),
                  '%s: printed the answered call (sip-call)' % tag, prog.output())
        res.check(greeting is not None and lines[greeting] == GREETING,
                  '%s: printed the greeting first (agent-turn)' % tag, prog.output())
        res.check(caller is not None,
                  '%s: printed a recognised caller line (transcript)' % tag, prog.output())
        res.check(reply is not None, '%s: printed an agent reply after it' % tag, prog.output())
        res.check(any(line.startswith('[intake] reason = ') for line in lines),
                  '%s: printed the intake field the first answer filled' % tag, prog.output())

        alive = prog.proc.poll() is None
        res.check(alive, '%s: program still running during the call' % tag, prog.output())
        rc = prog.signal_and_wait(signal.SIGTERM) if alive else prog.proc.returncode
        res.check(rc == 0, '%s: SIGTERM: program exited with status 0 (got %s)' % (tag, rc),
                  prog.output())
        res.check('Stopping.' in prog.lines(), '%s: the program saw the signal' % tag)
        r = sipp.wait()
        res.check(r.rc == 0, '%s: the program hung up on SIGTERM (SIPp got BYE, exit 0)' % tag,
                  st.sipp_report(r))


def script_and_sigint(res, tmp):
    """--script reaches the agent: a call is greeted with the script's own
    prompt. Without a call in progress, SIGINT exits 0."""
    tag = 'script'
    script = os.path.join(tmp, 'hello.ini')
    with open(script, 'w') as f:
        f.write('[script]\nstart = hello\n\n[state hello]\n'
                'say = Good morning, this is the example script.\nnext = hangup\n')
    with Program(['--script', script]) as prog:
        if not res.check(prog.wait_ready(), '%s: program started and answers OPTIONS' % tag,
                         prog.output()):
            return
        # the agent says its line and hangs up: SIPp waits for that BYE
        silence = os.path.join(tmp, 'silence.pcap')
        st.make_rtp_pcap(silence, 0, payload=b'\xff' * (sp.PAYLOAD_SIZE * 250),
                         payload_size=sp.PAYLOAD_SIZE)
        r = st.run_sipp('uac_talk_wait_bye.xml', prog.host, prog.port,
                        keys={'codec_pt': 0, 'codec_name': 'PCMU', 'pcap': silence},
                        timeout=60)
        lines = prog.lines()
        for line in lines:
            st.log('  | ' + line)
        res.check(r.rc == 0, '%s: the agent hung up after its line (sipp exit 0)' % tag,
                  st.sipp_report(r))
        res.check('Agent:  Good morning, this is the example script.' in lines,
                  '%s: greeted with the script\'s prompt' % tag, prog.output())
        res.check(any(line.startswith('[action] hangup') for line in lines),
                  '%s: printed the agent-action' % tag, prog.output())
        rc = prog.signal_and_wait(signal.SIGINT)
        res.check(rc == 0, '%s: SIGINT: program exited with status 0 (got %s)' % (tag, rc),
                  prog.output())


def main():
    for tool in ('sipp', 'flite'):
        st.require(tool)
    st.require_root('SIPp plays RTP through a raw socket')
    if st.fake_agent():
        st.skip('the example runs the real elements')
    if not os.access(PROGRAM, os.X_OK):
        st.skip('%s not built (meson option examples)' % PROGRAM)
    st.require_elements('sipbin', 'sipsrc', 'sipsink', 'sttbridge', 'agent', 'ttsbridge')
    res = st.Results('test_example')
    tmp = tempfile.mkdtemp(prefix='siptest-example-')
    try:
        st.log('== examples/agent-call: a caller talks to it, then SIGTERM')
        pcm, _spans = sp.caller_timeline(TURNS, rate=8000, pause=7.0)
        pcap = os.path.join(tmp, 'caller.pcap')
        st.make_rtp_pcap(pcap, 0, payload=sp.encode(pcm, 'PCMU'), payload_size=sp.PAYLOAD_SIZE)
        call_and_sigterm(res, pcap, len(pcm) / 16000.0)
        st.log('== examples/agent-call --script, then SIGINT')
        script_and_sigint(res, tmp)
    except RuntimeError as e:
        res.check(False, str(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.exit()


if __name__ == '__main__':
    main()
