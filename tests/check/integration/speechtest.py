"""Callers that speak, and what the agent said, measured on the wire.

  loop_launch(codec, agent)      -- the issue's speech loop inside sipbin
  TO_THE_END                     -- caller turns through the default dialog
  synthesize(text, voice, rate)  -- S16LE mono speech from flite (the CLI)
  caller_timeline(turns, ...)    -- one caller's audio: greeting wait, then
                                    each turn followed by a pause; with the
                                    packet span of every turn
  encode(pcm, codec)             -- RTP payload bytes (160 per 20 ms packet)
  packet_levels(payloads, codec) -- RMS of each decoded packet
  speech_onsets(...)             -- where the agent starts talking
  turn_latencies(...)            -- caller's speech end -> agent's speech start

Used by test_conversation.py, test_server.py, examples/server_demo.py and bench/speech.py.
"""

import audioop  # noqa: deprecated in 3.11, still in Debian 12's python3
import os
import subprocess
import tempfile

# The speech loop inside sipbin, per codec; {agent} is the agent
# element with its properties ("agent" alone: the embedded defaults).
LOOPS = {
    'PCMU': 'sipsrc ! rtppcmudepay ! mulawdec ! audioresample ! sttbridge ! {agent} ! '
            'ttsbridge ! audioresample ! mulawenc ! rtppcmupay ! sipsink',
    'G722': 'sipsrc ! rtpg722depay ! avdec_g722 ! audioconvert ! audioresample ! sttbridge ! '
            '{agent} ! ttsbridge ! audioresample ! audioconvert ! avenc_g722 ! rtpg722pay ! sipsink',
}

# A caller who goes through the built-in receptionist dialog to its end:
# reason, name, number, "yes" to the read-back, "no" to leaving a message.
TO_THE_END = [
    'I was in a car accident yesterday',
    'My name is John Smith',
    'five five five one two three four',
    'yes',
    'no',
]


def loop_launch(codec='PCMU', agent='agent'):
    """The speech loop's launch description (the tokens inside sipbin)."""
    return LOOPS[codec].format(agent=agent)


PACKET_MS = 20
PAYLOAD_SIZE = 160          # PCMU/PCMA: 8000 Hz x 20 ms; G.722: 64 kbit/s x 20 ms
SPEECH_RMS = 300            # a decoded packet above this is speech
SILENCE_BEFORE_ONSET = 5    # packets of quiet that must precede an onset


def codec_rate(codec):
    return 16000 if codec == 'G722' else 8000


