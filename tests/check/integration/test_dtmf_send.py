#!/usr/bin/env python3
"""The agent presses keys towards a real peer: RFC 4733 events, or tones.

The agent runs the documented speech loop with a script whose first state
does `send-dtmf 1#9` (as it would to reach an extension through an IVR).
SIPp is the far end, playing silence, and tshark captures what the agent
sends.

1. SIPp offers PCMU and telephone-event 101 (uac_echo.xml): the keys must
   go as well-formed RFC 4733 events (section 2.5): payload type 101, the
   audio's SSRC, sequence numbers continuous with the audio's (no gap, no
   repeat over the whole stream), one timestamp per event taken from the
   audio's clock, the marker bit on its first packet only, the duration
   growing packet by packet, and exactly three end packets (E bit) with the
   final duration, events 1, 11 (#), 9 in that order.
2. SIPp offers PCMU only (uac_no_telephone_event.xml): no event packets;
   the agent's audio, decoded and run through spandsp's detector
   (dtmfdetect, an independent check), holds the keys 1, #, 9 in order.
"""

import audioop  # noqa: deprecated in 3.11, still in Debian 12's python3
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402
import speechtest as sp  # noqa: E402

KEYS = [1, 11, 9]
DURATION_MS = 160  # sipsink's default dtmf-duration

SCRIPT = """\
[script]
start = dial

[state dial]
next = send-dtmf 1#9; goto wait

[state wait]
say = Waiting.
intent.bye = goodbye
on.bye = hangup
"""


def rtp_headers(cap, ports, te_pt):
    """[(src port, dst port, pt, seq, ts, ssrc, marker, payload bytes)] of the
    captured RTP on the port range, in capture order."""
    r = subprocess.run(['tshark', '-r', cap.path, '-d', 'udp.port==%d-%d,rtp' % ports,
                        '-o', 'rtpevent.event_payload_type_value:%d' % te_pt,
                        '-Y', 'rtp', '-T', 'fields', '-e', 'udp.srcport', '-e', 'udp.dstport',
                        '-e', 'rtp.p_type', '-e', 'rtp.seq', '-e', 'rtp.timestamp',
                        '-e', 'rtp.ssrc', '-e', 'rtp.marker', '-e', 'rtp.payload',
                        '-e', 'rtpevent.event_id', '-e', 'rtpevent.end_of_event',
                        '-e', 'rtpevent.duration'],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120, check=True)
    out = []
    for line in r.stdout.decode().splitlines():
        f = line.split('\t')
        if len(f) < 11 or not f[2]:
            continue
        marker = f[6] in ('1', 'True', 'true')
        payload = bytes.fromhex(f[7].replace(':', '')) if f[7] else b''
        event = None
        if f[8]:
            event = (int(f[8]), f[9] in ('1', 'True', 'true'), int(f[10]))
        out.append(dict(src=int(f[0]), dst=int(f[1]), pt=int(f[2]), seq=int(f[3]),
                        ts=int(f[4]), ssrc=int(f[5], 16) if f[5].startswith('0x') else int(f[5]),
                        marker=marker, payload=payload, event=event))
    return out


def event_of(p):
    """(event, end, volume, duration) from a telephone-event packet."""
    if p['event'] is not None and not p['payload']:
        return p['event'][0], p['event'][1], None, p['event'][2]
    b = p['payload']
    return b[0], bool(b[1] & 0x80), b[1] & 0x3f, int.from_bytes(b[2:4], 'big')


def run_call(res, scenario, tag, tmp, te):
    script = os.path.join(tmp, 'dial.ini')
    with open(script, 'w') as f:
        f.write(SCRIPT)
    pcap = os.path.join(tmp, 'silence.pcap')
    seconds = 4.0
    st.make_rtp_pcap(pcap, 0, payload=sp.encode(b'\0' * int(seconds * 8000) * 2, 'PCMU'),
                     payload_size=sp.PAYLOAD_SIZE)
    inner = sp.loop_launch('PCMU', agent='agent script=%s' % script).split()
    with st.Agent(codec='PCMU', inner=inner) as agent:
        ports = (agent.rtp_min, agent.rtp_max)
        with st.Capture([ports]) as cap:
            r = st.run_sipp(scenario, agent.host, agent.port,
                            keys={'codec_pt': 0, 'codec_name': 'PCMU', 'pcap': pcap},
                            sets={'pause_ms': int(seconds * 1000) + 500})
        res.check(r.rc == 0, '%s: call succeeded' % tag, st.sipp_report(r))
        m = agent.wait_state('answered', timeout=3)
        res.check(m is not None and m.get('telephone-event-payload') == (101 if te else -1),
                  '%s: answered %s telephone-event (%s)' % (tag, 'with' if te else 'without', m))
        agent.wait_state('ended', timeout=5)
        actions = [a for a in agent.element_messages('agent-action')
                   if a.get('action') == 'send-dtmf']
        res.check([a.get('digits') for a in actions] == ['1#9'],
                  '%s: the agent asked for 1#9 (%s)' % (tag, actions), agent.output())
        local = int(m['local-media'].rsplit(':', 1)[1]) if m else -1
        sent = [p for p in rtp_headers(cap, ports, 101) if p['src'] == local]
        cap.cleanup()
        return sent, agent


