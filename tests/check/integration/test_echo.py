#!/usr/bin/env python3
"""Echo calls through sipbin with SIPp as the caller and tshark watching RTP.

For PCMU, PCMA and G722 (and PCMU once over IPv6 on ::1, and once with sipsrc's
shared receive thread, receive-thread=shared): SIPp offers the codec
plus telephone-event 101, plays 100 RTP packets (2 s), hangs up. Checks: the
call succeeds, the SDP answer picks the codec (and telephone-event 101) with a
port in the agent's RTP range, the agent posts answered/ended, and the RTP
coming back is the same payload byte stream (symmetric: from the answered port).
"""

import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402

N_PACKETS = 100       # 2 s of 20 ms packets
PACKET_SIZE = 160


def echo_call(res, codec, host='127.0.0.1', receive_thread=None):
    pt = st.CODECS[codec][0]
    tag = '%s/%s' % (codec, 'IPv6' if ':' in host else 'IPv4')
    sipsrc_props = {}
    if receive_thread:
        tag += '/%s receive thread' % receive_thread
        sipsrc_props['receive-thread'] = receive_thread
    st.log('== echo call %s' % tag)
    tmp = tempfile.mkdtemp(prefix='siptest-echo-')
    cap = None
    try:
        with st.Agent(codec=codec, host=host, sipsrc_props=sipsrc_props) as agent:
            pcap = os.path.join(tmp, 'audio.pcap')
            generated = st.make_rtp_pcap(pcap, pt, N_PACKETS, PACKET_SIZE)
            media_port = st.free_rtp_range(4, host)[0]
            cap = st.Capture([media_port])
            cap.start()
            r = st.run_sipp('uac_echo.xml', agent.host, agent.port, local_host=host,
                            media_port=media_port,
                            keys={'codec_pt': pt, 'codec_name': codec, 'pcap': pcap},
                            sets={'pause_ms': N_PACKETS * 20 + 500})
            cap.stop()
            ok = res.check(r.rc == 0, '%s: call succeeded (sipp exit 0)' % tag, st.sipp_report(r))

            answer = st.find_response(r, 200, 'INVITE')
            sdp = st.sdp_media(answer) if answer else None
            res.check(sdp is not None, '%s: 200 OK to INVITE carries an SDP audio answer' % tag,
                      answer or st.sipp_report(r))
            if agent.fake:
                res.note_skip('%s: SDP answer details and bus messages (fake agent)' % tag)
            elif sdp:
                addr, port, pts, rtpmap = sdp
                res.check(pts and pts[0] == pt and set(pts) <= {pt, 101},
                          '%s: answer offers PT %d first (got m= payloads %s)' % (tag, pt, pts), answer)
                res.check(101 in pts and rtpmap.get(101, '').lower().startswith('telephone-event/'),
                          '%s: answer keeps telephone-event 101' % tag, answer)
                res.check(agent.rtp_min <= port <= agent.rtp_max,
                          '%s: answer port %d in rtp-port range [%d, %d]'
                          % (tag, port, agent.rtp_min, agent.rtp_max), answer)
                res.check(addr == host, '%s: answer c= address %s is %s' % (tag, addr, host), answer)
            if not agent.fake:
                m = agent.wait_state('answered', timeout=5)
                res.check(m is not None and m.get('codec') == codec,
                          '%s: agent posted answered with codec=%s (got %s)'
                          % (tag, codec, m and m.get('codec')), agent.output())
                m = agent.wait_state('ended', timeout=5)
                res.check(m is not None, '%s: agent posted ended (status %s, reason %s)'
                          % (tag, m and m.get('status'), m and m.get('reason')), agent.output())
            res.check(agent.alive(), '%s: agent still running after the call' % tag, agent.output())
            if not ok:
                agent.dump('call failed')

        streams = cap.streams(media_port)
        sent = b''.join(p[3] for p in streams['sent'] if p[2] == pt)
        echoed_pkts = streams['echoed']
        echoed = b''.join(p[3] for p in echoed_pkts)
        st.log('  captured %d packets sent, %d echoed' % (len(streams['sent']), len(echoed_pkts)))
        res.check(sent == generated,
                  '%s: capture shows SIPp sent the whole generated stream (%d of %d bytes)'
                  % (tag, len(sent), len(generated)))
        bad_pt = sorted({p[2] for p in echoed_pkts if p[2] != pt})
        res.check(echoed_pkts and not bad_pt, '%s: %d echoed packets, all with PT %d (others seen: %s)'
                  % (tag, len(echoed_pkts), pt, bad_pt))
        if sdp:
            srcs = sorted({p[0] for p in echoed_pkts})
            res.check(srcs == [sdp[1]], '%s: echo comes from the answered port %d (symmetric RTP; seen %s)'
                      % (tag, sdp[1], srcs))
        good, text = st.compare_echo(sent, echoed, PACKET_SIZE, max_missing=2)
        res.check(good, '%s: echoed payload equals sent payload: %s' % (tag, text))
    except RuntimeError as e:
        res.check(False, '%s: %s' % (tag, e))
    finally:
        if cap:
            cap.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def ipv6_usable():
    import socket
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(('::1', 0))
        return True
    except OSError:
        return False


def main():
    for tool in ('sipp', 'tshark'):
        st.require(tool)
    st.require_root('SIPp plays RTP through a raw socket and tshark captures on lo')
    st.require_agent()
    res = st.Results('test_echo')
    for codec in ('PCMU', 'PCMA', 'G722'):
        echo_call(res, codec)
    echo_call(res, 'PCMU', receive_thread='shared')
    if ipv6_usable():
        echo_call(res, 'PCMU', host='::1')
    else:
        res.note_skip('IPv6 echo call: ::1 not available here')
    res.exit()


if __name__ == '__main__':
    main()
