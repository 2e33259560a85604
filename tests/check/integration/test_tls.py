#!/usr/bin/env python3
"""SIP over TLS and SRTP (SDES, RFC 4568) against real peers.

1. baresip calls sipbin (srtp=required) over TLS with mediaenc srtp-mand.
   The certificates are a throwaway CA and a server certificate for
   127.0.0.1 made with openssl in a temp dir (no key is ever committed).
   Inside sipbin the caller's audio is echoed and, decrypted, written to a
   file: the plaintext baresip sent. tshark on lo checks the wire: the SIP
   port carries TLS and no plain SIP ("INVITE sip:", "SIP/2.0"), and every
   RTP packet is SRTP: PCMU payload + the 10-byte tag of
   AES_CM_128_HMAC_SHA1_80, never equal to the plaintext.
2. SIPp over UDP (SIPp here has no TLS and no SRTP, so only the SDP is
   checked): a plain RTP/AVP offer to srtp=required gets 488; an RTP/SAVP
   offer to srtp=optional is answered RTP/SAVP with our own key on the
   first usable a=crypto tag, a plain offer with plain RTP/AVP; srtp=off
   refuses the RTP/SAVP offer with 488.
"""

import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402
import servertest  # noqa: E402

WAV_SECONDS = 12.0    # RTCP reports both ways (~5 s apart), one answering ours
RUN_SECONDS = 17
MIN_PACKETS = 50
SRTP_TAG_80 = 10

# TLS only, never REGISTER, PCMU, SRTP mandatory (RTP/SAVP)
ACCOUNTS = ('<sip:baresip@127.0.0.1;transport=tls>;regint=0;audio_codecs=PCMU;'
            'mediaenc=srtp-mand\n')


class WireCapture(st.Capture):
    """tshark on lo for one TCP port (TLS) and UDP port ranges (RTP)."""

    def __init__(self, tcp_port, udp_ranges):
        super().__init__(udp_ranges)
        self.tcp_port = tcp_port

    def capture_filter(self):
        return 'tcp port %d or %s' % (self.tcp_port, super().capture_filter())

    def start(self, timeout=15.0):
        import time
        deadline = time.monotonic() + timeout
        super().start(timeout)
        # "Capturing on" can come before packets are really captured: probe
        # one of the UDP ports until something reaches the file
        import socket
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            while os.path.getsize(self.path) <= 24 if os.path.exists(self.path) else True:
                if time.monotonic() > deadline:
                    raise RuntimeError('tshark captured nothing')
                probe.sendto(b'probe', ('127.0.0.1', self.ports[0][0]))
                time.sleep(0.1)
        finally:
            probe.close()

    def _packets(self):
        """(proto, srcport, dstport, payload) of every IPv4 TCP/UDP packet in
        the capture, read straight from the pcap (lo is Ethernet): no
        dissector decides what a payload is."""
        import struct
        with open(self.path, 'rb') as f:
            data = f.read()
        if len(data) < 24:
            return []
        endian = '<' if data[:4] == b'\xd4\xc3\xb2\xa1' else '>'
        linktype = struct.unpack(endian + 'I', data[20:24])[0]
        off, out = 24, []
        while off + 16 <= len(data):
            incl = struct.unpack(endian + 'IIII', data[off:off + 16])[2]
            frame = data[off + 16:off + 16 + incl]
            off += 16 + incl
            if linktype == 1:
                if len(frame) < 14 or frame[12:14] != b'\x08\x00':
                    continue
                ip = frame[14:]
            elif linktype == 113:   # Linux cooked
                ip = frame[16:]
            else:
                continue
            if len(ip) < 20 or ip[0] >> 4 != 4:
                continue
            ihl = (ip[0] & 15) * 4
            total = struct.unpack('>H', ip[2:4])[0]
            l4 = ip[ihl:total]
            if ip[9] == 6 and len(l4) >= 20:
                hl = (l4[12] >> 4) * 4
                out.append(('tcp',) + struct.unpack('>HH', l4[:4]) + (l4[hl:],))
            elif ip[9] == 17 and len(l4) >= 8:
                out.append(('udp',) + struct.unpack('>HH', l4[:4]) + (l4[8:],))
        return out

    def tcp_bytes(self):
        """Every TCP payload byte from the TLS port (our side), in order."""
        return b''.join(p for proto, s, d, p in self._packets()
                        if proto == 'tcp' and s == self.tcp_port)

    def tcp_bytes_to(self):
        """Every TCP payload byte to the TLS port, in order."""
        return b''.join(p for proto, s, d, p in self._packets()
                        if proto == 'tcp' and d == self.tcp_port)

    def udp(self):
        """[(srcport, dstport, payload bytes)]"""
        return [(s, d, p) for proto, s, d, p in self._packets() if proto == 'udp' and p]


