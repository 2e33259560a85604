#!/usr/bin/env python3
"""The README's demo: a caller talks to the law firm's agent through the
gst-sip-agent server.

Starts the server on examples/lawfirm.conf (four offices, each with its own
number; here on a free port of 127.0.0.1 and with the call records in a
temporary directory, and without its carrier trunks, which name
placeholder hosts):

    gst-sip-agent --config examples/lawfirm.conf --print-conversation \\
        --no-trunks --listen 127.0.0.1:PORT --records DIR

SIPp dials the Raleigh office's number, +19195550100, and plays a caller
synthesized by flite (a different voice from the agent's) who had a car
accident, gives a name and a number, confirms the read-back, says when and
where it happened, declines the transfer to an attorney and leaves a
message. The demo prints the conversation as the server prints it, then the
call's JSON record. About two minutes.
"""

import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'check', 'integration'))
import siptest as st  # noqa: E402
import speechtest as sp  # noqa: E402
import servertest as sv  # noqa: E402

# What the caller says, and how long they then listen: the agent's answer
# to each (examples/intake-lawfirm.ini) and a breath. SIPp cannot hear, so
# the timing is fixed here.
CALLER = [
    ('I was in a car accident', 7.0),
    ('My name is John Smith', 11.0),
    ('five five five one two three four', 8.0),
    ('yes', 8.5),
    ('yesterday', 3.5),
    ('on main street', 11.5),
    ('no', 4.0),
    ('please call me back after five', 3.0),
]
NUMBER = '+19195550100'


def main():
    for tool in ('sipp', 'flite'):
        st.require(tool)
    st.require_root('SIPp plays RTP through a raw socket')
    sv.require_server()
    tmp = tempfile.mkdtemp(prefix='gst-sip-agent-demo-')
    try:
        print('Synthesizing the caller (%d things to say)...' % len(CALLER), flush=True)
        pcm, _ = sp.caller_timeline([t for t, _ in CALLER], rate=8000, first_wait=16.0,
                                    pauses=[p for _, p in CALLER])
        pcap = os.path.join(tmp, 'caller.pcap')
        st.make_rtp_pcap(pcap, 0, payload=sp.encode(pcm, 'PCMU'), payload_size=sp.PAYLOAD_SIZE)
        with sv.Server(config_path=os.path.join(HERE, 'lawfirm.conf'), args=['--no-trunks']) as server:
            print('$ ' + ' '.join(server.command()), flush=True)
            sipp = st.Sipp('uac_talk_wait_bye.xml', server.host, server.port, service=NUMBER,
                           keys={'codec_pt': 0, 'codec_name': 'PCMU', 'pcap': pcap},
                           timeout=len(pcm) / 16000.0 + 120).start()
            print('SIPp is calling %s...\n' % NUMBER, flush=True)
            shown = 0
            while True:
                done = sipp.proc.poll() is not None
                lines = server.out.snapshot()
                for line in lines[shown:]:
                    print(line, flush=True)
                shown = len(lines)
                if done and server.wait_output(r'ended; record', 5):
                    break
                time.sleep(0.1)
            r = sipp.wait()
            server.stop()
            for line in server.out.snapshot()[shown:]:
                print(line)
            records = server.records_now()
            ok = r.rc == 0 and len(records) == 1 and records[0]['complete']
            if records:
                print('\nThe call record (%s):' % os.path.basename(server.record_files()[0]))
                print(json.dumps(records[0], indent=2))
            print('\nDemo call %s.' % ('done: the agent took the intake and hung up'
                                       if ok else 'FAILED'))
            if not ok:
                print(st.sipp_report(r))
                server.dump('demo failed')
            return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
