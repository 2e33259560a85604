#!/usr/bin/env python3
"""One phone line, two languages: the gst-sip-agent server on
examples/lawfirm.conf as it ships, called at the Cary office's number
(examples/intake-lawfirm-bilingual.ini).

The caller (SIPp) says nothing and keys everything as RFC 4733 events,
timed against the prompts: 2 after "Para español, oprima dos", 1 (an
accident) while the Spanish menu plays, the phone number and #, 1 (the
number is right), 2 (call me back). The agent then says goodbye in Spanish
and hangs up. From the call record: the agent turns after the key are the
script's Spanish prompts (and no English one), the intake holds the keyed
number, language=es and the reason, and the call ended with the agent's
hangup; from the server's log: ttsbridge opened espeak-ng's es voice.
"""

import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siptest as st  # noqa: E402
import servertest as sv  # noqa: E402

CONFIG = os.path.join(st.SRC_ROOT, 'examples', 'lawfirm.conf')
CARY = '+19195550400'
NUMBER = '9195551234'

# When each key is pressed, in seconds from the caller's first packet (the
# agent greets when the call's media starts). Measured on the prompts
# (flite rms for the English greeting, espeak-ng es at 175 words a minute):
# the recording notice, which cannot be interrupted, ends at about 7.6 s
# and "Para español, oprima dos" at about 9.3 s; silence 3 s after that
# keeps English, so 2 is pressed in the middle of that window. Every later
# key comes while or up to 2 s after its prompt plays (a key interrupts a
# Spanish prompt: barge-in), well before the 6 s no-input timeout.
KEYS = [
    (10.0, '2'),
    (15.0, '1'),        # after "Si llama por un accidente, oprima 1."
] + [(23.0 + 0.4 * i, d) for i, d in enumerate(NUMBER + '#')] + [
    (34.5, '1'),        # "Marcó el 9 1 9 ... Si es correcto, oprima 1."
    (42.0, '2'),        # "... que un abogado le devuelva la llamada, oprima 2."
]
TAIL = 15.0             # silence after the last key: the goodbye, the BYE

SPANISH = [
    'Gracias por llamar.',
    'Si llama por un accidente, oprima 1.',
    'Lamentamos mucho lo de su accidente.',
    'Por favor, marque el número de teléfono al que podemos llamarle, '
    'seguido de la tecla numeral.',
    'Marcó el 9 1 9 5 5 5 1 2 3 4.',
    'Si es correcto, oprima 1.',
    'Para hablar ahora con un abogado, oprima 1.',
    'Gracias.',
    'Un abogado le devolverá la llamada al 9 1 9 5 5 5 1 2 3 4 lo antes posible.',
    'Adiós.',
]
ENGLISH = ['Are you calling', 'May I have', 'Sorry', 'phone number', 'Thank you.',
           'One moment', 'Goodbye']

PT_PCMU, PT_EVENT = 0, 101
PTIME = 0.020
DIGITS = '0123456789*#'


def _frame(rtp, i):
    udp = struct.pack('!HHHH', 40000, 50000, 8 + len(rtp), 0) + rtp
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), i & 0xffff, 0, 64, 17, 0,
                     socket.inet_aton('127.0.0.1'), socket.inet_aton('127.0.0.1'))
    ip = ip[:10] + struct.pack('!H', st._ip_checksum(ip)) + ip[12:]
    return b'\x00' * 12 + b'\x08\x00' + ip + udp