def wav_as_pcmu(path):
    """The wav's samples in G.711 u-law (as baresip encodes them), or None
    without the audioop module (gone in Python 3.13)."""
    try:
        import audioop
    except ImportError:
        return None
    import wave
    with wave.open(path, 'rb') as w:
        return audioop.lin2ulaw(w.readframes(w.getnframes()), 2)


def answer_sdp(res):
    msg = st.find_response(res, 200, 'INVITE')
    return msg.split('\n\n', 1)[1] if msg and '\n\n' in msg else ''


def baresip_call(res, tmp, tls, cafile, mods):
    sip_port = st.free_port('both')
    rtp_min, rtp_max = st.free_rtp_range(10)
    tls_port = st.free_port('tcp')
    wav = os.path.join(tmp, 'in.wav')
    rx = os.path.join(tmp, 'received.ulaw')
    st.write_wav(wav, WAV_SECONDS)
    bs = os.path.join(tmp, 'baresip')
    os.mkdir(bs)
    st.write_baresip_config(bs, mods, sip_port, wav, (rtp_min, rtp_max), cafile=cafile,
                            extra_modules=('srtp.so',))
    with open(os.path.join(bs, 'accounts'), 'w') as f:
        f.write(ACCOUNTS)

    # echo, and the decrypted PCMU as baresip sent it into a file
    inner = ['sipsrc', '!', 'tee', 'name=t', '!', 'queue', '!', 'rtppcmudepay', '!',
             'rtppcmupay', '!', 'sipsink', 't.', '!', 'queue', '!', 'rtppcmudepay', '!',
             'filesink', 'location=' + rx]
    props = {'tls-port': tls_port, 'tls-dir': tls, 'srtp': 'required'}
    cap = None
    try:
        with st.Agent(codec='PCMU', props=props, inner=inner) as agent:
            cap = WireCapture(tls_port, [(rtp_min, rtp_max), (agent.rtp_min, agent.rtp_max)])
            cap.start()
            cmd = ['baresip', '-4', '-f', bs, '-e',
                   '/dial sip:agent@127.0.0.1:%d;transport=tls' % tls_port,
                   '-t', str(RUN_SECONDS)]
            st.log('  baresip: ' + ' '.join(cmd))
            try:
                p = subprocess.run(cmd, cwd=bs, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=RUN_SECONDS + 30)
                out, rc = p.stdout.decode('utf-8', 'replace'), p.returncode
            except subprocess.TimeoutExpired as e:
                out, rc = (e.stdout or b'').decode('utf-8', 'replace'), 'timeout'
            cap.stop()
            out = '\n'.join(line for line in out.splitlines() if not line.startswith('//d/di'))
            detail = '--- baresip output ---\n' + out

            res.check(rc == 0, 'baresip exited 0 (got %s)' % rc, detail)
            res.check('Call established' in out, 'baresip established the call over TLS', detail)
            res.check('SRTP is Enabled' in out, 'baresip turned SRTP on', detail)
            # logged on the first packet that passed baresip's SRTP
            # authentication: our sipsink's SRTP is right
            res.check("incoming rtp for 'audio' established" in out,
                      'baresip received (decrypted) RTP from the agent', detail)
            m = agent.wait_state('answered', timeout=3)
            res.check(m is not None and m.get('srtp') == 'AES_CM_128_HMAC_SHA1_80',
                      'agent answered with SRTP AES_CM_128_HMAC_SHA1_80 (got %s)' % m,
                      agent.output())
            m = agent.wait_state('ended', timeout=5)
            res.check(m is not None and m.get('reason') == 'remote-hangup',
                      'baresip hung up over TLS: ended, remote-hangup (got %s)' % m,
                      agent.output() + '\n' + detail)
            # SRTCP both ways: baresip's reports pass our unprotect, and it
            # answered our (protected) sender report: the round trip
            m = m or {}
            num = lambda k: float(m.get(k, -1))  # noqa: E731 (printed as text)
            res.check(num('rtcp-received') >= 1 and num('round-trip-ms') >= 0,
                      'SRTCP both ways: %s reports from baresip, round trip %s ms'
                      % (m.get('rtcp-received'), m.get('round-trip-ms')), agent.output())

        # --- the wire
        ours, theirs = cap.tcp_bytes(), cap.tcp_bytes_to()
        st.log('  TLS port %d: %d bytes in, %d out' % (tls_port, len(theirs), len(ours)))
        res.check(len(ours) > 1000 and len(theirs) > 1000,
                  'SIP went over the TLS port (%d bytes in, %d out)' % (len(theirs), len(ours)))
        # a TLS handshake record (0x16, version 3.x) opens both directions
        res.check(theirs[:2] == b'\x16\x03' and ours[:2] == b'\x16\x03',
                  'both directions start with a TLS handshake record')
        wire = ours + theirs
        res.check(b'INVITE sip:' not in wire and b'SIP/2.0' not in wire and
                  b'a=crypto' not in wire, 'no plain SIP (nor SDES keys) on the TLS port')

        with open(rx, 'rb') as f:
            plain = f.read()
        chunks = {plain[i:i + 160] for i in range(0, len(plain) - 159, 160)}
        # the wav is a 440 Hz tone: a handful of distinct 20 ms packets, but
        # many distinct sample values (not silence, not noise)
        res.check(len(plain) >= MIN_PACKETS * 160 and len(set(plain)) > 32,
                  'sipsrc decrypted baresip\'s audio (%d bytes of PCMU, %d distinct '
                  'values)' % (len(plain), len(set(plain))))
        expected = wav_as_pcmu(wav)
        if expected is not None:
            res.check(plain[1600:3200] in expected,
                      'the decrypted audio is baresip\'s wav, in PCMU')
        rtp = [(s, d, p) for s, d, p in cap.udp() if len(p) >= 12 and p[1] & 0x7f in (0, 101)
               and (p[0] >> 6) == 2]
        to_agent = [p for s, d, p in rtp if agent.rtp_min <= d <= agent.rtp_max]
        from_agent = [p for s, d, p in rtp if agent.rtp_min <= s <= agent.rtp_max]
        st.log('  SRTP baresip->agent: %d packets, agent->baresip: %d packets'
               % (len(to_agent), len(from_agent)))
        res.check(len(to_agent) >= MIN_PACKETS and len(from_agent) >= MIN_PACKETS,
                  'RTP both ways (%d, %d >= %d packets)'
                  % (len(to_agent), len(from_agent), MIN_PACKETS))
        audio = [p for p in to_agent + from_agent if p[1] & 0x7f == 0]
        lengths = sorted({len(p) for p in audio})
        res.check(lengths == [12 + 160 + SRTP_TAG_80],
                  'every PCMU packet carries the 10-byte SRTP tag (lengths %s)' % lengths)
        leaked = [p for p in audio if p[12:172] in chunks]
        res.check(not leaked, 'no packet on the wire carries plaintext audio (%d did)'
                  % len(leaked))
    finally:
        if cap:
            cap.cleanup()