def check_rfc4733(res, sent):
    tag = 'RFC 4733'
    res.check(len(sent) > 100, '%s: the agent sent RTP (%d packets)' % (tag, len(sent)))
    if not sent:
        return
    seqs = [p['seq'] for p in sent]
    res.check(all((b - a) % 65536 == 1 for a, b in zip(seqs, seqs[1:])),
              '%s: sequence numbers continuous over audio and events (%d packets)'
              % (tag, len(seqs)),
              'breaks: %s' % [(a, b) for a, b in zip(seqs, seqs[1:]) if (b - a) % 65536 != 1][:10])
    res.check(len({p['ssrc'] for p in sent}) == 1, '%s: one SSRC for audio and events (%s)'
              % (tag, sorted({hex(p['ssrc']) for p in sent})))
    events = []
    for i, p in enumerate(sent):
        if p['pt'] != 101:
            continue
        ev, end, volume, duration = event_of(p)
        if not events or p['ts'] != events[-1]['ts']:
            events.append(dict(ts=p['ts'], event=ev, packets=[], index=i))
        events[-1]['packets'].append((p['marker'], ev, end, duration))
    res.check([e['event'] for e in events] == KEYS, '%s: events %s in order (want %s)'
              % (tag, [e['event'] for e in events], KEYS))
    want_final = DURATION_MS * 8
    for e in events:
        pk = e['packets']
        markers = [m for m, _e, _end, _d in pk]
        ends = [end for _m, _e, end, _d in pk]
        durs = [d for _m, _e, _end, d in pk]
        n_end = sum(ends)
        ok = (markers[0] and not any(markers[1:]) and
              all(ev == e['event'] for _m, ev, _end, _d in pk) and
              n_end == 3 and ends[-3:] == [True] * 3 and not any(ends[:-3]) and
              all(b > a for a, b in zip(durs[:-3], durs[1:-3])) and
              len(set(durs[-3:])) == 1 and durs[-1] >= max(durs[:-3]) and
              durs[-1] >= want_final)
        res.check(ok, '%s: event %d: marker on the first packet only, durations %s, '
                  'three end packets' % (tag, e['event'], durs),
                  'packets (marker, event, end, duration): %s' % pk)
        # the event's timestamp is the audio clock's at its first packet
        i = e['index']
        before = [p for p in sent[:i] if p['pt'] == 0]
        after = [p for p in sent[i:] if p['pt'] == 0]
        if before and after:
            res.check(before[-1]['ts'] < e['ts'] < after[0]['ts'],
                      '%s: event %d timestamp %d lies between the audio around it (%d, %d)'
                      % (tag, e['event'], e['ts'], before[-1]['ts'], after[0]['ts']))


def detected_keys(sent, tmp):
    """Keys spandsp's detector hears in the PCMU payloads."""
    pcm = audioop.ulaw2lin(b''.join(p['payload'] for p in sent if p['pt'] == 0), 2)
    raw = os.path.join(tmp, 'agent.raw')
    with open(raw, 'wb') as f:
        f.write(pcm)
    r = subprocess.run(['gst-launch-1.0', '-m', 'filesrc', 'location=' + raw, '!',
                        'rawaudioparse', 'format=pcm', 'pcm-format=s16le', 'sample-rate=8000',
                        'num-channels=1', '!', 'dtmfdetect', '!', 'fakesink'],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return [int(n) for n in re.findall(r'dtmf-event, .*?number=\(int\)(\d+)', r.stdout.decode())]


def main():
    for tool in ('sipp', 'tshark'):
        st.require(tool)
    st.require_root('SIPp plays RTP through a raw socket and tshark captures on lo')
    st.require_agent()
    if st.fake_agent():
        st.skip('the agent under test sends the keys')
    st.require_elements('sttbridge', 'agent', 'ttsbridge', 'dtmfdetect', 'rawaudioparse')
    res = st.Results('test_dtmf_send')
    tmp = tempfile.mkdtemp(prefix='siptest-send-')
    try:
        sent, _agent = run_call(res, 'uac_echo.xml', 'RFC 4733', tmp, True)
        check_rfc4733(res, sent)

        sent, agent = run_call(res, 'uac_no_telephone_event.xml', 'in-band', tmp, False)
        res.check(sent and all(p['pt'] == 0 for p in sent),
                  'in-band: only PCMU packets (%s)' % sorted({p['pt'] for p in sent}))
        keys = detected_keys(sent, tmp)
        res.check(keys == KEYS, 'in-band: dtmfdetect hears %s in the agent\'s audio (want %s)'
                  % (keys, KEYS), agent.output())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.exit()


if __name__ == '__main__':
    main()
