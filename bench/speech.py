#!/usr/bin/env python3
"""Speech-loop benchmark: writes docs/benchmarks-speech.md.

  T  turn latency on the wire, one call at the issue's launch line (PCMU, the
     embedded defaults, bench/loop-script.ini as the dialog so that it never
     hangs up): caller's speech end in the caller's RTP -> first speech in the
     agent's RTP, for open answers (language model, full hangover H) and
     yes/no answers (grammar, hint-hangover); O = T - H; the in-process part
     from the elements' own messages
  B  barge-in: the caller starts talking while the agent speaks; caller's
     speech onset -> the agent's last speech packet on the wire
  V  voice activity detectors on phone audio: pocketsphinx's (sttbridge) and
     webrtcdsp's, where each ends speech and how often it breaks a sentence
  R  real-time factors: sttbridge (pocketsphinx) decoding as fast as it can,
     flite and espeak-ng synthesis (their command line tools)
  C  whole-loop calls held by one gst-sip-agent server, with a hints-only and a
     language-model-only dialog: CPU, memory, set-up time, turn latency and RTP
     send jitter per level, up to the first level past the limits

Usage, as root from the repository root with a built tree in build/:
  python3 bench/speech.py                  # everything (~12 min)
  python3 bench/speech.py --only T,B       # some parts (others are not kept)
  python3 bench/speech.py --turns 8 --levels hints:2,lm:2 --out /tmp/speech.md   # quick
"""

import argparse
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, 'tests', 'check', 'integration'))
import siptest as st  # noqa: E402
import speechtest as sp  # noqa: E402
import run as benchrun  # noqa: E402  (bench/run.py: its /proc readers)

SCRIPT = os.path.join(HERE, 'loop-script.ini')
BARGE_IN_SCRIPT = os.path.join(HERE, 'bargein-script.ini')
LOOP = sp.loop_launch('PCMU', 'agent script=' + SCRIPT)
OPEN_TURNS = [
    'I was in a car accident yesterday',
    'I slipped and fell at the grocery store',
    'my landlord will not return my deposit',
    'I need help with a contract for my business',
    'my employer did not pay my overtime',
    'I was hurt at work last week',
]
CLOSED_TURNS = ['yes', 'no']
HANGOVER_MS = 500          # sttbridge's default
HINT_HANGOVER_MS = 200
CLK_TCK = os.sysconf('SC_CLK_TCK')


def log(*a):
    print(*a, flush=True)