def _gst(*args):
    r = subprocess.run(['gst-launch-1.0', '-q'] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if r.returncode != 0:
        raise RuntimeError('gst-launch-1.0 %s failed: %s' % (' '.join(args), r.stderr.decode()))


def synthesize(text, voice='slt', rate=8000):
    """Speech for text as S16LE mono bytes at rate, leading and trailing silence cut."""
    with tempfile.TemporaryDirectory(prefix='speech-') as tmp:
        wav = os.path.join(tmp, 'utt.wav')
        raw = os.path.join(tmp, 'utt.raw')
        subprocess.run(['flite', '-voice', voice, '-t', text, '-o', wav], check=True,
                       stdin=subprocess.DEVNULL, timeout=60)
        _gst('filesrc', 'location=' + wav, '!', 'wavparse', '!', 'audioconvert', '!',
             'audioresample', '!', 'audio/x-raw,format=S16LE,channels=1,rate=%d' % rate, '!',
             'filesink', 'location=' + raw)
        with open(raw, 'rb') as f:
            pcm = f.read()
    # flite pads with 150-330 ms of silence: cut it, so that a turn's first and
    # last packets are where its speech starts and ends
    def loud(i):
        return abs(int.from_bytes(pcm[2 * i:2 * i + 2], 'little', signed=True)) >= 100
    end = len(pcm) // 2
    while end > 0 and not loud(end - 1):
        end -= 1
    start = 0
    while start < end and not loud(start):
        start += 1
    return pcm[2 * start:2 * end]


def caller_timeline(turns, rate=8000, voice='slt', first_wait=6.0, pause=7.0, tail=3.0,
                    pauses=None):
    """Audio of a caller who waits first_wait s (the greeting), then says each turn
    followed by `pause` s of silence (or pauses[i] after turn i). Returns (pcm, spans) where spans[i] =
    (first packet, last packet) of turn i's speech, packet index from 0."""
    samples_per_packet = rate * PACKET_MS // 1000
    bytes_per_packet = samples_per_packet * 2

    def silence(seconds):
        return b'\0' * (int(seconds * 1000 / PACKET_MS) * bytes_per_packet)

    pcm = bytearray(silence(first_wait))
    spans = []
    for i, text in enumerate(turns):
        speech = synthesize(text, voice, rate)
        speech += b'\0' * (-len(speech) % bytes_per_packet)
        first = len(pcm) // bytes_per_packet
        pcm += speech
        spans.append((first, len(pcm) // bytes_per_packet - 1))
        pcm += silence(pauses[i] if pauses else pause)
    pcm += silence(tail)
    return bytes(pcm), spans


def encode(pcm, codec):
    """RTP payload bytes for S16LE mono pcm at the codec's rate."""
    if codec == 'PCMU':
        return audioop.lin2ulaw(pcm, 2)
    if codec == 'PCMA':
        return audioop.lin2alaw(pcm, 2)
    if codec == 'G722':
        with tempfile.TemporaryDirectory(prefix='speech-') as tmp:
            raw, out = os.path.join(tmp, 'in.raw'), os.path.join(tmp, 'out.g722')
            with open(raw, 'wb') as f:
                f.write(pcm)
            _gst('filesrc', 'location=' + raw, '!', 'rawaudioparse', 'format=pcm',
                 'pcm-format=s16le', 'sample-rate=16000', 'num-channels=1', '!',
                 'avenc_g722', '!', 'filesink', 'location=' + out)
            with open(out, 'rb') as f:
                return f.read()
    raise ValueError(codec)


def packet_levels(payloads, codec):
    """RMS of each packet's decoded audio (payloads: list of bytes)."""
    if codec in ('PCMU', 'PCMA'):
        dec = audioop.ulaw2lin if codec == 'PCMU' else audioop.alaw2lin
        return [audioop.rms(dec(p, 2), 2) if p else 0 for p in payloads]
    if codec == 'G722':
        # avdec_g722 takes no raw G.722 from filesrc (flow error); through RTP
        # depayloading, as in a call, it decodes.
        from siptest import make_rtp_pcap
        with tempfile.TemporaryDirectory(prefix='speech-') as tmp:
            src, raw = os.path.join(tmp, 'in.pcap'), os.path.join(tmp, 'out.raw')
            make_rtp_pcap(src, 9, payload=b''.join(p.ljust(PAYLOAD_SIZE, b'\0')[:PAYLOAD_SIZE]
                                                    for p in payloads),
                          payload_size=PAYLOAD_SIZE)
            _gst('filesrc', 'location=' + src, '!', 'pcapparse', '!',
                 'application/x-rtp,media=audio,clock-rate=8000,encoding-name=G722,payload=9',
                 '!', 'rtpg722depay', '!', 'avdec_g722', '!', 'audioconvert', '!',
                 'audio/x-raw,format=S16LE', '!', 'filesink', 'location=' + raw)
            with open(raw, 'rb') as f:
                pcm = f.read()
        # G.722 decodes 160 bytes into 320 samples
        out, step = [], 640
        for i in range(len(payloads)):
            chunk = pcm[i * step:(i + 1) * step]
            out.append(audioop.rms(chunk, 2) if chunk else 0)
        return out
    raise ValueError(codec)


def speech_onsets(times, levels, threshold=SPEECH_RMS, quiet=SILENCE_BEFORE_ONSET):
    """Times of packets where speech starts after at least `quiet` quiet packets."""
    onsets, run = [], quiet
    for t, level in zip(times, levels):
        if level >= threshold:
            if run >= quiet:
                onsets.append(t)
            run = 0
        else:
            run += 1
    return onsets


def turn_latencies(turn_ends, onsets, limit=5.0):
    """For each caller speech end time, the delay to the agent's next speech onset
    (None when the agent did not start talking within `limit` s)."""
    out = []
    for end in turn_ends:
        nxt = [o - end for o in onsets if o > end]
        out.append(nxt[0] if nxt and nxt[0] <= limit else None)
    return out


def percentile(values, p):
    v = sorted(values)
    if not v:
        return None
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]
