#!/usr/bin/env python3
"""baresip (a second, independent SIP stack) calls sipbin with PCMU.

baresip runs from a temporary config dir with no audio device: aufile plays a
3 s 8 kHz wav as the microphone, aubridge is a sink that goes nowhere. It dials
the agent, hangs up (BYE) when the wav ends, and quits after -t seconds.
Checks: baresip established the call, the agent posted answered (PCMU) and
ended, and tshark saw RTP both ways with the agent echoing baresip's payload.
"""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402

WAV_SECONDS = 12.0    # RTCP reports both ways (~5 s apart), one answering ours
RUN_SECONDS = 17      # baresip -t: the call ends at the wav's end, then baresip quits
MIN_PACKETS = 50      # 12 s of 20 ms packets is 600 each way

# regint=0: never REGISTER; only PCMU so the call must use it
ACCOUNTS = '<sip:baresip@127.0.0.1:{sip_port}>;regint=0;audio_codecs=PCMU\n'


def rtcp_from(cap, port):
    """[(first packet type, report block SSRC)] of the RTCP sent from `port`."""
    return [(f[0], int(f[1], 16) if f[1] else None)
            for f in cap.fields(port, 'rtcp', 'rtcp && udp.srcport==%d' % port,
                                ['rtcp.pt', 'rtcp.ssrc.identifier'],
                                extra=['-E', 'occurrence=f'])
            if f[0]]


def rtp_ssrcs_to(cap, port):
    """The SSRCs of the RTP sent to `port`."""
    return set(int(f[0], 16)
               for f in cap.fields(port, 'rtp', 'rtp && udp.dstport==%d' % port, ['rtp.ssrc'])
               if f[0])


def main():
    st.require('baresip')
    st.require('tshark')
    st.require_root('tshark captures on lo')
    mods = st.baresip_modules()
    if not mods:
        st.skip('baresip modules g711/aufile/aubridge/account/menu not found')
    st.require_agent()

    res = st.Results('test_baresip')
    tmp = tempfile.mkdtemp(prefix='siptest-baresip-')
    cap = None
    try:
        sip_port = st.free_port('both')
        rtp_min, rtp_max = st.free_rtp_range(10)
        wav = os.path.join(tmp, 'in.wav')
        st.write_wav(wav, WAV_SECONDS)
        st.write_baresip_config(tmp, mods, sip_port, wav, (rtp_min, rtp_max))
        with open(os.path.join(tmp, 'accounts'), 'w') as f:
            f.write(ACCOUNTS.format(sip_port=sip_port))

        with st.Agent(codec='PCMU') as agent:
            cap = st.Capture([(rtp_min, rtp_max)])
            cap.start()
            cmd = ['baresip', '-4', '-f', tmp, '-e', '/dial sip:agent@127.0.0.1:%d' % agent.port,
                   '-t', str(RUN_SECONDS)]
            st.log('  baresip: ' + ' '.join(cmd))
            try:
                p = subprocess.run(cmd, cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=RUN_SECONDS + 30)
                out, rc = p.stdout.decode('utf-8', 'replace'), p.returncode
            except subprocess.TimeoutExpired as e:
                out, rc = (e.stdout or b'').decode('utf-8', 'replace'), 'timeout'
            cap.stop()
            # the menu module echoes the -e command key by key; drop that noise
            out = '\n'.join(line for line in out.splitlines() if not line.startswith('//d/di'))
            bs_detail = '--- baresip output ---\n' + out

            res.check(rc == 0, 'baresip exited 0 (got %s)' % rc, bs_detail)
            res.check('Call established' in out, 'baresip reports the call established', bs_detail)
            rtcp_port = None
            if agent.fake:
                res.note_skip('agent bus messages (fake agent)')
            else:
                m = agent.wait_state('answered', timeout=3)
                res.check(m is not None and m.get('codec') == 'PCMU',
                          'agent posted answered with codec PCMU (got %s)' % m, agent.output())
                if m:
                    rtcp_port = int(m['local-media'].rsplit(':', 1)[1]) + 1
                m = agent.wait_state('ended', timeout=5)
                res.check(m is not None, 'agent posted ended after baresip hung up (got %s)' % m,
                          agent.output() + '\n' + bs_detail)
                # RTCP from baresip: its reports on our stream, and the round
                # trip from its answer to our sender report
                m = m or {}
                num = lambda k: float(m.get(k, -1))  # noqa: E731 (uint64/double print as text)
                res.check(num('rtcp-received') >= 1 and num('remote-fraction-lost') == 0
                          and 0 <= num('round-trip-ms') < 100,
                          'ended carries baresip\'s RTCP: %s reports, remote loss %s, round trip '
                          '%s ms' % (m.get('rtcp-received'), m.get('remote-fraction-lost'),
                                     m.get('round-trip-ms')), agent.output())
            res.check(agent.alive(), 'agent still running')

        streams = cap.streams_between((rtp_min, rtp_max), (agent.rtp_min, agent.rtp_max))
        to_agent, from_agent = streams
        st.log('  RTP baresip->agent: %d packets, agent->baresip: %d packets'
               % (len(to_agent), len(from_agent)))
        res.check(len(to_agent) >= MIN_PACKETS, 'RTP from baresip to the agent (%d >= %d packets)'
                  % (len(to_agent), MIN_PACKETS))
        res.check(len(from_agent) >= MIN_PACKETS, 'RTP from the agent back to baresip (%d >= %d packets)'
                  % (len(from_agent), MIN_PACKETS))
        res.check(all(p[2] == 0 for p in to_agent + from_agent), 'all RTP is PCMU (PT 0)')
        # baresip stops sending at the wav's end and hangs up right away, so the
        # echo of the last few packets may be cut: allow a few more than test_echo
        good, text = st.compare_echo(b''.join(p[3] for p in to_agent),
                                     b''.join(p[3] for p in from_agent), 160, max_missing=5)
        res.check(good, 'agent echoed baresip\'s payload: ' + text)
        if rtcp_port:
            ours = rtcp_from(cap, rtcp_port)
            st.log('  RTCP from the agent (port %d): %s' % (rtcp_port, ours))
            ssrcs = rtp_ssrcs_to(cap, rtcp_port - 1)
            res.check(ours and all(r[0] in ('200', '201') for r in ours)
                      and any(r[0] == '200' for r in ours)
                      and all(r[1] in ssrcs for r in ours if r[1]),
                      'the agent sent RTCP sender reports from RTP port + 1, with a report block '
                      'on baresip\'s SSRC (%s)' % ours)
    except RuntimeError as e:
        res.check(False, str(e))
    finally:
        if cap:
            cap.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    res.exit()


if __name__ == '__main__':
    main()
