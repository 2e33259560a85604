#!/usr/bin/env python3
"""sipbin under valgrind memcheck through real calls.

The echo pipeline, with sipsrc's shared receive thread (receive-thread=shared:
its watches are made and freed for every call, from two threads), runs under
`valgrind --tool=memcheck`; SIPp places fifty
calls one after the other (two of them rejected: no common codec, SDP that
does not parse), then the agent is stopped with SIGINT. Passes when every call
got the expected answer and valgrind reports no invalid access and no
definitely lost block (GLib's load-time allocations are suppressed in
tests/check/gst-sip-agent.supp).
"""

import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402

SUPP = os.path.join(st.SRC_ROOT, 'tests', 'check', 'gst-sip-agent.supp')


class ValgrindAgent(st.Agent):
    vg_dir = tempfile.mkdtemp(prefix='siptest-memcheck-')
    vg_log = os.path.join(vg_dir, 'valgrind.log')

    def command(self):
        return ['valgrind', '--tool=memcheck', '--leak-check=full',
                '--errors-for-leak-kinds=definite', '--show-leak-kinds=definite',
                '--num-callers=30', '--suppressions=' + SUPP,
                '--log-file=' + self.vg_log] + super().command()

    def wait_ready(self, timeout=10.0):
        return super().wait_ready(timeout=90.0)

    def stop(self):
        # the leak check at exit takes valgrind a while
        if self.proc is not None and self.proc.poll() is None:
            st.stop_process(self.proc, grace=120.0)
        return super().stop()


def main():
    for tool in ('sipp', 'valgrind'):
        st.require(tool)
    st.require_agent()
    res = st.Results('test_memcheck')
    agent = ValgrindAgent(codec='PCMU', sipsrc_props={'receive-thread': 'shared'})
    agent.start()
    try:
        r = st.run_sipp('uac_echo_short.xml', agent.host, agent.port, calls=48,
                        keys={'codec_pt': 0, 'codec_name': 'PCMU'}, timeout=120)
        res.check(r.rc == 0, '48 calls answered and hung up under valgrind', st.sipp_report(r))
        r = st.run_sipp('uac_488.xml', agent.host, agent.port, timeout=60)
        res.check(r.rc == 0, 'GSM/G.729-only offer rejected with 488', st.sipp_report(r))
        r = st.run_sipp('uac_bad_sdp.xml', agent.host, agent.port, timeout=60)
        res.check(r.rc == 0, 'unparseable SDP rejected', st.sipp_report(r))
    finally:
        rc = agent.stop()
    with open(agent.vg_log, encoding='utf-8', errors='replace') as f:
        log = f.read()
    shutil.rmtree(agent.vg_dir, ignore_errors=True)
    summary = re.search(r'ERROR SUMMARY: (\d+) errors', log)
    lost = re.search(r'definitely lost: ([\d,]+) bytes', log)
    st.log('  valgrind: %s; definitely lost: %s bytes'
           % (summary.group(0) if summary else 'no summary', lost.group(1) if lost else '0'))
    res.check(summary is not None, 'valgrind ran to the end (exit %s)' % rc, log[-3000:])
    res.check(summary is not None and summary.group(1) == '0',
              'no invalid access and no definite leak', log[-6000:])
    res.exit()


if __name__ == '__main__':
    main()