def caller_turns(n):
    out = []
    for i in range(n):
        out.append(OPEN_TURNS[(i // 2) % len(OPEN_TURNS)] if i % 2 == 0 else CLOSED_TURNS[(i // 2) % 2])
    return out


def fmt_ms(v):
    return '%.0f' % (v * 1000) if v is not None else '-'


# ------------------------------------------------------------------ T and B

def one_call(turns, pause, first_wait, loop=LOOP):
    """Place one call at the launch line; returns (turn spans with wire times,
    agent packet times and levels, agent's bus messages)."""
    pt = 0
    tmp = tempfile.mkdtemp(prefix='bench-speech-')
    cap = None
    try:
        pcm, spans = sp.caller_timeline(turns, rate=8000, first_wait=first_wait, pause=pause)
        payload = sp.encode(pcm, 'PCMU')
        pcap = os.path.join(tmp, 'caller.pcap')
        st.make_rtp_pcap(pcap, pt, payload=payload, payload_size=sp.PAYLOAD_SIZE)
        seconds = len(payload) / sp.PAYLOAD_SIZE * sp.PACKET_MS / 1000.0
        with st.Agent(codec='PCMU', inner=loop.split()) as agent:
            media_port = st.free_rtp_range(4)[0]
            cap = st.Capture([media_port])
            cap.start()
            r = st.run_sipp('uac_echo.xml', agent.host, agent.port, media_port=media_port,
                            keys={'codec_pt': pt, 'codec_name': 'PCMU', 'pcap': pcap},
                            sets={'pause_ms': int(seconds * 1000) + 1000}, timeout=seconds + 60)
            cap.stop()
            if r.rc != 0:
                raise RuntimeError('call failed: ' + st.sipp_report(r))
            msgs = {name: agent.element_messages(name)
                    for name in ('transcript', 'tts-started', 'speech-started')}
        pkts = cap.rtp_timed(media_port)
        caller = [p for p in pkts if p[1] == media_port and p[3] == pt]
        answer = [p for p in pkts if p[2] == media_port]
        seq_time = {p[4]: p[0] for p in caller}
        span_times = [(seq_time.get((1000 + a) & 0xffff), seq_time.get((1000 + b) & 0xffff))
                      for a, b in spans]
        levels = sp.packet_levels([p[5] for p in answer], 'PCMU')
        return span_times, [p[0] for p in answer], levels, msgs
    finally:
        if cap:
            cap.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def in_process_delays(msgs):
    """Running-time delays inside the agent process: caller speech end (final
    transcript end-time) -> first audio of the reply leaving ttsbridge."""
    finals = [m for m in msgs['transcript'] if m.get('final')]
    starts = sorted(int(m['running-time']) for m in msgs['tts-started'] if 'running-time' in m)
    out = []
    for f in finals:
        end = int(f.get('end-time', 0))
        nxt = [s for s in starts if s > end]
        if nxt:
            out.append((nxt[0] - end) / 1e9)
    return out


def part_t(n_turns):
    turns = caller_turns(n_turns)
    log('T: one call, %d caller turns' % len(turns))
    spans, times, levels, msgs = one_call(turns, pause=6.0, first_wait=5.0)
    onsets = sp.speech_onsets(times, levels)
    ends = [b for _a, b in spans]
    lat = sp.turn_latencies([e for e in ends if e is not None], onsets, limit=5.0)
    rows = list(zip(turns, lat))
    open_t = [t for text, t in rows if text not in CLOSED_TURNS and t is not None]
    closed_t = [t for text, t in rows if text in CLOSED_TURNS and t is not None]
    inproc = in_process_delays(msgs)
    finals = [m for m in msgs['transcript'] if m.get('final')]
    return {'turns': len(turns), 'answered': sum(1 for t in lat if t is not None),
            'open': open_t, 'closed': closed_t, 'inproc': inproc,
            'heard': [(m.get('text'), float(m.get('confidence', 0))) for m in finals],
            'rows': rows}


def part_b(n_turns):
    """Caller turns start 1.0 s after the previous one ended: the agent's reply
    (~0.6 s later, a prompt of about 10 s: bench/bargein-script.ini) is
    playing, so each turn barges in."""
    turns = [OPEN_TURNS[i % len(OPEN_TURNS)] for i in range(n_turns)]
    log('B: one call, %d barge-in turns' % len(turns))
    spans, times, levels, msgs = one_call(turns, pause=1.0, first_wait=3.0,
                                          loop=sp.loop_launch('PCMU', 'agent script=' + BARGE_IN_SCRIPT))
    out, held = [], 0
    for start, end in spans[1:]:
        if start is None or end is None:
            continue
        # was the agent talking when the caller started?
        before = [lv for t, lv in zip(times, levels) if start - 0.2 <= t < start]
        if not before or max(before) < sp.SPEECH_RMS:
            continue
        # the agent's last speech packet while the caller still talks; if it
        # never went quiet before the caller finished, it did not yield
        talking = [t for t, lv in zip(times, levels) if start <= t <= end and lv >= sp.SPEECH_RMS]
        last = talking[-1] if talking else start
        if last >= end - 0.1:
            held += 1
            continue
        out.append(last - start)
    return {'turns': len(turns), 'barge_ins': out, 'held': held}


# ------------------------------------------------------------------ V

def detector_runs(wav, chain, msg, field, on_value, env):
    """[(time s, voice on?)] transitions a detector posts on a file."""
    r = subprocess.run(['gst-launch-1.0', '-m', 'filesrc', 'location=' + wav, '!', 'wavparse', '!',
                        'mulawenc', '!', 'mulawdec', '!'] + chain.split() + ['!', 'fakesink'],
                       env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, timeout=300)
    out = []
    for line in r.stdout.decode().splitlines():
        m = st._GST_ANY_MSG.search(line)
        if not m or m.group(2) not in msg:
            continue
        f = st.parse_structure_fields(m.group(3))
        if m.group(2) == msg[0] and len(msg) == 1:
            out.append((int(f[field]) / 1e9, f.get('stream-has-voice') == on_value))
        else:
            out.append((int(f[field]) / 1e9, m.group(2) == msg[0]))
    return out


def part_v():
    """The two voice activity detectors on the same phone-band turns: where each
    puts the end of speech, how often it goes quiet inside a sentence (a
    hangover must outlast those gaps), and what it hears in the silence."""
    log('V: voice activity detectors')
    import wave
    tmp = tempfile.mkdtemp(prefix='bench-vad-')
    env = st.gst_env(os.path.join(tmp, 'registry.bin'))
    try:
        pcm, spans = sp.caller_timeline(OPEN_TURNS * 2, rate=8000, first_wait=2.0, pause=3.0)
        wav = os.path.join(tmp, 'turns.wav')
        with wave.open(wav, 'wb') as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(pcm)
        turns = [(a * 0.02, (b + 1) * 0.02) for a, b in spans]
        detectors = {
            'pocketsphinx (sttbridge)': detector_runs(
                wav, 'sttbridge', ('speech-started', 'speech-stopped'), 'running-time', True, env),
            'webrtcdsp (likelihood low)': detector_runs(
                wav, 'webrtcdsp echo-cancel=false noise-suppression=false gain-control=false '
                'high-pass-filter=false voice-detection=true', ('voice-activity',), 'stream-time',
                True, env),
            'webrtcdsp (likelihood very-low)': detector_runs(
                wav, 'webrtcdsp echo-cancel=false noise-suppression=false gain-control=false '
                'high-pass-filter=false voice-detection=true voice-detection-likelihood=very-low',
                ('voice-activity',), 'stream-time', True, env),
        }
        res = []
        for name, runs in detectors.items():
            end_err, gaps, false_on, missed = [], [], 0, 0
            for t, on in runs:
                if on and not any(a - 0.3 <= t <= b for a, b in turns):
                    false_on += 1
            for a, b in turns:
                inside = [(t, on) for t, on in runs if a - 0.3 <= t <= b + 1.5]
                offs = [t for t, on in inside if not on]
                if not any(on for _t, on in inside) or not offs:
                    missed += 1
                    continue
                end_err.append(offs[-1] - b)
                # quiet stretches inside the sentence
                for (t1, on1), (t2, on2) in zip(inside, inside[1:]):
                    if not on1 and on2 and t2 <= b:
                        gaps.append(t2 - t1)
            res.append({'name': name, 'turns': len(turns), 'missed': missed,
                        'end_p50': sp.percentile(end_err, 50), 'end_max': max(end_err) if end_err else None,
                        'gaps': len(gaps), 'gap_max': max(gaps) if gaps else 0.0,
                        'false_on': false_on})
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------ R

def cpu_of(cmd, env=None):
    """User+system CPU seconds of a command (children included)."""
    t0 = os.times()
    r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=600)
    t1 = os.times()
    if r.returncode != 0:
        raise RuntimeError('%s failed: %s' % (' '.join(cmd[:3]), r.stderr.decode()[-500:]))
    return (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)


def part_r():
    log('R: real-time factors')
    tmp = tempfile.mkdtemp(prefix='bench-rtf-')
    env = st.gst_env(os.path.join(tmp, 'registry.bin'))
    try:
        turns = (OPEN_TURNS * 2)
        pcm, _spans = sp.caller_timeline(turns, rate=8000, first_wait=0.5, pause=1.0, tail=0.5)
        raw = os.path.join(tmp, 'caller.raw')
        with open(raw, 'wb') as f:
            f.write(pcm)
        audio_s = len(pcm) / 2 / 8000.0
        empty = os.path.join(tmp, 'empty.raw')
        with open(empty, 'wb') as f:
            f.write(b'\0' * 1600)

        def stt(path):
            return cpu_of(['gst-launch-1.0', '-q', 'filesrc', 'location=' + path, '!',
                           'rawaudioparse', 'format=pcm', 'pcm-format=s16le', 'sample-rate=8000',
                           'num-channels=1', '!', 'sttbridge', '!', 'fakesink'], env)
        stt(empty)   # registry
        base = min(stt(empty) for _ in range(2))
        full = min(stt(raw) for _ in range(2))
        res = {'stt_audio_s': audio_s, 'stt_load_cpu': base, 'stt_cpu': full - base,
               'stt_rtf': (full - base) / audio_s}
        text = ' '.join(OPEN_TURNS)
        wav = os.path.join(tmp, 'tts.wav')
        for name, cmd in (('flite kal', ['flite', '-voice', 'kal', '-t', text, '-o', wav]),
                          ('flite slt', ['flite', '-voice', 'slt', '-t', text, '-o', wav]),
                          ('espeak-ng en-us', ['espeak-ng', '-v', 'en-us', '-w', wav, text])):
            cpu = min(cpu_of(cmd) for _ in range(3))
            import wave
            with wave.open(wav) as w:
                dur = w.getnframes() / float(w.getframerate())
            res.setdefault('tts', []).append((name, cpu, dur, cpu / dur))
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------ C

SERVER = os.path.join(st.BUILD_DIR, 'tools', 'gst-sip-agent')
DIALOGS = {
    # name: (script, caller turns, what limits the level)
    'hints': (os.path.join(HERE, 'hints-script.ini'), lambda n: [CLOSED_TURNS[i % 2] for i in range(n)]),
    'lm': (os.path.join(HERE, 'lm-script.ini'), lambda n: [OPEN_TURNS[i % len(OPEN_TURNS)] for i in range(n)]),
}
LIMIT_T_P95 = 1.5      # s, turn latency on the wire
LIMIT_JITTER_P99 = 2.0  # ms, agent's RTP send jitter
SERVER_CONF = """[server]
listen = 127.0.0.1:%(port)d
records = %(records)s
max-calls = 200
rtp-port-min = %(rtp_min)d
rtp-port-max = %(rtp_max)d
%(extra)s
[office bench]
did = +19195550100
script = %(script)s
"""


def proc_cpu(pid):
    return benchrun.proc_cpu_ticks(pid) / CLK_TCK


def part_c(levels, n_turns, rate, preload=None):
    """levels: {'hints': [n, ...], 'lm': [n, ...]}. A dialog's levels stop
    after the first one past a limit."""
    res = []
    for dialog, ns in levels.items():
        for n in ns:
            log('C: %d concurrent whole-loop calls, %s, placed at %s/s' % (n, dialog, rate or n))
            x = concurrent(n, n_turns, dialog, rate,
                           n if preload == 'calls' else int(preload or 0))
            res.append(x)
            if not x['within']:
                break
    return res


def send_jitter_ms(pkts):
    """|inter-departure time - 20 ms| of one stream, in ms"""
    out = []
    for a, b in zip(pkts, pkts[1:]):
        out.append(abs((b[0] - a[0]) * 1000.0 - sp.PACKET_MS))
    return out


def concurrent(n, n_turns, dialog, rate=None, preload=0):
    import json
    tmp = tempfile.mkdtemp(prefix='bench-conc-')
    server = cap = None
    script, turns_of = DIALOGS[dialog]
    try:
        turns = turns_of(n_turns)
        pcm, spans = sp.caller_timeline(turns, rate=8000, first_wait=5.0, pause=6.0)
        payload = sp.encode(pcm, 'PCMU')
        pcap = os.path.join(tmp, 'caller.pcap')
        st.make_rtp_pcap(pcap, 0, payload=payload, payload_size=sp.PAYLOAD_SIZE)
        seconds = len(payload) / sp.PAYLOAD_SIZE * sp.PACKET_MS / 1000.0
        port = st.free_port('both')
        rtp = (30000, 30999)
        records = os.path.join(tmp, 'records')
        conf = os.path.join(tmp, 'bench.conf')
        with open(conf, 'w') as f:
            # with stt-preload the server loads the decoders before it
            # answers OPTIONS
            f.write(SERVER_CONF % {'port': port, 'records': records, 'rtp_min': rtp[0],
                                   'rtp_max': rtp[1], 'script': script,
                                   'extra': 'stt-preload = %d\n' % preload if preload else ''})
        server = subprocess.Popen(
            [SERVER, '--config', conf], env=st.gst_env(os.path.join(tmp, 'registry.bin')),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + 20 + 0.5 * preload
        while st.send_sip('127.0.0.1', port, 'OPTIONS', timeout=0.3) is None:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError('gst-sip-agent did not start')
        idle_rss = benchrun.proc_rss_kb(server.pid)
        # SIPp's media ports must be outside the agent's range, where the
        # capture tells the two directions apart by port
        media = st.free_rtp_range(4, start=40000)[0]
        cap = st.Capture([rtp])
        cap.start()
        cpu0, t0 = proc_cpu(server.pid), time.monotonic()
        peak = idle_rss
        sipp = st.Sipp('uac_echo.xml', '127.0.0.1', port, calls=n, limit=n, rate=rate or n,
                       media_port=media, service='+19195550100',
                       keys={'codec_pt': 0, 'codec_name': 'PCMU', 'pcap': pcap},
                       sets={'pause_ms': int(seconds * 1000) + 1000}, timeout=seconds + 90).start()
        while sipp.proc.poll() is None:
            peak = max(peak, benchrun.proc_rss_kb(server.pid))
            time.sleep(0.5)
        r = sipp.wait()
        cpu1, t1 = proc_cpu(server.pid), time.monotonic()
        cap.stop()
        pkts = cap.rtp_timed(rtp)
        inside = lambda p: rtp[0] <= p <= rtp[1]  # noqa: E731
        calls = {}
        for p in pkts:
            if inside(p[1]) and p[3] is not None:      # agent -> caller
                calls.setdefault(p[1], {'out': [], 'in': []})['out'].append(p)
            elif inside(p[2]) and p[3] == 0:           # caller -> agent
                calls.setdefault(p[2], {'out': [], 'in': []})['in'].append(p)
        answered = total = 0
        lat, jitter = [], []
        for c in calls.values():
            if not c['in'] or not c['out']:
                continue
            seq_time = {p[4]: p[0] for p in c['in']}
            ends = [seq_time.get((1000 + b) & 0xffff) for _a, b in spans]
            lv = sp.packet_levels([p[5] for p in c['out']], 'PCMU')
            onsets = sp.speech_onsets([p[0] for p in c['out']], lv)
            tl = sp.turn_latencies([e for e in ends if e is not None], onsets, limit=5.0)
            total += len(spans)
            answered += sum(1 for t in tl if t is not None)
            lat += [t for t in tl if t is not None]
            # while both sides are up: from the caller's first to last packet
            first, last = c['in'][0][0], c['in'][-1][0]
            jitter += send_jitter_ms([p for p in c['out'] if first <= p[0] <= last])
        st.stop_process(server, sig=15, grace=30)
        setup = []
        for path in os.listdir(records):
            with open(os.path.join(records, path)) as f:
                rec = json.load(f)
            if rec.get('answer'):
                a = datetime.datetime.fromisoformat(rec['answer'].replace('Z', '+00:00'))
                i = datetime.datetime.fromisoformat(rec['invite'].replace('Z', '+00:00'))
                setup.append((a - i).total_seconds())
        jitter.sort()
        t_p95 = sp.percentile(lat, 95)
        j_p99 = benchrun.pct(jitter, 99) if jitter else None
        within = (r.rc == 0 and answered == total and t_p95 is not None and t_p95 <= LIMIT_T_P95
                  and j_p99 is not None and j_p99 <= LIMIT_JITTER_P99)
        return {'dialog': dialog, 'calls': n, 'rate': rate or n, 'sipp_rc': r.rc, 'preload': preload,
                'media_streams': len(calls),
                'cpu_per_call': (cpu1 - cpu0) / (t1 - t0) / n * 100.0,
                'rss_per_call_mb': (peak - idle_rss) / 1024.0 / n, 'idle_rss_mb': idle_rss / 1024.0,
                'turns': total, 'answered': answered,
                'lat_p50': sp.percentile(lat, 50), 'lat_p95': t_p95,
                'jitter_p99': j_p99, 'jitter_max': jitter[-1] if jitter else None,
                'setup_p50': sp.percentile(setup, 50), 'setup_p95': sp.percentile(setup, 95),
                'within': within}
    finally:
        if cap:
            cap.cleanup()
        if server:
            st.stop_process(server)
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------ report

def report(res, args):
    L = ['# Speech loop benchmarks', '',
         'Written by `bench/speech.py` (%s UTC, commit %s). Re-run as root from the repository '
         'root: `python3 bench/speech.py` (about 12 minutes). Machine: %d cores, %s, GStreamer %s.'
         % (datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M'), git_rev(), os.cpu_count(),
            platform.platform(), gst_version()), '',
         'The caller is synthesized by flite (voice slt) and played by SIPp as PCMU; the agent is '
         'the issue\'s launch line with the embedded defaults (pocketsphinx, the `script` backend '
         'with `bench/loop-script.ini`, flite kal). Everything is measured on the wire by tshark '
         'on lo, speech detected per 20 ms packet (decoded RMS >= %d after at least %d quiet '
         'packets).' % (sp.SPEECH_RMS, sp.SILENCE_BEFORE_ONSET), '']
    t = res.get('T')
    if t:
        L += ['## T. Turn latency on the wire', '',
              'One call, %d caller turns alternating an open answer (language model; the utterance '
              'ends after H = `hangover` = %d ms of silence) and yes/no (a grammar from the agent\'s '
              'hints; it ends after `hint-hangover` = %d ms once the words complete an expected '
              'answer). T = caller\'s last speech packet -> agent\'s first speech packet. '
              '%d of %d turns answered.' % (t['turns'], HANGOVER_MS, HINT_HANGOVER_MS,
                                           t['answered'], t['turns']), '',
              '| turns | n | T p50 ms | T p95 ms | H ms | O = T - H p50 ms | O p95 ms |',
              '|---|---|---|---|---|---|---|']
        for name, vals, h in (('open answers', t['open'], HANGOVER_MS),
                              ('yes/no answers', t['closed'], HINT_HANGOVER_MS)):
            if vals:
                p50, p95 = sp.percentile(vals, 50), sp.percentile(vals, 95)
                L.append('| %s | %d | %s | %s | %d | %s | %s |' % (
                    name, len(vals), fmt_ms(p50), fmt_ms(p95), h, fmt_ms(p50 - h / 1000.0),
                    fmt_ms(p95 - h / 1000.0)))
        both = t['open'] + t['closed']
        if both:
            L.append('| all turns | %d | %s | %s | | | |' % (
                len(both), fmt_ms(sp.percentile(both, 50)), fmt_ms(sp.percentile(both, 95))))
        if t['inproc']:
            L += ['', 'Inside the process (the elements\' own messages, running time): caller '
                  'speech end (`transcript` end-time) -> first audio of the reply leaving ttsbridge '
                  '(`tts-started`): p50 %s ms, p95 %s ms over %d turns. The rest of T is the wire: '
                  'the payloader and sipsink, and the quiet start of the synthesized speech before '
                  'it crosses the detection level.' % (
                      fmt_ms(sp.percentile(t['inproc'], 50)), fmt_ms(sp.percentile(t['inproc'], 95)),
                      len(t['inproc']))]
        L += ['', '<details><summary>what the agent heard</summary>', '']
        for text, conf in t['heard']:
            L.append('- %r (%.2f)' % (text, conf))
        L += ['', '</details>', '']
    b = res.get('B')
    if b:
        v = b['barge_ins']
        L += ['## B. Barge-in', '',
              'One call, %d caller turns each starting 1.0 s after the previous one ended, i.e. '
              'while the agent\'s reply (a prompt of about 10 s, `bench/bargein-script.ini`) plays. Caller speech onset -> the agent\'s last speech '
              'packet on the wire while the caller still talks (includes `min-barge-in` = 300 ms '
              'of speech before it counts): %d barge-ins, p50 %s ms, p95 %s ms, max %s ms; the '
              'agent talked on to the end of the caller\'s turn %d times.' % (
                  b['turns'], len(v), fmt_ms(sp.percentile(v, 50)), fmt_ms(sp.percentile(v, 95)),
                  fmt_ms(max(v) if v else None), b['held']), '']
    v = res.get('V')
    if v:
        L += ['## V. Voice activity detectors on phone audio', '',
              'The same %d flite sentences through mu-law at 8 kHz, 3 s apart, into each detector. '
              '"End" is where the detector says speech stopped, against the true end of the '
              'sentence (pocketsphinx\'s `speech-stopped` is already back-dated by its post-speech '
              'window; webrtcdsp\'s raw `voice-activity` has none). "Gaps" are the quiet stretches it '
              'reports inside a sentence: a hangover shorter than the longest one cuts callers off '
              'mid-sentence.' % v[0]['turns'], '',
              '| detector | missed | end p50 ms | end max ms | gaps in sentences | longest gap ms | '
              'false starts in silence |', '|---|---|---|---|---|---|---|']
        for x in v:
            L.append('| %s | %d | %s | %s | %d | %s | %d |' % (
                x['name'], x['missed'], fmt_ms(x['end_p50']), fmt_ms(x['end_max']), x['gaps'],
                fmt_ms(x['gap_max']), x['false_on']))
        L.append('')
    r = res.get('R')
    if r:
        L += ['## R. Real-time factors', '',
              '| engine | CPU s | audio s | RTF |', '|---|---|---|---|',
              '| sttbridge (pocketsphinx, en-us LM, 8 kHz in) | %.2f | %.1f | %.3f |' % (
                  r['stt_cpu'], r['stt_audio_s'], r['stt_rtf'])]
        for name, cpu, dur, rtf in r['tts']:
            L.append('| %s (CLI) | %.2f | %.1f | %.3f |' % (name, cpu, dur, rtf))
        L += ['', 'sttbridge\'s model load (READY) costs %.2f s of CPU per element, not counted '
              'above.' % r['stt_load_cpu'], '']
    c = res.get('C')
    if c:
        L += ['## C. Whole-loop calls in one gst-sip-agent', '',
              'The server (`tools/gst-sip-agent`, one SIP endpoint, one pipeline per call, the '
              'default launch template: the whole speech loop on PCMU) with one office. SIPp '
              'places all calls at once, each a %d-turn caller. Two dialogs: **hints** '
              '(`bench/hints-script.ini`, yes/no questions only: every turn decoded against the '
              'agent\'s hints, a grammar) and **lm** (`bench/lm-script.ini`, open questions only: '
              'every turn through the full en-us language model). A level is within the limits '
              'when every call succeeded, every turn was answered, turn latency T p95 <= %.1f s '
              'and the agent\'s RTP send jitter p99 <= %.0f ms (|inter-departure time - 20 ms| of '
              'every packet while the caller talks); each dialog stops after its first level past '
              'them. Set-up is INVITE -> 200 OK from the call records (the pipeline is built '
              'after 180 Ringing).' % (min(args.turns, 8), LIMIT_T_P95, LIMIT_JITTER_P99),
              '', 'Calls placed per second: all at once (= calls) unless `--rate` spreads them.',
              '', '| dialog | calls | placed per s | CPU per call (% of a core) | RSS per call MB | '
              'turns answered | T p50 ms | T p95 ms | send jitter p99 / max ms | set-up p50 / p95 '
              'ms | SIPp | within limits |', '|---|---|---|---|---|---|---|---|---|---|---|---|']
        for x in c:
            L.append('| %s | %d | %s | %.1f | %.1f | %d/%d | %s | %s | %s / %s | %s / %s | %s | %s |' % (
                x['dialog'], x['calls'], x.get('rate', x['calls']), x['cpu_per_call'],
                x['rss_per_call_mb'], x['answered'],
                x['turns'], fmt_ms(x['lat_p50']), fmt_ms(x['lat_p95']),
                '%.2f' % x['jitter_p99'] if x['jitter_p99'] is not None else '-',
                '%.1f' % x['jitter_max'] if x['jitter_max'] is not None else '-',
                fmt_ms(x['setup_p50']), fmt_ms(x['setup_p95']),
                'ok' if x['sipp_rc'] == 0 else 'rc %d' % x['sipp_rc'],
                'yes' if x['within'] else '**no**'))
        L.append('')
    return '\n'.join(L) + '\n'


def git_rev():
    r = subprocess.run(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    return r.stdout.decode().strip() or 'unknown'


def gst_version():
    r = subprocess.run(['gst-launch-1.0', '--version'], stdout=subprocess.PIPE)
    m = re.search(r'GStreamer (\S+)', r.stdout.decode())
    return m.group(1) if m else '?'


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument('--only', default='T,B,V,R,C')
    ap.add_argument('--turns', type=int, default=24)
    ap.add_argument('--levels', default='hints:10,20,30,40,lm:5,10,15,20',
                    help='part C: DIALOG:N,N,...,DIALOG:N,...')
    ap.add_argument('--rate', type=float, default=None,
                    help='part C: calls placed per second (default: all at once)')
    ap.add_argument('--stt-preload', default=None,
                    help='part C: the server\'s [server] stt-preload (N, or "calls": the level\'s '
                         'number of calls); default: none')
    ap.add_argument('--out', default=os.path.join(ROOT, 'docs', 'benchmarks-speech.md'))
    args = ap.parse_args()
    parts = set(args.only.upper().split(','))
    res = {}
    if 'T' in parts:
        res['T'] = part_t(args.turns)
    if 'B' in parts:
        res['B'] = part_b(max(6, args.turns // 2))
    if 'V' in parts:
        res['V'] = part_v()
    if 'R' in parts:
        res['R'] = part_r()
    if 'C' in parts:
        levels, dialog = {}, None
        for item in args.levels.split(','):
            if ':' in item:
                dialog, item = item.split(':')
            levels.setdefault(dialog, []).append(int(item))
        res['C'] = part_c(levels, min(args.turns, 8), args.rate, args.stt_preload)
    text = report(res, args)
    with open(args.out, 'w') as f:
        f.write(text)
    log(text)
    log('wrote ' + args.out)


if __name__ == '__main__':
    main()
