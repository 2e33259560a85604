#!/usr/bin/env python3
"""One echo call, placed by SIPp.

Starts the echo pipeline
    gst-launch-1.0 -m sipbin.( local-uri=sip:agent@127.0.0.1:PORT
        sipsrc ! rtppcmudepay ! rtppcmupay ! sipsink )
has SIPp call it and play two seconds of PCMU, watches the RTP with tshark,
and prints the call as sipbin reported it on the bus and how much audio came
back. The README demo is examples/server_demo.py (the server and the speech loop); this is
the echo-only variant, for checking the SIP and RTP path alone.
"""

import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'check', 'integration'))
import siptest as st  # noqa: E402

PACKETS = 100  # 2 s of 20 ms PCMU


def main():
    for tool in ('gst-launch-1.0', 'sipp', 'tshark'):
        st.require(tool)
    st.require_root('SIPp plays RTP through a raw socket and tshark captures on lo')
    tmp = tempfile.mkdtemp(prefix='gst-sip-agent-demo-')
    cap = None
    try:
        with st.Agent(codec='PCMU') as agent:
            print('Echo pipeline listening on sip:agent@127.0.0.1:%d\n  %s\n'
                  % (agent.port, ' '.join(agent.command())))
            pcap = os.path.join(tmp, 'caller.pcap')
            sent = st.make_rtp_pcap(pcap, 0, PACKETS, 160)
            media_port = st.free_rtp_range(4)[0]
            cap = st.Capture([media_port])
            cap.start()
            print('SIPp calls and plays %d ms of PCMU...' % (PACKETS * 20))
            r = st.run_sipp('uac_echo.xml', agent.host, agent.port, media_port=media_port,
                            keys={'codec_pt': 0, 'codec_name': 'PCMU', 'pcap': pcap},
                            sets={'pause_ms': PACKETS * 20 + 500})
            cap.stop()
            agent.wait_state('ended', timeout=5)
            print('\nWhat SIPp saw: %s' % ', '.join(str(x) for x in st.sipp_statuses(r)))
            print('\nWhat sipbin posted on the bus:')
            for m in agent.messages():
                extra = {k: v for k, v in m.items()
                         if k not in ('state', 'call-id', 'from', 'to', 'element')}
                print('  %-9s %s' % (m['state'], ' '.join('%s=%s' % kv for kv in extra.items())))
            echoed = b''.join(p[3] for p in cap.streams(media_port)['echoed'])
            print('\nAudio: %d bytes sent by the caller, %d bytes echoed back%s'
                  % (len(sent), len(echoed),
                     ' (identical)' if echoed == sent else ''))
            ok = r.rc == 0 and echoed == sent
            print('\nDemo call %s.' % ('succeeded' if ok else 'FAILED'))
            if not ok:
                agent.dump('demo failed')
            return 0 if ok else 1
    finally:
        if cap:
            cap.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