def dtmf_pcap(path, keys, tail, press=0.16):
    """A caller who keys and says nothing: PCMU silence every 20 ms, and for
    each (time, key) RFC 4733 telephone-events instead of audio for `press`
    seconds (one timestamp per key, the duration growing, the marker on the
    first packet, the end packet three times), one SSRC and one sequence
    number space, as phones send them."""
    events = {}
    for t, key in keys:
        first = int(round(t / PTIME))
        n = int(round(press / PTIME))
        for j in range(n + 3):
            events[first + j] = (DIGITS.index(key), first, min(j + 1, n), j >= n)
    total = int(round((keys[-1][0] + tail) / PTIME))
    with open(path, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i in range(total):
            if i in events:
                event, start, units, end = events[i]
                payload = struct.pack('!BBH', event, (0x80 if end else 0) | 10, units * 160)
                hdr = struct.pack('!BBHII', 0x80, (0x80 if i == start else 0) | PT_EVENT,
                                  (1000 + i) & 0xffff, (start * 160) & 0xffffffff, 0x5195e57)
            else:
                payload = b'\xff' * 160    # PCMU silence
                hdr = struct.pack('!BBHII', 0x80, (0x80 if i == 0 else 0) | PT_PCMU,
                                  (1000 + i) & 0xffff, (i * 160) & 0xffffffff, 0x5195e57)
            frame = _frame(hdr + payload, i)
            usec = i * 20000
            f.write(struct.pack('<IIII', usec // 1000000, usec % 1000000, len(frame), len(frame)))
            f.write(frame)
    return total * PTIME


def main():
    st.require('sipp')
    st.require_root('SIPp plays RTP through a raw socket')
    sv.require_server()
    res = st.Results('test_bilingual')
    # ttsbridge says which voices it opens (on top of whatever is asked for)
    os.environ['GST_DEBUG'] = os.environ.get('GST_DEBUG', '*:2,sip*:4') + ',ttsbridge:4'
    with sv.Server(config_path=CONFIG, args=['--no-trunks']) as server:
        pcap = os.path.join(server.tmp, 'keys.pcap')
        seconds = dtmf_pcap(pcap, KEYS, TAIL)
        call = st.Sipp('uac_talk_wait_bye.xml', server.host, server.port, service=CARY,
                       keys={'codec_pt': PT_PCMU, 'codec_name': 'PCMU', 'pcap': pcap},
                       timeout=int(seconds) + 30).start()
        r = call.wait()
        res.check(r.rc == 0, 'the call: answered, the agent hung up (sipp exit 0)',
                  st.sipp_report(r))
        rec = server.wait_record(lambda x: x.get('complete') and x.get('office') == 'cary',
                                 timeout=10)
        if not res.check(rec is not None, 'a complete record of the Cary office',
                         repr(server.records_now())[:2000]):
            server.dump('no record')
            res.exit()
        agent = [t for t in rec['turns'] if t['role'] == 'agent']
        texts = [t['text'] for t in agent]
        st.log('  agent turns:\n' + st.indent('\n'.join(
            '%6.2f-%6.2f %s%s' % (t['start'], t['end'], t['text'],
                                   ' (interrupted)' if t.get('interrupted') else '')
            for t in agent)))
        offer = [i for i, t in enumerate(texts) if 'Para español, oprima dos.' in t]
        res.check(len(offer) == 1 and 'This call is recorded' in ' '.join(texts[:offer[0] + 1]),
                  'the English greeting, then the Spanish offer', repr(texts))
        after = ' '.join(texts[offer[0] + 1:]) if offer else ''
        pos, missing = 0, []
        for sentence in SPANISH:
            found = after.find(sentence, pos)
            if found < 0:
                missing.append(sentence)
            else:
                pos = found + len(sentence)
        res.check(after and not missing,
                  'after the key, the Spanish prompts in order', 'missing %r in %r' %
                  (missing, after))
        res.check(after and not any(e in after for e in ENGLISH),
                  'and nothing in English', after)
        intake = rec.get('intake', {})
        res.check(intake.get('phone') == NUMBER, 'the intake has the keyed number',
                  repr(intake))
        res.check(intake.get('language') == 'es' and intake.get('reason') == 'accident',
                  'language=es, reason=accident (key 1)', repr(intake))
        res.check(rec.get('intake_complete') is True and rec.get('end_reason') == 'local-hangup'
                  and [(a['type'], a['result']) for a in rec.get('actions', [])] ==
                  [('hangup', 'done')],
                  'the dialog ended with the agent\'s hangup',
                  '%s %s %r' % (rec.get('intake_complete'), rec.get('end_reason'),
                                rec.get('actions')))
        log = server.err.text()
        res.check('opened voice espeak:es' in log and 'backend flite, voice rms' in log,
                  'ttsbridge spoke flite rms and opened espeak:es for the Spanish',
                  '\n'.join(line for line in log.splitlines() if 'ttsbridge' in line)[-3000:])
        if res.failed:
            server.dump('bilingual call')
    res.exit()


if __name__ == '__main__':
    main()