SERVER_CONFIG = """\
[server]
listen = 127.0.0.1:{port}
records = {records}
rtp-port-min = {rtp_min}
rtp-port-max = {rtp_max}
launch = sipsrc ! rtppcmudepay ! rtppcmupay ! sipsink
tls-port = %(tls_port)d
tls-dir = %(tls_dir)s
# no SRTP by default; the trunk of the phones (127.0.0.1) requires it
srtp = off
default-office = main

[trunk phones]
allow = 127.0.0.1
srtp = required

[office main]
did = +19195550100
"""


def server_call(res, tmp, tls, cafile, mods):
    """The gst-sip-agent server with [server] tls-port/tls-dir and a trunk
    whose srtp (required) overrides the server's (off): baresip's TLS +
    SRTP call is answered with SRTP."""
    if not os.access(servertest.SERVER, os.X_OK):
        res.note_skip('gst-sip-agent server not built')
        return
    tls_port = st.free_port('tcp')
    rtp_min, rtp_max = st.free_rtp_range(10)
    bs = os.path.join(tmp, 'baresip-server')
    os.mkdir(bs)
    st.write_baresip_config(bs, mods, st.free_port('both'), os.path.join(tmp, 'in.wav'),
                            (rtp_min, rtp_max), cafile=cafile, extra_modules=('srtp.so',))
    with open(os.path.join(bs, 'accounts'), 'w') as f:
        f.write(ACCOUNTS)
    config = SERVER_CONFIG % {'tls_port': tls_port, 'tls_dir': tls}
    with servertest.Server(config) as server:
        res.check('TLS on port %d' % tls_port in server.output(),
                  'the server says it listens for TLS', server.output())
        cmd = ['baresip', '-4', '-f', bs, '-e',
               '/dial sip:+19195550100@127.0.0.1:%d;transport=tls' % tls_port, '-t', '5']
        st.log('  baresip: ' + ' '.join(cmd))
        p = subprocess.run(cmd, cwd=bs, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=40)
        out = p.stdout.decode('utf-8', 'replace')
        res.check('Call established' in out and
                  "incoming rtp for 'audio' established" in out,
                  'server: baresip\'s TLS call is answered with SRTP (the trunk\'s srtp '
                  'overrides the server\'s off)', out + '\n' + server.output())


def sipp_checks(res):
    # srtp=required: a plain offer gets 488
    with st.Agent(codec='PCMU', props={'srtp': 'required'}) as agent:
        r = st.run_sipp('uac_488_avp.xml', agent.host, agent.port)
        res.check(r.rc == 0, 'srtp=required: RTP/AVP offer gets 488', st.sipp_report(r))
    # srtp=optional: SAVP answered SAVP with our key on the first usable tag
    with st.Agent(codec='PCMU', props={'srtp': 'optional'}) as agent:
        r = st.run_sipp('uac_savp.xml', agent.host, agent.port)
        res.check(r.rc == 0, 'srtp=optional: RTP/SAVP offer answered 200', st.sipp_report(r))
        sdp = answer_sdp(r)
        m = re.search(r'^m=audio \d+ (\S+) ([\d ]+)$', sdp, re.M)
        res.check(m is not None and m.group(1) == 'RTP/SAVP' and m.group(2).split()[0] == '0',
                  'answer is RTP/SAVP with PCMU', sdp)
        cryptos = re.findall(r'^a=crypto:(\d+) (\S+) inline:([A-Za-z0-9+/=]+)\s*$', sdp, re.M)
        ok = (len(cryptos) == 1 and cryptos[0][0] == '3' and
              cryptos[0][1] == 'AES_CM_128_HMAC_SHA1_32' and
              len(base64.b64decode(cryptos[0][2])) == 30 and
              cryptos[0][2] != 'NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj')
        res.check(ok, 'one a=crypto: tag 3, AES_CM_128_HMAC_SHA1_32, our own 30-byte key', sdp)
        m = agent.wait_state('answered', timeout=3)
        res.check(m is not None and m.get('srtp') == 'AES_CM_128_HMAC_SHA1_32',
                  'agent posted answered with srtp AES_CM_128_HMAC_SHA1_32 (got %s)' % m)
        r = st.run_sipp('uac_echo_short.xml', agent.host, agent.port,
                        keys={'codec_pt': 0, 'codec_name': 'PCMU'})
        sdp = answer_sdp(r)
        res.check(r.rc == 0 and re.search(r'^m=audio \d+ RTP/AVP 0', sdp, re.M) and
                  'a=crypto' not in sdp, 'srtp=optional: RTP/AVP offer answered plain', sdp)
    # srtp=off: an SRTP-only offer gets 488
    with st.Agent(codec='PCMU', props={'srtp': 'off'}) as agent:
        r = st.run_sipp('uac_savp.xml', agent.host, agent.port)
        res.check(r.rc != 0 and 488 in st.sipp_statuses(r),
                  'srtp=off: RTP/SAVP offer gets 488 (statuses %s)' % st.sipp_statuses(r))


def main():
    st.require('baresip')
    st.require('tshark')
    st.require('sipp')
    st.require('openssl')
    st.require_root('tshark captures on lo')
    mods = st.baresip_modules('srtp.so')
    if not mods:
        st.skip('baresip modules g711/aufile/aubridge/account/menu/srtp not found')
    st.require_elements('sipbin', 'sipsrc', 'sipsink', 'rtppcmudepay', 'rtppcmupay')
    if not st.fake_agent():
        with tempfile.TemporaryDirectory() as reg:
            out = subprocess.run(['gst-inspect-1.0', 'sipsrc'],
                                 env=st.gst_env(os.path.join(reg, 'reg.bin')),
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
        if b'srtp-key' not in out:
            st.skip('sipsrc was built without SRTP (meson option srtp, libsrtp2-dev)')

    res = st.Results('test_tls')
    tmp = tempfile.mkdtemp(prefix='siptest-tls-')
    try:
        tls, cafile = st.make_certificates(tmp)
        baresip_call(res, tmp, tls, cafile, mods)
        server_call(res, tmp, tls, cafile, mods)
        sipp_checks(res)
    except (RuntimeError, subprocess.CalledProcessError) as e:
        res.check(False, str(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.exit()


if __name__ == '__main__':
    main()
